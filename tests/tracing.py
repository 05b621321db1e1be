"""Running one traced scenario on a reactor, for the differential tests that compare callback
traces between Twisted's epoll reactor and fastreactor."""
from twisted_cleanup import dispose_twisted_reactor


def run_traced(face, scenario, timeout=5.0):
    """Run `scenario(reactor, face, trace, done)` on a fresh `face.make_reactor()` until the
    scenario calls done() (then 50 ms more, so late callbacks are traced too) or `timeout` seconds
    pass ("TIMEOUT" is traced then). Returns the trace; the reactor is closed (a Twisted one disposed of)."""
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
        dispose_twisted_reactor(reactor)     # Twisted's: its waker pipe is never closed otherwise
    return trace
