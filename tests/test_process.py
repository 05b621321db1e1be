"""spawnProcess on the native face: real children, their pipes, exits, descriptors and errors."""
import errno
import logging
import os
import signal
import sys

import pytest

import fastreactor
from fastreactor import _core, error, utils
from fastreactor.protocol import ProcessProtocol

PY = sys.executable
SYSTEM_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else PY


class Recorder(ProcessProtocol):
    """Traces every callback; stops its reactor at processEnded (if `stop`)."""

    def __init__(self, reactor=None, stop=True):
        self.reactor = reactor
        self.stop = stop
        self.events = []
        self.data = {}
        self.ended = None
        self.exited = None

    def connectionMade(self):
        self.events.append("connectionMade")

    def childDataReceived(self, fd, data):
        self.data[fd] = self.data.get(fd, b"") + data
        if not self.events or self.events[-1] != ("data", fd):
            self.events.append(("data", fd))

    def childConnectionLost(self, fd):
        self.events.append(("lost", fd))

    def processExited(self, reason):
        self.exited = reason
        self.events.append("processExited")

    def processEnded(self, reason):
        self.ended = reason
        self.events.append("processEnded")
        if self.stop and self.reactor is not None:
            self.reactor.stop()


def run(reactor, timeout=20):
    guard = reactor.callLater(timeout, reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert guard.active(), "the reactor ran into its %ss guard" % timeout
    guard.cancel()


def open_fds():
    return sorted(int(n) for n in os.listdir("/proc/self/fd"))


def zombies_of_mine():
    mine = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == mine and fields[0] == "Z":
            found.append(int(pid))
    return found


def test_stdin_stdout_stderr_and_exit_code(reactor):
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, PY, [PY, "-c", "import sys; d = sys.stdin.read(); "
                                     "sys.stdout.write(d.upper()); sys.stderr.write('err'); sys.exit(3)"])
    assert isinstance(t.pid, int) and t.pid > 0
    t.write(b"hello ")
    t.writeSequence([b"wor", b"ld"])
    t.closeStdin()
    run(reactor)
    assert p.data == {1: b"HELLO WORLD", 2: b"err"}
    assert p.ended.check(error.ProcessTerminated)
    assert (p.ended.value.exitCode, p.ended.value.signal) == (3, None)
    assert os.WEXITSTATUS(p.ended.value.status) == 3
    assert p.events[0] == "connectionMade" and p.events[-1] == "processEnded"
    assert sorted(e for e in p.events if isinstance(e, tuple) and e[0] == "lost") == \
        [("lost", 0), ("lost", 1), ("lost", 2)]
    assert t.pid is None and t.pipes == {}
    assert p.transport is t and t.proto is None
    assert reactor.getDelayedCalls() == [] and reactor.getReaders() == [] and reactor._handleCount() == 1


def test_process_done_and_default_protocol_routing(reactor):
    seen = []

    class P(ProcessProtocol):
        def outReceived(self, data):
            seen.append(("out", data))

        def errReceived(self, data):
            seen.append(("err", data))

        def inConnectionLost(self):
            seen.append("in")

        def outConnectionLost(self):
            seen.append("outlost")

        def errConnectionLost(self):
            seen.append("errlost")

        def processEnded(self, reason):
            seen.append(reason)
            reactor.stop()

    reactor.spawnProcess(P(), PY, [PY, "-c", "import sys; sys.stdout.write('o'); sys.stdout.flush(); "
                                   "sys.stderr.write('e')"])
    run(reactor)
    assert ("out", b"o") in seen and ("err", b"e") in seen
    assert {"in", "outlost", "errlost"} <= set(x for x in seen if isinstance(x, str))
    assert seen[-1].check(error.ProcessDone)
    assert seen[-1].value.exitCode == 0 and seen[-1].value.signal is None


def test_signal_process_kill_and_exited_already(reactor):
    class P(Recorder):
        def childDataReceived(self, fd, data):
            Recorder.childDataReceived(self, fd, data)
            self.transport.signalProcess("KILL")

    p = P(reactor)
    t = reactor.spawnProcess(p, PY, [PY, "-c", "import sys, time; print('go', flush=True); time.sleep(30)"])
    run(reactor)
    assert p.ended.check(error.ProcessTerminated)
    assert (p.ended.value.exitCode, p.ended.value.signal) == (None, signal.SIGKILL)
    with pytest.raises(error.ProcessExitedAlready):
        t.signalProcess("TERM")
    with pytest.raises(error.ProcessExitedAlready):
        t.signalProcess(signal.SIGINT)


@pytest.mark.parametrize("name", ["TERM", "INT", "HUP"])
def test_signal_names(reactor, name):
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, "/bin/sleep", ["sleep", "30"], childFDs={})
    reactor.callLater(0.05, t.signalProcess, name)
    run(reactor)
    assert p.ended.value.signal == getattr(signal, "SIG" + name)


def test_exit_before_pipes_close(reactor):
    # The child exits while a grandchild keeps its stdout open: processExited comes first, then
    # the pipe closes, then processEnded.
    p = Recorder(reactor)
    code = ("import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
            "'import time, sys; time.sleep(0.5); sys.stdout.write(\"late\")'], stdin=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL)")
    reactor.spawnProcess(p, PY, [PY, "-c", code], childFDs={1: "r"})
    run(reactor)
    assert p.events.index("processExited") < p.events.index(("lost", 1)) < p.events.index("processEnded")
    assert p.data[1] == b"late"


def test_pipes_closed_before_exit(reactor):
    p = Recorder(reactor)
    code = "import os, time; os.close(0); os.close(1); os.close(2); time.sleep(0.4)"
    reactor.spawnProcess(p, PY, [PY, "-c", code])
    run(reactor)
    lost = [e for e in p.events if isinstance(e, tuple)]
    assert sorted(lost) == [("lost", 0), ("lost", 1), ("lost", 2)]
    assert p.events[-2:] == ["processExited", "processEnded"]


def test_close_stdout_from_the_parent(reactor):
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, PY, [PY, "-c", "import time; time.sleep(0.3)"])
    t.closeStdout()
    t.closeStderr()
    assert 1 in t.pipes     # closed on the next iteration, as Twisted's ProcessReader does
    run(reactor)
    assert p.events.index(("lost", 1)) < p.events.index("processExited")
    assert p.events.index(("lost", 2)) < p.events.index("processExited")


def test_child_fds_lists_only_the_named_descriptors(reactor):
    r, w = os.pipe()
    os.set_inheritable(r, True)      # an inheritable stray descriptor must still not reach the child
    try:
        p = Recorder(reactor)
        reactor.spawnProcess(p, PY, [PY, "-c", "import os; print(sorted(int(x) for x in os.listdir('/proc/self/fd')))"],
                             childFDs={1: "r", 4: "r", 7: w})
        run(reactor)
    finally:
        os.close(r)
        os.close(w)
    listed = eval(p.data[1])
    # listdir itself holds one descriptor (the lowest free one) while it reads the directory.
    extra = set(listed) - {1, 4, 7}
    assert len(extra) <= 1 and extra <= {0}, listed
    assert {1, 4, 7} <= set(listed)


def test_child_fds_maps_a_parent_descriptor_and_a_write_pipe(reactor, tmp_path):
    target = tmp_path / "out"
    fd = os.open(str(target), os.O_WRONLY | os.O_CREAT)
    try:
        p = Recorder(reactor)
        t = reactor.spawnProcess(p, PY, [PY, "-c", "import os; data = os.read(3, 100); os.write(5, data * 2)"],
                                 childFDs={3: "w", 5: fd})
        t.writeToChild(3, b"ab")
        t.closeChildFD(3)
        with pytest.raises(KeyError):
            t.writeToChild(9, b"x")
        run(reactor)
    finally:
        os.close(fd)
    assert target.read_bytes() == b"abab"
    assert p.ended.check(error.ProcessDone)


def test_swapped_child_fds(reactor):
    # {1: parent's stderr-pipe, 2: parent's stdout-pipe}: the mapping never clobbers a source.
    p = Recorder(reactor)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        reactor.spawnProcess(p, "/bin/sh", ["sh", "-c", "echo one; echo two >&2"],
                             childFDs={0: "w", 1: w2, 2: w1})
        run(reactor)
        os.close(w1)
        os.close(w2)
        w1 = w2 = -1
        assert os.read(r1, 100) == b"two\n"
        assert os.read(r2, 100) == b"one\n"
    finally:
        for fd in (r1, r2, w1, w2):
            if fd >= 0:
                os.close(fd)


def test_env_and_path(reactor, tmp_path):
    p = Recorder(reactor)
    reactor.spawnProcess(p, PY, [PY, "-c", "import os; print(sorted(os.environ.items()), os.getcwd())"],
                         env={"A": "1", b"B": b"2"}, path=str(tmp_path))
    run(reactor)
    items, cwd = p.data[1].decode().rsplit(" ", 1)
    env = dict(eval(items))
    env.pop("LC_CTYPE", None)
    assert env == {"A": "1", "B": "2"}
    assert cwd.strip() == str(tmp_path)


def test_env_none_passes_ours(reactor):
    p = Recorder(reactor)
    os.environ["FR_PROCESS_TEST"] = "yes"
    try:
        reactor.spawnProcess(p, PY, [PY, "-c", "import os; print(os.environ.get('FR_PROCESS_TEST'))"], env=None)
        run(reactor)
    finally:
        del os.environ["FR_PROCESS_TEST"]
    assert p.data[1] == b"yes\n"


def test_executable_found_in_path(reactor):
    p = Recorder(reactor)
    reactor.spawnProcess(p, "echo", ["echo", "found"])
    run(reactor)
    assert p.data[1] == b"found\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing uid/gid needs root")
def test_uid_gid(reactor):
    p = Recorder(reactor)
    reactor.spawnProcess(p, SYSTEM_PY, [SYSTEM_PY, "-c", "import os; print(os.getuid(), os.getgid(), os.getgroups())"],
                         uid=1, gid=1, path="/")
    run(reactor)
    uid, gid, groups = p.data[1].decode().split(" ", 2)
    assert (uid, gid) == ("1", "1")
    assert 0 not in eval(groups)


def test_pty(reactor):
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, PY, [PY, "-c", "import os, sys; line = sys.stdin.readline(); "
                                     "print(os.isatty(0), os.isatty(1), os.isatty(2), line.strip())"],
                             usePTY=True)
    t.write(b"typed\n")
    run(reactor)
    out = p.data[1].replace(b"\r", b"")
    assert out.endswith(b"True True True typed\n")
    assert not [e for e in p.events if isinstance(e, tuple) and e[0] == "lost"]
    assert p.events[-2:] == ["processExited", "processEnded"]
    t.closeStdin()      # no-ops, as in Twisted
    with pytest.raises(NotImplementedError):
        t.writeToChild(0, b"x")
    with pytest.raises(NotImplementedError):
        t.closeChildFD(0)


def test_pty_with_child_fds_is_refused(reactor):
    before = open_fds()
    with pytest.raises(ValueError, match="childFDs is not supported with usePTY"):
        reactor.spawnProcess(Recorder(), PY, [PY], usePTY=True, childFDs={1: "r"})
    assert open_fds() == before


BAD_CALLS = [
    (FileNotFoundError, dict(executable="/nonexistent/program", args=["x"])),
    (FileNotFoundError, dict(executable="no-such-program-anywhere", args=["x"])),
    (PermissionError, dict(executable="NOT-EXECUTABLE", args=["x"])),
    (FileNotFoundError, dict(executable="/bin/true", args=["x"], path="/nonexistent/dir")),
    (TypeError, dict(executable="/bin/true", args=["x", 1])),
    (TypeError, dict(executable="/bin/true", args=["x", None])),
    (TypeError, dict(executable=3, args=["x"])),
    (TypeError, dict(executable="/bin/true", args="x")),
    (ValueError, dict(executable="/bin/true", args=[])),
    (ValueError, dict(executable="/bin/true", args=["x\0y"])),
    (TypeError, dict(executable="/bin/true", args=["x"], env={"A": None})),
    (TypeError, dict(executable="/bin/true", args=["x"], env={1: "a"})),
    (ValueError, dict(executable="/bin/true", args=["x"], env={"A=B": "1"})),
    (TypeError, dict(executable="/bin/true", args=["x"], env=[("A", "1")])),
    (ValueError, dict(executable="/bin/true", args=["x"], childFDs={0: "x"})),
    (ValueError, dict(executable="/bin/true", args=["x"], childFDs={-1: "r"})),
    (ValueError, dict(executable="/bin/true", args=["x"], childFDs={"0": "r"})),
    (TypeError, dict(executable="/bin/true", args=["x"], childFDs=[(0, "r")])),
    (OSError, dict(executable="/bin/true", args=["x"], childFDs={0: 987})),
    (TypeError, dict(executable="/bin/true", args=["x"], uid="root")),
]


@pytest.mark.parametrize("exc, kwargs", BAD_CALLS, ids=[str(i) for i in range(len(BAD_CALLS))])
def test_bad_input_fails_at_the_call_and_leaks_nothing(reactor, exc, kwargs, tmp_path):
    if kwargs["executable"] == "NOT-EXECUTABLE":
        plain = tmp_path / "plain"
        plain.write_bytes(b"#!/bin/sh\n")
        plain.chmod(0o644)
        kwargs = dict(kwargs, executable=str(plain))
    before = open_fds()
    with pytest.raises(exc):
        reactor.spawnProcess(Recorder(), **kwargs)
    assert open_fds() == before
    assert reactor.getReaders() == [] and reactor.getWriters() == []
    assert zombies_of_mine() == []


def test_not_a_process_protocol_is_refused(reactor):
    with pytest.raises(TypeError, match="process protocol"):
        reactor.spawnProcess(object(), "/bin/true", ["true"])


def test_exec_failure_on_the_fork_path_is_reported_as_twisted_does(reactor):
    # With uid/gid (fork+exec) Twisted's child writes why on stderr and exits with 1.
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, "/nonexistent/program", ["x"], uid=os.geteuid())
    run(reactor)
    assert b"/nonexistent/program" in p.data[2]
    assert p.ended.check(error.ProcessTerminated) and p.ended.value.exitCode == 1
    assert t._execError.errno == errno.ENOENT


def test_raising_out_received_ends_only_that_pipe(reactor, caplog):
    class Boom(Recorder):
        def outReceived(self, data):
            raise RuntimeError("boom")

        def childDataReceived(self, fd, data):
            Recorder.childDataReceived(self, fd, data)
            ProcessProtocol.childDataReceived(self, fd, data)

    p = Boom(reactor)
    other = Recorder(stop=False)
    reactor.spawnProcess(other, PY, [PY, "-c", "print('fine')"])
    reactor.spawnProcess(p, PY, [PY, "-c", "import sys, time; print('x', flush=True); time.sleep(0.3); "
                                 "sys.stderr.write('still'); sys.stdout.write('more')"])
    with caplog.at_level(logging.ERROR, logger="fastreactor"):
        run(reactor)
    assert any("boom" in r.getMessage() or (r.exc_info and "boom" in str(r.exc_info[1])) for r in caplog.records)
    assert p.data[2].startswith(b"still")     # then Python's complaint about its closed stdout
    assert p.events.index(("lost", 1)) < p.events.index(("data", 2))
    assert p.ended is not None
    assert other.data[1] == b"fine\n" and other.ended is not None


def test_raising_callbacks_are_logged_and_the_process_still_ends(reactor, caplog):
    class Bad(ProcessProtocol):
        def connectionMade(self):
            raise ValueError("made")

        def childConnectionLost(self, fd):
            raise ValueError("lost")

        def processExited(self, reason):
            raise ValueError("exited")

        def processEnded(self, reason):
            reactor.stop()
            raise ValueError("ended")

    with caplog.at_level(logging.ERROR, logger="fastreactor"):
        t = reactor.spawnProcess(Bad(), "/bin/true", ["true"])
        run(reactor)
    messages = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert {"made", "lost", "exited", "ended"} <= set(messages)
    assert t.pid is None


def test_no_sigchld_handler_is_installed(reactor):
    if _core.exit_watch_method() == "sigchld":
        pytest.skip("this platform watches exits through SIGCHLD")  # neither pidfd nor kqueue here
    before = signal.getsignal(signal.SIGCHLD)
    p = Recorder(reactor)
    reactor.spawnProcess(p, "/bin/true", ["true"])
    run(reactor)
    assert signal.getsignal(signal.SIGCHLD) is before
    assert p.ended.check(error.ProcessDone)


def test_spawn_before_run_and_early_exit_is_reaped(reactor):
    import time
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, "/bin/true", ["true"], childFDs={})
    time.sleep(0.2)     # it has exited before the reactor runs
    assert p.ended is None
    run(reactor)
    assert p.ended.check(error.ProcessDone) and t.pid is None


def test_several_reactors_in_one_process():
    reactors = [fastreactor.Reactor() for _ in range(3)]
    try:
        protos = []
        for i, r in enumerate(reactors):
            p = Recorder(r)
            r.spawnProcess(p, PY, [PY, "-c", "print(%d)" % i])
            protos.append(p)
        for r in reactors:
            run(r)
        assert [p.data[1] for p in protos] == [b"0\n", b"1\n", b"2\n"]
    finally:
        for r in reactors:
            r.close()


def test_sigchld_fallback(reactor):
    if threading_main() is False:
        pytest.skip("the SIGCHLD fallback installs a handler, which only the main thread can")
    previous = signal.getsignal(signal.SIGCHLD)
    _core._force_exit_watch("sigchld")
    try:
        p = Recorder(reactor)
        t = reactor.spawnProcess(p, PY, [PY, "-c", "import time; time.sleep(0.2); print('ok')"])
        assert t._watcher.how == "sigchld"
        run(reactor)
        assert p.data[1] == b"ok\n" and p.ended.check(error.ProcessDone)
        assert reactor.getDelayedCalls() == []
    finally:
        _core._force_exit_watch(None)
        signal.signal(signal.SIGCHLD, previous)
        _core._reset_sigchld_for_tests()


def threading_main():
    import threading
    return threading.current_thread() is threading.main_thread()


def test_stdin_producer(reactor):
    class Producer:
        def __init__(self):
            self.chunks = [b"a" * 100000] * 20
            self.calls = []

        def resumeProducing(self):
            self.calls.append("resume")
            if self.chunks:
                t.write(self.chunks.pop())
            else:
                t.unregisterProducer()
                t.closeStdin()

        def pauseProducing(self):
            self.calls.append("pause")

        def stopProducing(self):
            self.calls.append("stop")

    p = Recorder(reactor)
    t = reactor.spawnProcess(p, PY, [PY, "-c", "import sys; print(len(sys.stdin.buffer.read()))"])
    producer = Producer()
    t.registerProducer(producer, False)
    run(reactor)
    assert p.data[1] == b"2000000\n"
    assert producer.calls.count("resume") == 21


def test_pause_and_resume_reading(reactor):
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, PY, [PY, "-c", "print('x')"])
    t.pauseProducing()
    reactor.callLater(0.3, lambda: (p.events.append("resumed"), t.resumeProducing()))
    run(reactor)
    assert p.events.index("resumed") < p.events.index(("data", 1))


def test_lose_connection_closes_every_pipe(reactor):
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, PY, [PY, "-c", "import sys; sys.stdin.read()"])
    t.loseConnection()
    run(reactor)
    assert p.ended.check(error.ProcessDone)


def test_large_output(reactor):
    p = Recorder(reactor)
    reactor.spawnProcess(p, PY, [PY, "-c", "import sys; sys.stdout.buffer.write(b'x' * 20000000)"])
    run(reactor, timeout=60)
    assert len(p.data[1]) == 20000000


def test_many_spawns_leave_no_zombie_and_no_descriptor(reactor):
    count, parallel = 500, 10
    before = open_fds()
    state = {"started": 0, "ended": 0}

    class P(ProcessProtocol):
        def processEnded(self, reason):
            assert reason.check(error.ProcessDone)
            state["ended"] += 1
            if state["started"] < count:
                start()
            elif state["ended"] == count:
                reactor.stop()

    def start():
        state["started"] += 1
        reactor.spawnProcess(P(), "/bin/true", ["true"])

    for _ in range(parallel):
        start()
    run(reactor, timeout=120)
    assert state["ended"] == count
    assert zombies_of_mine() == []
    assert open_fds() == before


def test_utils(reactor):
    results = {}

    def collect(name):
        return lambda value: results.__setitem__(name, value)

    utils.getProcessOutput(PY, ["-c", "print('out')"], reactor=reactor).addCallback(collect("output"))
    utils.getProcessOutput(PY, ["-c", "import sys; sys.stderr.write('e')"], reactor=reactor,
                           errortoo=1).addCallback(collect("errortoo"))
    utils.getProcessOutput(PY, ["-c", "import sys; sys.stderr.write('e')"],
                           reactor=reactor).addErrback(lambda f: collect("unexpected")(f.value))
    utils.getProcessValue(PY, ["-c", "raise SystemExit(7)"], reactor=reactor).addCallback(collect("value"))
    utils.getProcessOutputAndValue(PY, ["-c", "import sys; sys.stdout.write(sys.stdin.read()); sys.exit(2)"],
                                   reactor=reactor, stdinBytes=b"in").addCallback(collect("both"))
    utils.getProcessOutputAndValue(PY, ["-c", "import os; os.kill(os.getpid(), 9)"],
                                   reactor=reactor).addErrback(lambda f: collect("signal")(f.value))

    def check():
        if len(results) == 6:
            reactor.stop()
        else:
            reactor.callLater(0.05, check)

    check()
    run(reactor)
    assert results["output"] == b"out\n"
    assert results["errortoo"] == b"e"
    assert isinstance(results["unexpected"], IOError)
    assert results["value"] == 7
    assert results["both"] == (b"in", b"", 2)
    assert results["signal"][2] == signal.SIGKILL


def test_utils_spawn_errors_are_raised(reactor):
    with pytest.raises(FileNotFoundError):
        utils.getProcessValue("/nonexistent/program", reactor=reactor)


def test_shutdown_loses_the_pipes_of_a_running_child(reactor):
    p = Recorder(stop=False)
    t = reactor.spawnProcess(p, "/bin/sleep", ["sleep", "30"])
    reactor.callLater(0.1, reactor.stop)
    run(reactor)
    assert sorted(e for e in p.events if isinstance(e, tuple)) == [("lost", 0), ("lost", 1), ("lost", 2)]
    t.signalProcess("KILL")
    os.waitpid(t.pid, 0)    # the reactor is gone: nobody else reaps it


def test_a_pipe_the_poller_cannot_watch_undoes_the_spawn():
    # select() cannot watch a descriptor >= FD_SETSIZE: the spawn fails at the call, the child is
    # killed and reaped, and every descriptor is closed.
    if "select" not in fastreactor.available_pollers():
        pytest.skip("no select poller on this platform")
    reactor = fastreactor.Reactor("select")
    filler = []
    try:
        while not filler or filler[-1] < 1100:
            filler.append(os.open("/dev/null", os.O_RDONLY))
        for fd in filler[-40:]:
            os.close(fd)
        del filler[-40:]
        before = open_fds()
        with pytest.raises((ValueError, OSError)):
            reactor.spawnProcess(Recorder(), "/bin/sleep", ["sleep", "30"])
        assert open_fds() == before
        assert zombies_of_mine() == []
        assert reactor.getReaders() == [] and reactor._handleCount() == 1
    finally:
        for fd in filler:
            os.close(fd)
        reactor.close()


def test_an_ended_process_is_freed_by_reference_counting(reactor):
    import gc
    import weakref
    p = Recorder(reactor)
    t = reactor.spawnProcess(p, PY, [PY, "-c", "print('x')"])
    ref = weakref.ref(t)
    pipes = [weakref.ref(pipe) for pipe in t.pipes.values()]
    del t
    gc.disable()
    try:
        run(reactor)
        p.transport = None
        assert ref() is None
        assert all(r() is None for r in pipes)
    finally:
        gc.enable()


def test_output_written_just_before_exit_comes_before_process_exited(reactor):
    # The exit is reaped after the rest of the poll's events, so on every poller the last chunk
    # the child wrote (in the pipe when the exit is seen) reaches the protocol first.
    protos = [Recorder(stop=False) for _ in range(5)]
    for p in protos:
        reactor.spawnProcess(p, PY, [PY, "-c", "import os; os.write(2, b'bye'); os._exit(0)"], childFDs={2: "r"})

    def check():
        if all(p.ended is not None for p in protos):
            reactor.stop()
        else:
            reactor.callLater(0.02, check)

    check()
    run(reactor)
    for p in protos:
        assert p.events.index(("data", 2)) < p.events.index("processExited"), p.events
