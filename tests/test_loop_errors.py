"""An exception in user code run by the loop is logged with its traceback to the 'fastreactor'
logger and the loop keeps running."""
import threading

from guarded_run import run_with_guard


def boom(message):
    """Raise a ZeroDivisionError carrying `message` (so the log can be matched to its source)."""
    raise ZeroDivisionError(message)


def logged_errors(caplog):
    """The ERROR records of the 'fastreactor' logger that carry a traceback."""
    return [r for r in caplog.records
            if r.name == "fastreactor" and r.levelname == "ERROR" and r.exc_info]


def test_an_exception_in_a_timer_is_logged_with_traceback_and_the_loop_goes_on(reactor, caplog):
    trace = []
    with caplog.at_level("ERROR", logger="fastreactor"):
        reactor.callLater(0, boom, "timer boom")
        reactor.callLater(0.02, trace.append, "later timer")
        reactor.callLater(0.03, reactor.stop)
        run_with_guard(reactor, 10.0)
    assert trace == ["later timer"]
    records = logged_errors(caplog)
    assert len(records) == 1
    assert "timer boom" in caplog.text and "Traceback" in caplog.text and "in boom" in caplog.text


def test_an_exception_in_callFromThread_is_logged_and_the_loop_goes_on(reactor, caplog):
    trace = []

    def from_thread():
        reactor.callFromThread(boom, "thread boom")
        reactor.callFromThread(trace.append, "next thread call")
        reactor.callFromThread(reactor.stop)

    with caplog.at_level("ERROR", logger="fastreactor"):
        reactor.callWhenRunning(lambda: threading.Thread(target=from_thread).start())
        run_with_guard(reactor, 10.0)
    assert trace == ["next thread call"]
    assert len(logged_errors(caplog)) == 1
    assert "thread boom" in caplog.text and "Traceback" in caplog.text


def test_an_exception_in_a_startup_trigger_is_logged_and_startup_completes(reactor, caplog):
    trace = []
    with caplog.at_level("ERROR", logger="fastreactor"):
        reactor.addSystemEventTrigger("before", "startup", boom, "startup boom")
        reactor.addSystemEventTrigger("before", "startup", trace.append, "next before")
        reactor.callWhenRunning(trace.append, "running")
        reactor.callWhenRunning(reactor.stop)
        run_with_guard(reactor, 10.0)
    assert trace == ["next before", "running"]
    assert len(logged_errors(caplog)) == 1
    assert "startup boom" in caplog.text


def test_an_exception_in_a_shutdown_trigger_is_logged_and_shutdown_completes(reactor, caplog):
    trace = []
    with caplog.at_level("ERROR", logger="fastreactor"):
        reactor.addSystemEventTrigger("during", "shutdown", boom, "shutdown boom")
        reactor.addSystemEventTrigger("after", "shutdown", trace.append, "after shutdown")
        reactor.callWhenRunning(reactor.stop)
        run_with_guard(reactor, 10.0)
    assert trace == ["after shutdown"]
    assert len(logged_errors(caplog)) == 1
    assert "shutdown boom" in caplog.text


def test_an_exception_in_an_iterate_driven_timer_does_not_escape_iterate(reactor, caplog):
    with caplog.at_level("ERROR", logger="fastreactor"):
        dc = reactor.callLater(0, boom, "iterate boom")
        while not dc.called:
            reactor.iterate(0.001)
    assert "iterate boom" in caplog.text
