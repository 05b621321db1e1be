"""On the Twisted face, errors raised by system event triggers and the reactor's shutdown messages
go to Twisted's log (twisted.python.log), as Twisted's own reactors send them, and not to the
'fastreactor' logging logger; compared against Twisted's epoll reactor."""
import logging
import signal

import pytest

pytest.importorskip("twisted")

from twisted.internet import epollreactor  # noqa: E402
from twisted.python import log  # noqa: E402

import fastreactor  # noqa: E402
from fastreactor.twisted import FastReactor  # noqa: E402


class TriggerBoom(Exception):
    pass


def boom(what):
    raise TriggerBoom(what)


def twisted_log_events(make_reactor, scenario):
    """Run `scenario(reactor)` then the reactor (it stops itself); return the events Twisted's log
    observed (isError, failure type and value, or message) in order."""
    events = []

    def observer(event):
        if event.get("isError"):
            failure = event.get("failure")
            events.append(("error", failure.type.__name__, str(failure.value)))
        else:
            events.append(("msg", log.textFromEventDict(event)))

    reactor = make_reactor()
    log.addObserver(observer)
    try:
        scenario(reactor)
        reactor.callLater(5, reactor.stop)
        reactor.run(installSignalHandlers=False)
    finally:
        log.removeObserver(observer)
        if hasattr(reactor, "close"):
            reactor.close()
    return events


def raising_triggers(reactor):
    reactor.addSystemEventTrigger("before", "startup", boom, "before startup")
    reactor.addSystemEventTrigger("during", "startup", boom, "during startup")
    reactor.addSystemEventTrigger("after", "shutdown", boom, "after shutdown")
    reactor.addSystemEventTrigger("during", "custom", boom, "during custom")
    reactor.callWhenRunning(reactor.fireSystemEvent, "custom")
    reactor.callWhenRunning(reactor.stop)


def errors(events):
    return [e for e in events if e[0] == "error"]


def test_trigger_errors_go_to_twisteds_log_as_on_epollreactor(poller, caplog):
    expected = twisted_log_events(epollreactor.EPollReactor, raising_triggers)
    with caplog.at_level(logging.DEBUG, logger="fastreactor"):
        actual = twisted_log_events(lambda: FastReactor(poller), raising_triggers)
    assert errors(expected) == [
        ("error", "TriggerBoom", "before startup"), ("error", "TriggerBoom", "during startup"),
        ("error", "TriggerBoom", "during custom"), ("error", "TriggerBoom", "after shutdown"),
    ]
    assert errors(actual) == errors(expected)
    assert [r for r in caplog.records if r.name == "fastreactor"] == []


def test_trigger_errors_stay_on_the_fastreactor_logger_on_the_native_face(poller, caplog):
    with caplog.at_level(logging.ERROR, logger="fastreactor"):
        events = twisted_log_events(lambda: fastreactor.Reactor(poller), raising_triggers)
    assert errors(events) == []
    logged = [r for r in caplog.records if r.name == "fastreactor" and r.levelno == logging.ERROR]
    assert [r.exc_info[0] for r in logged] == [TriggerBoom] * 4
    assert all("While calling system event trigger handler" in r.getMessage() for r in logged)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_shutdown_signal_message_goes_to_twisteds_log(poller, signum, caplog):
    def deliver(reactor):
        handler = reactor.sigInt if signum == signal.SIGINT else reactor.sigTerm
        reactor.callWhenRunning(handler, signum)

    name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
    expected = twisted_log_events(epollreactor.EPollReactor, deliver)
    with caplog.at_level(logging.DEBUG, logger="fastreactor"):
        actual = twisted_log_events(lambda: FastReactor(poller), deliver)
    message = ("msg", "Received %s, shutting down." % (name,))
    assert message in expected
    assert message in actual
    assert [r for r in caplog.records if r.name == "fastreactor"] == []
