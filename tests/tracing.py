"""Running one traced scenario on a reactor, for the differential tests that compare callback
traces between Twisted's epoll reactor and fastreactor."""


def run_traced(face, scenario, timeout=5.0):
    """Run `scenario(reactor, face, trace, done)` on a fresh `face.make_reactor()` until the
    scenario calls done() (then 50 ms more, so late callbacks are traced too) or `timeout` seconds
    pass ("TIMEOUT" is traced then). Returns the trace; the reactor is closed if it can be."""
    reactor = face.make_reactor()
    trace = []
    finished = []

    def done():
        if not finished:
            finished.append(True)
            reactor.callLater(0.05, reactor.stop)

    reactor.callWhenRunning(scenario, reactor, face, trace, done)
    reactor.callLater(timeout, lambda: (trace.append("TIMEOUT"), reactor.stop()))
    reactor.run(installSignalHandlers=False)
    if hasattr(reactor, "close"):
        reactor.close()
    else:
        close_twisted_reactor(reactor)
    return trace


def close_twisted_reactor(reactor):
    """Close the descriptors of one of Twisted's own reactors after its last run: its waker pipe
    and its epoll descriptor (where it has one).

    Twisted's reactors have no close(): the waker's two pipe ends stay open for the life of the
    process, and the epoll descriptor with the reactor, which stays alive (in a cycle or held
    elsewhere) after any scenario that made a connection. With a fresh oracle reactor per
    differential test, that was hundreds of descriptors in a full run, past the 384 above which
    tests/conftest.py's poller fixture collects garbage before every test."""
    waker = getattr(reactor, "waker", None)
    if waker is not None:
        reactor.removeReader(waker)
        waker.connectionLost(None)
        reactor.waker = None
    poller = getattr(reactor, "_poller", None)
    if hasattr(poller, "close"):
        poller.close()
