"""The `fastreactor serve` supervisor: starts the workers, restarts the ones that die, replaces
them on SIGHUP, stops them on SIGTERM/SIGINT, and serves their metrics.

It runs its own small loop on the standard library's `selectors` (not on a fastreactor reactor):
it must stay up when a worker's code or the engine misbehaves, and it does little (read the
workers' report channels, reap children, answer metrics requests).

- Start: the listening sockets are opened here (see `listeners`) and inherited by every worker;
  each worker slot runs `python -m fastreactor _worker`.
- A worker that dies is restarted after a backoff (0.1 s doubling to 10 s for workers that keep
  dying within 10 s of starting), and the event is logged with its exit status or signal. If a
  worker exits with status 3 (the target cannot be loaded) or 4 (cannot listen) before any
  worker was ready, the supervisor gives up with that status rather than retry.
- SIGHUP: workers are replaced one slot at a time: a new worker is started on the slot's
  sockets, and only once it reports that it listens is the old one sent SIGTERM (it drains as on
  shutdown). The listening sockets stay open in the supervisor throughout, so no connection is
  refused. If a new worker fails to become ready (within 30 s), the reload stops and the old
  workers stay.
- SIGTERM/SIGINT: every worker is sent SIGTERM (they stop accepting at once and drain for up to
  `grace` seconds); the supervisor closes its listening sockets and waits for them, sending
  SIGKILL to any still alive `grace` + 10 seconds later. A second SIGTERM/SIGINT is passed on:
  the workers then close their connections at once. Workers run in their own session, so a
  Ctrl-C in a terminal reaches only the supervisor.
"""
import errno
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

from fastreactor._serve import listeners as _listeners
from fastreactor._serve import metrics
from fastreactor._serve.channel import LineReader
from fastreactor._serve.worker import EXIT_LISTEN, EXIT_LOAD, SPEC_VARIABLE

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_KILLED_STRAGGLERS = 5

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0
HEALTHY_AFTER = 10.0        # a worker up this long resets the backoff of its slot
READY_TIMEOUT = 30.0
KILL_MARGIN = 10.0

log = logging.getLogger("fastreactor.serve.supervisor")


class Config:
    """The supervisor's settings (built by the command line): `target`, `listen` (endpoint
    descriptions), `workers`, `grace`, `pidfile`, `metrics` (endpoint or None), `twisted`,
    `stats_interval`."""

    def __init__(self, target, listen, workers=1, grace=30.0, pidfile=None, metrics=None,
                 twisted=False, stats_interval=1.0):
        self.target = target
        self.listen = list(listen)
        self.workers = workers
        self.grace = grace
        self.pidfile = pidfile
        self.metrics = metrics
        self.twisted = twisted
        self.stats_interval = stats_interval


class WorkerProcess:
    """One worker: its slot, process, report channel and last statistics."""

    def __init__(self, slot, generation, process, channel):
        self.slot = slot
        self.generation = generation
        self.process = process
        self.channel = channel
        self.reader = LineReader()
        self.started = time.monotonic()
        self.ready = False
        self.retiring = False
        self.stats = {}

    @property
    def pid(self):
        return self.process.pid

    def describe(self):
        return "worker %d (pid %d)" % (self.slot, self.pid)


def describe_status(returncode):
    if returncode < 0:
        try:
            return "killed by %s" % signal.Signals(-returncode).name
        except ValueError:
            return "killed by signal %d" % -returncode
    return "exit status %d" % returncode


class Supervisor:
    """Runs workers for `config` until stopped; `run()` returns the exit status."""

    def __init__(self, config):
        self.config = config
        self.selector = selectors.DefaultSelector()
        self.workers = {}                   # pid -> WorkerProcess (current and retiring)
        self.current = {}                   # slot -> WorkerProcess serving it
        self.failures = {}                  # slot -> consecutive quick deaths
        self.timers = []                    # (when, callable)
        self.listeners = []
        self.endpoints = []                 # descriptions each worker listens on itself
        self.stopping = False
        self.stop_deadline = None
        self.exit_code = EXIT_OK
        self.any_ready = False
        self.restarts = 0
        self.reload_queue = []
        self.reloading = None               # (slot, new WorkerProcess, deadline)
        self.pending_signals = []
        self.metrics_socket = None
        self.metrics_clients = {}

    # ---- the loop ----------------------------------------------------------------------------

    def run(self):
        try:
            self._writePidfile()
        except OSError as e:
            log.error("cannot write pidfile %s: %s", self.config.pidfile, e)
            return EXIT_FAILED
        try:
            return self._run()
        finally:
            self._removePidfile()

    def _run(self):
        try:
            self._openListeners()
        except (_listeners.ListenError, ValueError) as e:
            log.error("%s", e)
            return EXIT_LISTEN
        if self.config.metrics:
            try:
                self._openMetrics()
            except (_listeners.ListenError, ValueError) as e:
                log.error("metrics: %s", e)
                self._closeListeners()
                return EXIT_LISTEN
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self.selector.register(wake_r, selectors.EVENT_READ, ("wake", None))
        previous_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        previous = {}
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            previous[number] = signal.signal(number, self._onSignal)
        try:
            for slot in range(self.config.workers):
                self.current[slot] = self._spawn(slot)
            self._loop(wake_r)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            signal.set_wakeup_fd(previous_fd)
            wake_r.close()
            wake_w.close()
            self._closeListeners()
            if self.metrics_socket is not None:
                self.metrics_socket.close()
        return self.exit_code

    def _loop(self, wake_r):
        while True:
            self._handleSignals()
            self._reap()
            self._runTimers()
            self._checkReload()
            if self.stopping and not self.workers:
                log.info("all workers stopped; exiting with status %d", self.exit_code)
                return
            if self.stopping and time.monotonic() >= self.stop_deadline:
                for worker in list(self.workers.values()):
                    log.error("%s did not stop within %gs: killing it", worker.describe(),
                              self.config.grace + KILL_MARGIN)
                    self._kill(worker, signal.SIGKILL)
                    self.exit_code = EXIT_KILLED_STRAGGLERS
                self.stop_deadline = time.monotonic() + 5.0
            timeout = 1.0
            if self.timers:
                timeout = max(0.0, min(timeout, min(when for when, _ in self.timers)
                                       - time.monotonic()))
            for key, events in self.selector.select(timeout):
                kind, obj = key.data
                if kind == "wake":
                    try:
                        while wake_r.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                elif kind == "channel":
                    self._readChannel(obj)
                elif kind == "metrics-listen":
                    self._acceptMetrics()
                elif kind == "metrics-client":
                    self._serviceMetricsClient(key.fileobj, events)

    def _onSignal(self, number, frame):
        self.pending_signals.append(number)

    def _handleSignals(self):
        while self.pending_signals:
            number = self.pending_signals.pop(0)
            if number in (signal.SIGTERM, signal.SIGINT):
                self.stop(signal.Signals(number).name)
            elif number == signal.SIGHUP:
                self.reload()
            # SIGCHLD: only wakes the loop; _reap() looks at every worker.

    def _runTimers(self):
        now = time.monotonic()
        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, call in due:
            call()

    # ---- workers -----------------------------------------------------------------------------

    def _spawn(self, slot, generation=0):
        """Start a worker for `slot`; returns it."""
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        fds = [theirs.fileno()]
        listeners = []
        for listener in self.listeners:
            sock = listener.socket_for(slot)
            fds.append(sock.fileno())
            listeners.append({"fd": sock.fileno(), "family": int(listener.family),
                              "description": listener.description})
        spec = {
            "target": self.config.target, "twisted": self.config.twisted, "slot": slot,
            "grace": self.config.grace, "channel_fd": theirs.fileno(), "listeners": listeners,
            "endpoints": self.endpoints, "workers": self.config.workers,
            "stats_interval": self.config.stats_interval,
        }
        env = dict(os.environ)
        env[SPEC_VARIABLE] = json.dumps(spec)
        try:
            # Its own session: a Ctrl-C in the terminal reaches the supervisor only, which then
            # stops the workers itself (a worker signalled twice would skip its drain).
            process = subprocess.Popen([sys.executable, "-m", "fastreactor", "_worker"],
                                       env=env, pass_fds=fds, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        finally:
            theirs.close()
        worker = WorkerProcess(slot, generation, process, ours)
        self.workers[worker.pid] = worker
        self.selector.register(ours, selectors.EVENT_READ, ("channel", worker))
        log.info("started %s", worker.describe())
        return worker

    def _readChannel(self, worker):
        try:
            data = worker.channel.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._closeChannel(worker)
            return
        for message in worker.reader.feed(data):
            kind = message.get("type")
            if kind == "ready":
                worker.ready = True
                self.any_ready = True
                log.info("%s is serving (ports %s)", worker.describe(), message.get("ports"))
            elif kind == "stats" and isinstance(message.get("stats"), dict):
                worker.stats = message["stats"]
            elif kind == "stopping":
                log.info("%s is draining %s connection(s)", worker.describe(), message.get("open"))

    def _closeChannel(self, worker):
        if worker.channel is not None:
            try:
                self.selector.unregister(worker.channel)
            except (KeyError, ValueError):
                pass
            worker.channel.close()
            worker.channel = None

    def _reap(self):
        for worker in list(self.workers.values()):
            code = worker.process.poll()
            if code is None:
                continue
            del self.workers[worker.pid]
            self._closeChannel(worker)
            self._exited(worker, code)

    def _exited(self, worker, code):
        status = describe_status(code)
        if self.current.get(worker.slot) is worker:
            del self.current[worker.slot]
        if worker.retiring or self.stopping:
            log.info("%s stopped (%s)", worker.describe(), status)
            return
        if self.reloading is not None and self.reloading[1] is worker:
            log.error("reload: new %s died before it was serving (%s); keeping the old workers",
                      worker.describe(), status)
            self.reloading = None
            self.reload_queue = []
            return
        if not self.any_ready and code in (EXIT_LOAD, EXIT_LISTEN):
            log.error("%s could not start (%s); giving up", worker.describe(), status)
            self.exit_code = code
            self.stop("startup failure")
            return
        uptime = time.monotonic() - worker.started
        failures = 0 if uptime >= HEALTHY_AFTER else self.failures.get(worker.slot, 0) + 1
        self.failures[worker.slot] = failures
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** max(0, failures - 1)))
        self.restarts += 1
        log.warning("%s died (%s) after %.1fs; restarting it in %.1fs", worker.describe(), status,
                    uptime, delay)
        self.timers.append((time.monotonic() + delay, lambda: self._restart(worker.slot)))

    def _restart(self, slot):
        if self.stopping or slot in self.current:
            return
        self.current[slot] = self._spawn(slot)

    def _kill(self, worker, number):
        try:
            os.kill(worker.pid, number)
        except ProcessLookupError:
            pass

    # ---- reload (SIGHUP) ---------------------------------------------------------------------

    def reload(self):
        """Replace every worker, one slot at a time, each new one ready before the old stops."""
        if self.stopping:
            return
        if self.reloading is not None or self.reload_queue:
            log.info("SIGHUP: a reload is already in progress")
            return
        log.info("SIGHUP: replacing %d worker(s) one at a time", self.config.workers)
        self.reload_queue = list(range(self.config.workers))

    def _checkReload(self):
        if self.stopping:
            return
        if self.reloading is not None:
            slot, new, deadline = self.reloading
            if new.ready:
                old = self.current.get(slot)
                self.current[slot] = new
                self.reloading = None
                if old is not None and old is not new:
                    old.retiring = True
                    log.info("reload: %s replaces %s", new.describe(), old.describe())
                    self._kill(old, signal.SIGTERM)
            elif time.monotonic() >= deadline:
                log.error("reload: %s not serving after %gs; keeping the old workers",
                          new.describe(), READY_TIMEOUT)
                new.retiring = True
                self._kill(new, signal.SIGKILL)
                self.reloading = None
                self.reload_queue = []
            return
        if self.reload_queue:
            slot = self.reload_queue.pop(0)
            old = self.current.get(slot)
            generation = old.generation + 1 if old is not None else 0
            self.reloading = (slot, self._spawn(slot, generation), time.monotonic() + READY_TIMEOUT)

    # ---- stop --------------------------------------------------------------------------------

    def stop(self, why):
        """Tell every worker to drain and stop; the loop ends when all have exited."""
        if self.stopping:
            log.info("%s while stopping: telling the workers to close every connection now", why)
            for worker in list(self.workers.values()):
                self._kill(worker, signal.SIGTERM)
            return
        self.stopping = True
        self.reloading = None
        self.reload_queue = []
        self.stop_deadline = time.monotonic() + self.config.grace + KILL_MARGIN
        log.info("%s: stopping %d worker(s) (grace %gs)", why, len(self.workers), self.config.grace)
        for worker in list(self.workers.values()):
            self._kill(worker, signal.SIGTERM)
        # The workers close their copies at once; once ours are closed too, the kernel refuses
        # new connections instead of queueing them for nobody.
        self._closeListeners()

    # ---- listening sockets -------------------------------------------------------------------

    def _openListeners(self):
        for description in self.config.listen:
            kind = _listeners.check(description)
            if kind in _listeners.SHAREABLE_TYPES:
                listener = _listeners.Listener(description, self.config.workers)
                self.listeners.append(listener)
                log.info("listening on %s (port %d, %s)", description, listener.port,
                         "one SO_REUSEPORT socket per worker" if len(set(listener.sockets)) > 1
                         else "one socket shared by the workers")
            else:
                if self.config.workers > 1:
                    raise _listeners.ListenError(
                        "--listen %s: only tcp: and tcp6: endpoints can be shared by several "
                        "workers; use --workers 1 for %s:" % (description, kind))
                self.endpoints.append(description)

    def _closeListeners(self):
        for listener in self.listeners:
            listener.close()
        self.listeners = []

    # ---- metrics -----------------------------------------------------------------------------

    def _openMetrics(self):
        description = self.config.metrics
        kind = _listeners.check(description)
        if kind not in _listeners.SHAREABLE_TYPES:
            raise _listeners.ListenError("--metrics %s: only tcp: and tcp6: endpoints are "
                                         "supported" % (description,))
        listener = _listeners.Listener(description, 1)
        self.metrics_socket = listener.sockets[0]
        self.selector.register(self.metrics_socket, selectors.EVENT_READ, ("metrics-listen", None))
        log.info("metrics on %s (port %d)", description, listener.port)

    def metricsPage(self):
        """The Prometheus text of the current workers' last reports."""
        per_worker = {slot: worker.stats for slot, worker in self.current.items() if worker.stats}
        return metrics.render(per_worker, {"workers": len(self.current),
                                           "restarts": self.restarts})

    def _acceptMetrics(self):
        for _ in range(16):
            try:
                client, _ = self.metrics_socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    return
                raise
            client.setblocking(False)
            self.metrics_clients[client] = [b"", None, time.monotonic() + 10.0]
            self.selector.register(client, selectors.EVENT_READ, ("metrics-client", None))

    def _serviceMetricsClient(self, client, events):
        state = self.metrics_clients.get(client)
        if state is None:
            return
        try:
            if state[1] is None:
                data = client.recv(8192)
                if not data:
                    return self._dropMetricsClient(client)
                state[0] += data
                if b"\r\n\r\n" not in state[0] and b"\n\n" not in state[0]:
                    if len(state[0]) > 65536:
                        self._dropMetricsClient(client)
                    return
                body = self.metricsPage()
                state[1] = (b"HTTP/1.0 200 OK\r\n"
                            b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body
                self.selector.modify(client, selectors.EVENT_WRITE, ("metrics-client", None))
            sent = client.send(state[1])
            state[1] = state[1][sent:]
            if not state[1]:
                self._dropMetricsClient(client)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._dropMetricsClient(client)

    def _dropMetricsClient(self, client):
        self.metrics_clients.pop(client, None)
        try:
            self.selector.unregister(client)
        except (KeyError, ValueError):
            pass
        client.close()

    # ---- pidfile -----------------------------------------------------------------------------

    def _writePidfile(self):
        path = self.config.pidfile
        if path is None:
            return
        try:
            with open(path) as f:
                other = int(f.read().strip() or "0")
        except (OSError, ValueError):
            other = 0
        if other > 0 and other != os.getpid():
            try:
                os.kill(other, 0)
            except ProcessLookupError:
                pass
            except PermissionError:
                raise OSError(errno.EEXIST, "another process (pid %d) holds it" % other)
            else:
                raise OSError(errno.EEXIST, "process %d, still running, holds it" % other)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(tmp, path)

    def _removePidfile(self):
        path = self.config.pidfile
        if path is None:
            return
        try:
            with open(path) as f:
                if int(f.read().strip() or "0") != os.getpid():
                    return
            os.unlink(path)
        except (OSError, ValueError):
            pass


def setup_logging():
    """Log lines to stderr as `TIME [supervisor pid PID] LEVEL: message`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%%(asctime)s [supervisor pid %d] %%(levelname)s: %%(message)s" % os.getpid()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
