"""Differential tests for child processes: each scenario runs on Twisted's epoll reactor and on
fastreactor (the native face on every poller, and the Twisted face), and the traces of the process protocol's callbacks must be equal.

Callbacks that the kernel reports at the same moment (a child's exit closes its pipes as it ends)
come in an order neither reactor fixes, so the trace sorts each burst of close events (pipes
lost and processExited within 60 ms of each other); everything else keeps its order. The
scenarios space what they do by 150-400 ms so that separate steps never form one burst."""
import sys
import time

import pytest

import fastreactor
import fastreactor.protocol

twisted_protocol = pytest.importorskip("twisted.internet.protocol")
from twisted.internet import epollreactor  # noqa: E402

from twisted_cleanup import dispose_twisted_reactor  # noqa: E402

PY = sys.executable
BURST = 0.06


class Face:
    def __init__(self, name, make_reactor, protocol_module):
        self.name = name
        self.make_reactor = make_reactor
        self.protocol = protocol_module


FACES = {"twisted": lambda: Face("twisted", epollreactor.EPollReactor, twisted_protocol)}
for _poller in fastreactor.available_pollers():
    FACES["fastreactor-" + _poller] = (
        lambda p=_poller: Face("fastreactor-" + p, lambda: fastreactor.Reactor(p), fastreactor.protocol))


def _twisted_face_on_fastreactor():
    from fastreactor.twisted import FastReactor
    return Face("fastreactor-twisted", FastReactor, twisted_protocol)


FACES["fastreactor-twisted"] = _twisted_face_on_fastreactor


def tracing_protocol(face, trace, reactor, on_data=None, on_made=None):
    start = time.monotonic()

    def note(*event):
        trace.append((time.monotonic() - start, event))

    class Traced(face.protocol.ProcessProtocol):
        def connectionMade(self):
            note("made")
            if on_made is not None:
                on_made(self)

        def childDataReceived(self, fd, data):
            note("data", fd, bytes(data))
            if on_data is not None:
                on_data(self, fd, data)

        def childConnectionLost(self, fd):
            note("lost", fd)

        def processExited(self, reason):
            note("exited", type(reason.value).__name__, reason.value.exitCode, reason.value.signal)

        def processEnded(self, reason):
            note("ended", type(reason.value).__name__, reason.value.exitCode, reason.value.signal)
            reactor.callLater(0.05, reactor.stop)

    return Traced()


def canonical(trace):
    """Merge consecutive data chunks of one descriptor; sort each burst of close events."""
    out = []
    burst = []
    last_close = None

    def flush():
        out.extend(sorted(burst))
        del burst[:]

    for at, event in trace:
        if event[0] in ("lost", "exited"):
            if burst and at - last_close > BURST:
                flush()
            burst.append(event)
            last_close = at
            continue
        flush()
        if event[0] == "data" and out and out[-1][0] == "data" and out[-1][1] == event[1]:
            out[-1] = ("data", event[1], out[-1][2] + event[2])
        else:
            out.append(event)
    flush()
    return out


def run_scenario(face, scenario, timeout=15):
    reactor = face.make_reactor()
    trace = []
    reactor.callWhenRunning(scenario, reactor, face, trace)
    reactor.callLater(timeout, lambda: (trace.append((99, ("TIMEOUT",))), reactor.stop()))
    # Twisted reaps children through its SIGCHLD handler, installed only with the signal handlers.
    reactor.run(installSignalHandlers=True)
    if hasattr(reactor, "close"):
        reactor.close()
    else:
        dispose_twisted_reactor(reactor)     # Twisted's: its waker pipe is never closed otherwise
    return canonical(trace)


def spawn(reactor, protocol, code, **kw):
    return reactor.spawnProcess(protocol, PY, [PY, "-c", code], **kw)


def out_err_exit(reactor, face, trace):
    code = ("import sys, time; sys.stdout.write('a'); sys.stdout.flush(); time.sleep(0.15); "
            "sys.stderr.write('b'); sys.stderr.flush(); time.sleep(0.15); sys.exit(0)")
    spawn(reactor, tracing_protocol(face, trace, reactor), code)


def exit_code(reactor, face, trace):
    spawn(reactor, tracing_protocol(face, trace, reactor), "import sys; sys.exit(5)")


def killed(reactor, face, trace):
    def on_data(proto, fd, data):
        proto.transport.signalProcess("KILL")

    spawn(reactor, tracing_protocol(face, trace, reactor, on_data=on_data),
          "import time; print('ready', flush=True); time.sleep(30)")


def terminated_by_term(reactor, face, trace):
    def on_data(proto, fd, data):
        proto.transport.signalProcess("TERM")

    spawn(reactor, tracing_protocol(face, trace, reactor, on_data=on_data),
          "import time; print('ready', flush=True); time.sleep(30)")


def close_stdin(reactor, face, trace):
    def on_made(proto):
        proto.transport.write(b"some input\n")
        proto.transport.closeStdin()

    spawn(reactor, tracing_protocol(face, trace, reactor, on_made=on_made),
          "import sys, time; time.sleep(0.2); data = sys.stdin.read(); print(len(data), flush=True); "
          "time.sleep(0.2)")


def exit_before_pipes_close(reactor, face, trace):
    code = ("import subprocess, sys, time; time.sleep(0.15); subprocess.Popen([sys.executable, '-c', "
            "'import time, sys; time.sleep(0.4); sys.stdout.write(\"late\")'], stdin=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL)")
    spawn(reactor, tracing_protocol(face, trace, reactor), code)


def pipes_closed_before_exit(reactor, face, trace):
    code = ("import os, time; time.sleep(0.15); os.close(2); time.sleep(0.15); os.close(1); "
            "time.sleep(0.15); os.close(0); time.sleep(0.3)")
    spawn(reactor, tracing_protocol(face, trace, reactor), code)


def parent_closes_stdout(reactor, face, trace):
    def on_made(proto):
        proto.transport.closeStdout()

    spawn(reactor, tracing_protocol(face, trace, reactor, on_made=on_made),
          "import time, sys; time.sleep(0.3); sys.stderr.write('e')")


def lose_connection(reactor, face, trace):
    def on_data(proto, fd, data):
        proto.transport.loseConnection()

    spawn(reactor, tracing_protocol(face, trace, reactor, on_data=on_data),
          "import sys, time; print('x', flush=True); sys.stdin.read(); time.sleep(0.2)")


def child_fds(reactor, face, trace):
    def on_made(proto):
        proto.transport.writeToChild(4, b"in4")
        proto.transport.closeChildFD(4)

    code = ("import os, time; d = os.read(4, 10); time.sleep(0.15); os.write(3, d + b'!'); "
            "time.sleep(0.15); os.write(1, b'one')")
    spawn(reactor, tracing_protocol(face, trace, reactor, on_made=on_made), code,
          childFDs={1: "r", 3: "r", 4: "w"})


def raising_out_received(reactor, face, trace):
    def on_data(proto, fd, data):
        if fd == 1:
            raise RuntimeError("boom in childDataReceived")

    spawn(reactor, tracing_protocol(face, trace, reactor, on_data=on_data),
          "import sys, time; print('x', flush=True); time.sleep(0.2); sys.stderr.write('still'); "
          "sys.stderr.flush(); time.sleep(0.2)")


SCENARIOS = [out_err_exit, exit_code, killed, terminated_by_term, close_stdin,
             exit_before_pipes_close, pipes_closed_before_exit, parent_closes_stdout,
             lose_connection, child_fds, raising_out_received]
_reference = {}


def reference(scenario):
    if scenario.__name__ not in _reference:
        _reference[scenario.__name__] = run_scenario(FACES["twisted"](), scenario)
    return _reference[scenario.__name__]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
@pytest.mark.parametrize("face", [f for f in FACES if f != "twisted"])
def test_callback_order_matches_twisted(scenario, face):
    expected = reference(scenario)
    assert ("TIMEOUT",) not in expected
    assert run_scenario(FACES[face](), scenario) == expected


def test_reference_traces_are_what_the_scenarios_say():
    """The Twisted traces themselves, so a scenario that stopped showing its point is noticed."""
    assert reference(out_err_exit) == [
        ("made",), ("data", 1, b"a"), ("data", 2, b"b"),
        ("exited", "ProcessDone", 0, None), ("lost", 0), ("lost", 1), ("lost", 2),
        ("ended", "ProcessDone", 0, None)]
    assert reference(killed)[-1] == ("ended", "ProcessTerminated", None, 9)
    assert reference(exit_before_pipes_close)[-3:] == [
        ("data", 1, b"late"), ("lost", 1), ("ended", "ProcessDone", 0, None)]
    assert reference(pipes_closed_before_exit) == [
        ("made",), ("lost", 2), ("lost", 1), ("lost", 0), ("exited", "ProcessDone", 0, None),
        ("ended", "ProcessDone", 0, None)]
