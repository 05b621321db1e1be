"""`fastreactor serve` end to end, as a user runs it: a real supervisor and workers in
subprocesses, real clients over loopback, real signals."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

APP = textwrap.dedent('''
    import os
    from fastreactor import protocol, service, internet

    class Echo(protocol.Protocol):
        """Echoes; a line "pid" is answered with the worker's pid."""
        def dataReceived(self, data):
            if data == b"pid\\n":
                self.transport.write(b"%d\\n" % os.getpid())
            else:
                self.transport.write(data)

    factory = protocol.Factory.forProtocol(Echo)

    def make_service():
        root = service.MultiService()
        internet.TCPServer(int(os.environ["APP_PORT"]), protocol.Factory.forProtocol(Echo),
                           interface="127.0.0.1").setServiceParent(root)
        return root

    not_a_factory = 42
''')

TWISTED_APP = textwrap.dedent('''
    import os
    from twisted.internet import protocol, reactor

    class Echo(protocol.Protocol):
        def dataReceived(self, data):
            name = type(reactor).__name__.encode()
            self.transport.write(name + b" " + data if data == b"pid\\n" else data)

    factory = protocol.Factory.forProtocol(Echo)
''')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A running `python -m fastreactor serve` with its stderr in a file."""

    def __init__(self, tmp_path, *args, env=None):
        (tmp_path / "app.py").write_text(APP)
        (tmp_path / "twapp.py").write_text(TWISTED_APP)
        self.port = free_port()
        self.log_path = tmp_path / "serve.log"
        self.log_file = open(self.log_path, "wb")
        full_env = dict(os.environ, **(env or {}))
        full_env.pop("PYTHONPATH", None)
        args = [a.replace("PORT", str(self.port)) for a in args]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fastreactor", "serve", *args, "--stats-interval", "0.2"],
            cwd=str(tmp_path), stderr=self.log_file, stdout=subprocess.DEVNULL, env=full_env)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text, count=1, timeout=20.0):
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if self.process.poll() is not None:
                raise AssertionError("serve exited (%s) waiting for %r:\n%s"
                                     % (self.process.returncode, text, self.log()))
            if time.monotonic() > deadline:
                raise AssertionError("no %d x %r within %ss:\n%s" % (count, text, timeout,
                                                                     self.log()))
            time.sleep(0.05)

    def ask_pid(self, timeout=10.0):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(b"pid\n")
            return int(read_line(s))

    def signal(self, number):
        self.process.send_signal(number)

    def wait(self, timeout=30.0):
        try:
            return self.process.wait(timeout)
        finally:
            self.log_file.close()

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log_file.close()


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(100)
        if not chunk:
            raise ConnectionError("closed before a full line: %r" % data)
        data += chunk
    return data


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(*args, **kw):
        s = Served(tmp_path, *args, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def worker_pids(s):
    """Pids of the workers the supervisor runs now (its children)."""
    out = subprocess.run(["pgrep", "-P", str(s.process.pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def test_sigkill_a_worker_connections_keep_succeeding_and_it_returns(serve):
    s = serve("app:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--workers", "2")
    s.wait_log("is serving", 2)
    before = worker_pids(s)
    assert len(before) == 2
    seen = {s.ask_pid() for _ in range(40)}
    assert seen == before, "40 connections should reach both SO_REUSEPORT workers"
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    # Every new connection succeeds, including those the kernel queues on the dead worker's
    # socket (the supervisor keeps it open; its replacement accepts them).
    answers = [s.ask_pid() for _ in range(30)]
    assert victim not in answers
    s.wait_log("died (killed by SIGKILL)")
    s.wait_log("is serving", 3)
    after = worker_pids(s)
    assert len(after) == 2 and victim not in after and (before - {victim}) < after
    assert {s.ask_pid() for _ in range(40)} == after
    s.signal(signal.SIGTERM)
    assert s.wait() == 0


def test_sigterm_drains_open_connections_within_grace(serve):
    s = serve("app:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--workers", "2",
              "--grace", "20")
    s.wait_log("is serving", 2)
    held = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(4)]
    for c in held:
        c.sendall(b"pid\n")
        read_line(c)
    s.signal(signal.SIGTERM)
    s.wait_log("no longer accepting", 2)
    # Stopped accepting at once: within moments every listening copy is closed and the kernel
    # refuses new connections (allow a loaded machine a few seconds to get there).
    refused = False
    deadline = time.monotonic() + 5
    while not refused and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=5).close()
            time.sleep(0.05)
        except ConnectionRefusedError:
            refused = True
    assert refused
    for c in held:                               # open connections still served while draining
        c.sendall(b"still here\n")
        assert read_line(c) == b"still here\n"
    assert s.process.poll() is None
    started = time.monotonic()
    for c in held:
        c.close()
    assert s.wait(15) == 0
    assert time.monotonic() - started < 10, "exits once drained, not at the end of the grace"
    assert "all connections closed" in s.log()


def test_sigterm_closes_what_is_still_open_after_grace(serve):
    s = serve("app:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--grace", "1")
    s.wait_log("is serving")
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    c.sendall(b"pid\n")
    read_line(c)
    started = time.monotonic()
    s.signal(signal.SIGTERM)
    assert s.wait(15) == 0
    assert 0.8 < time.monotonic() - started < 8
    assert c.recv(10) == b""                     # closed by the worker at the end of the grace
    assert "grace period over: closing 1 connection" in s.log()
    c.close()


def test_sighup_replaces_workers_without_refusing_a_connection(serve):
    s = serve("app:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--workers", "2",
              "--grace", "5")
    s.wait_log("is serving", 2)
    before = worker_pids(s)
    results = {"ok": 0, "errors": [], "pids": set()}
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                results["pids"].add(s.ask_pid(timeout=10))
                results["ok"] += 1
            except OSError as e:
                results["errors"].append(repr(e))

    t = threading.Thread(target=client)
    t.start()
    try:
        time.sleep(0.3)
        s.signal(signal.SIGHUP)
        s.wait_log("reload: worker", 2)          # "reload: worker N (pid) replaces ..."
        s.wait_log("stopped (exit status 0)", 2)  # both old workers drained and exited
        time.sleep(0.3)
    finally:
        stop.set()
        t.join(30)
    after = worker_pids(s)
    assert results["errors"] == []
    assert results["ok"] > 20
    assert len(after) == 2 and not (after & before)
    assert after <= results["pids"] and before <= results["pids"]
    s.signal(signal.SIGTERM)
    assert s.wait() == 0


def test_metrics_summed_and_per_worker(serve):
    mport = free_port()
    s = serve("app:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--workers", "2",
              "--metrics", "tcp:%d:interface=127.0.0.1" % mport)
    s.wait_log("is serving", 2)
    for _ in range(10):
        s.ask_pid()
    held = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    held.sendall(b"pid\n")
    read_line(held)
    deadline = time.monotonic() + 10
    while True:
        page = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read()
        text = page.decode()
        if "fastreactor_all_connections_open 1" in text or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert 'fastreactor_descriptors_watched{worker="0"}' in text
    assert 'fastreactor_descriptors_watched{worker="1"}' in text
    assert "fastreactor_all_connections_open 1" in text
    assert "fastreactor_workers 2" in text
    held.close()
    s.signal(signal.SIGINT)
    assert s.wait() == 0


def test_a_service_target_on_two_workers(serve, tmp_path):
    port = free_port()
    s = serve("app:make_service", "--workers", "2", env={"APP_PORT": str(port)})
    s.wait_log("is serving", 2)
    s.port = port
    assert len({s.ask_pid() for _ in range(40)}) == 2
    s.signal(signal.SIGTERM)
    assert s.wait() == 0


def test_twisted_factory_with_twisted_flag(serve):
    s = serve("twapp:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--twisted")
    s.wait_log("is serving")
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(b"pid\n")
        assert read_line(c) == b"FastReactor pid\n"
    s.signal(signal.SIGTERM)
    assert s.wait() == 0


@pytest.mark.parametrize("args,status,message", [
    (["nosuchmodule:factory"], 3, "cannot import module 'nosuchmodule'"),
    (["app:nothing"], 3, "has no attribute 'nothing'"),
    (["app:not_a_factory"], 3, "neither a protocol factory"),
    (["app:factory", "--listen", "tcp:http"], 2, "port must be an integer"),
    (["app:factory", "--workers", "0"], 2, "must be at least 1"),
    (["app:factory", "--grace", "-1"], 2, "must be >= 0"),
    (["appfactory"], 2, "MODULE:OBJECT"),
])
def test_bad_invocations_exit_with_a_status_that_says_why(serve, args, status, message):
    listen = [] if "--listen" in args else ["--listen", "tcp:PORT:interface=127.0.0.1"]
    s = serve(*args, *listen)
    assert s.wait(20) == status
    assert message in s.log()


def test_port_in_use_exits_4(serve):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        s = serve("app:factory", "--listen", "tcp:%d:interface=127.0.0.1" % busy.getsockname()[1])
        assert s.wait(20) == 4
        assert "cannot listen on" in s.log()
    finally:
        busy.close()


def test_pidfile(serve, tmp_path):
    pidfile = tmp_path / "serve.pid"
    s = serve("app:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--pidfile", str(pidfile))
    s.wait_log("is serving")
    assert int(pidfile.read_text()) == s.process.pid
    s.signal(signal.SIGTERM)
    assert s.wait() == 0
    assert not pidfile.exists()


def test_console_script_and_help(tmp_path):
    # Run outside the source tree, so the installed package is the one imported.
    out = subprocess.run([sys.executable, "-m", "fastreactor", "serve", "--help"],
                         capture_output=True, text=True, timeout=30, cwd=str(tmp_path))
    assert out.returncode == 0 and "--workers" in out.stdout and "--grace" in out.stdout
    script = os.path.join(os.path.dirname(sys.executable), "fastreactor")
    assert os.path.exists(script), "pyproject's [project.scripts] installs `fastreactor`"
    out = subprocess.run([script, "serve", "--help"], capture_output=True, text=True, timeout=30,
                         cwd=str(tmp_path))
    assert out.returncode == 0 and "MODULE:OBJECT" in out.stdout


def test_second_sigint_closes_at_once(serve):
    s = serve("app:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--grace", "30")
    s.wait_log("is serving")
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    c.sendall(b"pid\n")
    read_line(c)
    s.signal(signal.SIGINT)
    s.wait_log("no longer accepting")
    started = time.monotonic()
    s.signal(signal.SIGINT)
    assert s.wait(15) == 0
    assert time.monotonic() - started < 10, "the second signal must not wait for the grace"
    assert c.recv(10) == b""
    assert "closing every connection now" in s.log()
    c.close()


def test_workers_stop_when_the_supervisor_is_killed(serve):
    s = serve("app:factory", "--listen", "tcp:PORT:interface=127.0.0.1", "--workers", "2",
              "--grace", "2")
    s.wait_log("is serving", 2)
    pids = worker_pids(s)
    assert len(pids) == 2
    s.process.kill()
    s.process.wait(10)
    deadline = time.monotonic() + 15
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive.discard(pid)
        time.sleep(0.05)
    assert not alive, "orphaned workers notice the supervisor is gone and stop"
    assert "the supervisor is gone" in s.log()
