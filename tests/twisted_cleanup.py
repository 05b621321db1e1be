"""Disposing of a Twisted reactor a test built as an oracle and will not run again.

A dropped Twisted reactor is not enough: it is kept in reference cycles (so its epoll descriptor
waits for the cyclic collector), and its waker's pipe (`_UnixWaker`, two raw descriptors from
os.pipe) is never closed at all, collected or not. Twisted's own test suite releases these
explicitly (twisted.internet.test.reactormixins.ReactorBuilder._unbuildReactor); this does the
same for a reactor that was never installed as the global one."""


def dispose_twisted_reactor(reactor):
    """Release what `reactor` (a Twisted reactor that is not running) holds: its signal handler
    and internal readers (the waker's pipe, closed), its connections, its pending delayed calls,
    its thread pool and its poller (epoll/poll object). Safe to call twice."""
    uninstall = getattr(reactor, "_uninstallHandler", None)
    if uninstall is not None:
        uninstall()
    internal = getattr(reactor, "_internalReaders", None)
    if internal:
        for reader in list(internal):
            reactor.removeReader(reader)
            reader.connectionLost(None)
        internal.clear()
    reactor.disconnectAll()
    for call in reactor.getDelayedCalls():
        if call.active():
            call.cancel()
    stop_pool = getattr(reactor, "_stopThreadPool", None)
    if stop_pool is not None and getattr(reactor, "threadpool", None) is not None:
        stop_pool()
    poller = getattr(reactor, "_poller", None)
    if poller is not None and hasattr(poller, "close"):
        poller.close()
