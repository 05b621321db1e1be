"""One `fastreactor serve` worker process: load the target, serve it, drain on stop.

The supervisor starts it as `python -m fastreactor _worker` with its instructions in the
environment variable FASTREACTOR_SERVE_SPEC (JSON, see `Spec`) and the listening sockets and its
report channel as inherited descriptors.

Target `MODULE:OBJECT`: OBJECT (a dotted path inside MODULE) is a protocol factory (it has
`buildProtocol`), a service (it has `startService`), or a callable (a class, say) returning one
of those. A factory is served on every `--listen` endpoint; a service listens by itself.

Stopping (SIGTERM or SIGINT, or the supervisor vanishing): stop accepting at once, let open
connections finish for up to `grace` seconds, close whatever is still open, exit 0. A second
signal while draining closes everything at once. SIGHUP is the supervisor's: a worker ignores it.

Exit statuses: 0 stopped; 3 the target could not be loaded or is not a factory/service; 4 it
could not listen; 1 anything else.
"""
import functools
import importlib
import json
import logging
import os
import signal
import sys
import time

from fastreactor._serve import metrics
from fastreactor._serve.channel import WorkerChannel

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_LOAD = 3
EXIT_LISTEN = 4

SPEC_VARIABLE = "FASTREACTOR_SERVE_SPEC"

log = logging.getLogger("fastreactor.serve")


class TargetError(Exception):
    """The MODULE:OBJECT target cannot be loaded or is neither a factory nor a service."""


def load_target(target):
    """("factory" | "service", object) for a MODULE:OBJECT string; TargetError saying why not."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise TargetError("target %r is not MODULE:OBJECT (e.g. myapp.server:factory)" % (target,))
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise TargetError("cannot import module %r: %s" % (module_name, e)) from e
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError("module %r has no attribute %r" % (module_name, attribute)) from None
    kind = _kind(obj)
    if kind is None and callable(obj):
        made = obj()
        kind = _kind(made)
        if kind is None:
            raise TargetError("%s() returned %r, which is neither a protocol factory "
                              "(buildProtocol) nor a service (startService)" % (target, made))
        obj = made
    if kind is None:
        raise TargetError("%s is %r: neither a protocol factory (buildProtocol), a service "
                          "(startService), nor a callable returning one" % (target, obj))
    return kind, obj


def _kind(obj):
    if isinstance(obj, type):
        return None
    if callable(getattr(obj, "buildProtocol", None)):
        return "factory"
    if callable(getattr(obj, "startService", None)):
        return "service"
    return None


class Spec:
    """What the supervisor tells a worker: `target`, `twisted` (bool), `slot`, `grace`,
    `channel_fd`, `listeners` ([{"fd", "family", "description"}] to adopt), `endpoints`
    (descriptions the worker listens on itself), `workers` (how many slots), `stats_interval`."""

    def __init__(self, data):
        self.target = data["target"]
        self.twisted = bool(data.get("twisted"))
        self.slot = int(data.get("slot", 0))
        self.grace = float(data.get("grace", 30.0))
        self.channel_fd = data.get("channel_fd")
        self.listeners = data.get("listeners", [])
        self.endpoints = data.get("endpoints", [])
        self.workers = int(data.get("workers", 1))
        self.stats_interval = float(data.get("stats_interval", 1.0))


def setup_logging(slot):
    """Log lines to stderr as `TIME [worker SLOT pid PID] LEVEL logger: message`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%%(asctime)s [worker %d pid %d] %%(levelname)s %%(name)s: %%(message)s"
        % (slot, os.getpid())))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class Worker:
    """A worker's life on one reactor: listen, report, drain."""

    def __init__(self, spec, reactor, twisted_face):
        self.spec = spec
        self.reactor = reactor
        self.twisted_face = twisted_face
        self.ports = []
        self.service = None
        self.channel = None
        self.draining = False
        self.exit_code = EXIT_OK

    # ---- starting ----------------------------------------------------------------------------

    def start(self, kind, target):
        """Listen (factory) or start listening (service); raises on failure."""
        if self.spec.channel_fd is not None:
            self.channel = WorkerChannel(self.spec.channel_fd, self.reactor, self._supervisorLost)
            self.reactor.addReader(self.channel)
        if kind == "factory":
            for listener in self.spec.listeners:
                port = self.reactor.adoptStreamPort(listener["fd"], listener["family"], target)
                os.close(listener["fd"])
                self.ports.append(port)
            for description in self.spec.endpoints:
                from fastreactor.endpoints import serverFromString
                failures = []
                d = serverFromString(self.reactor, description).listen(target)
                d.addCallbacks(self.ports.append, failures.append)
                if failures:
                    failures[0].raiseException()
        else:
            for listener in self.spec.listeners:
                os.close(listener["fd"])    # a service listens by itself
            if self.spec.workers > 1:
                # Every worker runs the service; its TCP ports must share their address.
                self.reactor.listenTCP = functools.partial(self.reactor.listenTCP, reusePort=True)
            self.service = target
            self.service.privilegedStartService()

    def running(self):
        """Called once the reactor runs: start the service, take the signals, say ready."""
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._signalled)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if self.service is not None:
            self.service.startService()
        ports = []
        for port in self.ports:
            try:
                ports.append(port.getHost().port)
            except Exception:
                ports.append(None)
        log.info("serving %s on %s", self.spec.target,
                 ", ".join(str(p) for p in ports) or "the service's own ports")
        self._send({"type": "ready", "pid": os.getpid(), "ports": ports})
        self._reportStats()

    def _send(self, message):
        if self.channel is not None:
            self.channel.send(message)

    def _reportStats(self):
        if self.draining and self.channel is None:
            return
        try:
            self._send({"type": "stats", "stats": metrics.collect(self.reactor)})
        except Exception:
            log.exception("could not collect loop statistics")
        self.reactor.callLater(self.spec.stats_interval, self._reportStats)

    # ---- stopping ----------------------------------------------------------------------------

    def _signalled(self, number, frame):
        self.reactor.callFromThread(self.stop, signal.Signals(number).name)

    def _supervisorLost(self):
        log.warning("the supervisor is gone")
        self.stop("supervisor gone")

    def stop(self, why):
        """Stop accepting now; drain open connections for up to `grace` seconds; then stop."""
        if self.draining:
            log.info("%s while draining: closing every connection now", why)
            self._finish()
            return
        self.draining = True
        open_now = metrics.open_connections(self.reactor)
        log.info("%s: no longer accepting; draining %d open connection(s) for up to %gs",
                 why, open_now, self.spec.grace)
        self._send({"type": "stopping", "open": open_now})
        for port in self.ports:
            try:
                port.stopListening()
            except Exception:
                log.exception("stopListening failed on %r", port)
        if self.service is not None:
            try:
                self.service.stopService()
            except Exception:
                log.exception("stopService failed")
        self._deadline = time.monotonic() + self.spec.grace
        self._waitForDrain()

    def _waitForDrain(self):
        remaining = metrics.open_connections(self.reactor)
        if remaining == 0:
            log.info("all connections closed; exiting")
            self._finish()
        elif time.monotonic() >= self._deadline:
            log.warning("grace period over: closing %d connection(s) still open", remaining)
            self._finish()
        else:
            self.reactor.callLater(0.05, self._waitForDrain)

    def _finish(self):
        if self.reactor.running:
            self.reactor.stop()


def _twisted_logging():
    """Send Twisted's log events to the standard library logger 'twisted' (so they get the
    worker's prefix on stderr)."""
    from twisted.python import log as twisted_log
    twisted_log.PythonLoggingObserver("twisted").start()


def main(environ=None):
    """Run one worker from FASTREACTOR_SERVE_SPEC; returns the exit status."""
    environ = os.environ if environ is None else environ
    spec = Spec(json.loads(environ[SPEC_VARIABLE]))
    setup_logging(spec.slot)
    if spec.twisted:
        import fastreactor.twisted
        fastreactor.twisted.install()
        from twisted.internet import reactor
        _twisted_logging()
    else:
        import fastreactor
        reactor = fastreactor.reactor
    try:
        kind, target = load_target(spec.target)
    except TargetError as e:
        log.error("%s", e)
        return EXIT_LOAD
    except Exception:
        log.exception("loading %s failed", spec.target)
        return EXIT_LOAD
    worker = Worker(spec, reactor, spec.twisted)
    try:
        worker.start(kind, target)
    except Exception as e:
        log.error("cannot listen: %s", e)
        return EXIT_LISTEN
    reactor.callWhenRunning(worker.running)
    try:
        reactor.run()
    except Exception:
        log.exception("the reactor failed")
        return EXIT_CRASH
    return worker.exit_code
