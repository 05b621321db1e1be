"""Signals: run() stops cleanly on SIGINT/SIGTERM (shutdown triggers run, exit code 0) and puts
the previous handlers back; run(installSignalHandlers=False) leaves them alone."""
import os
import signal
import subprocess
import tempfile
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import signal, sys
    import fastreactor

    reactor = fastreactor.Reactor(sys.argv[1])
    watched = (signal.SIGINT, signal.SIGTERM)
    before = {s: signal.getsignal(s) for s in watched}
    reactor.addSystemEventTrigger("before", "shutdown", print, "before shutdown", flush=True)
    reactor.addSystemEventTrigger("during", "shutdown", print, "during shutdown", flush=True)
    reactor.addSystemEventTrigger("after", "shutdown", print, "after shutdown", flush=True)
    reactor.callWhenRunning(print, "ready", flush=True)
    reactor.callLater(30, print, "signal never arrived", flush=True)
    reactor.callLater(30, reactor.stop)
    reactor.run()
    print("run returned", flush=True)
    after = {s: signal.getsignal(s) for s in watched}
    print("handlers restored" if after == before else "handlers NOT restored: %r" % (after,), flush=True)
    previous_fd = signal.set_wakeup_fd(-1)
    print("wakeup fd restored" if previous_fd == -1 else "wakeup fd left at %d" % previous_fd, flush=True)
    sys.exit(0)
""")


def run_child_and_signal(poller, signum):
    """Start the child on `poller`, wait for 'ready', send `signum`; return (exit code, lines)."""
    # The child starts with SIGINT at its default even if this run ignores it (as `nohup ... &`
    # does): the reactor, like Twisted's, leaves an ignored SIGINT alone.
    child = subprocess.Popen([sys.executable, "-c", CHILD, poller], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        ready = child.stdout.readline()
        assert ready.strip() == "ready", (ready, child.stderr.read() if child.poll() is not None else "")
        child.send_signal(signum)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, out.splitlines(), err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_run_cleanly_with_shutdown_triggers_and_restores_handlers(poller, signum):
    code, lines, err = run_child_and_signal(poller, signum)
    assert code == 0, err
    assert lines == ["before shutdown", "during shutdown", "after shutdown", "run returned",
                     "handlers restored", "wakeup fd restored"], err


def test_run_installs_handlers_while_running_and_restores_them(reactor):
    """In this (main) thread: during run() SIGINT/SIGTERM belong to the reactor; afterwards the
    previous ones are back, and so is the wake-up fd."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    seen = {}

    def look():
        seen.update({s: signal.getsignal(s) for s in previous})
        reactor.stop()

    reactor.callWhenRunning(look)
    reactor.callLater(10, reactor.crash)
    reactor.run()
    assert seen[signal.SIGTERM] != previous[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in previous} == previous
    assert signal.set_wakeup_fd(-1) == -1


def test_run_without_signal_handlers_leaves_them_alone(reactor):
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    seen = {}

    def look():
        seen.update({s: signal.getsignal(s) for s in previous})
        seen["wakeup"] = signal.set_wakeup_fd(-1)
        reactor.stop()

    reactor.callWhenRunning(look)
    reactor.callLater(10, reactor.crash)
    reactor.run(installSignalHandlers=False)
    assert seen.pop("wakeup") == -1
    assert seen == previous
    assert {s: signal.getsignal(s) for s in previous} == previous


def test_a_signal_sent_to_ourselves_stops_the_reactor_through_the_loop(reactor):
    """SIGTERM to this process while run() sleeps in the poll: the handler runs in the loop and
    the reactor stops with its shutdown triggers."""
    trace = []
    reactor.addSystemEventTrigger("during", "shutdown", trace.append, "shutdown")
    reactor.callWhenRunning(reactor.callLater, 0.05, os.kill, os.getpid(), signal.SIGTERM)
    guard = reactor.callLater(10, reactor.crash)
    reactor.run()
    assert guard.active(), "SIGTERM did not stop the reactor"
    assert trace == ["shutdown"]
