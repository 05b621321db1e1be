"""The native reactor: the compiled loop plus Twisted's reactor behaviour, with native types."""
from fastreactor import _core
from fastreactor._base import ReactorMixin
from fastreactor._native import native_api
from fastreactor._tls_reactor import TLSReactorMixin
from fastreactor._unix_reactor import UNIXReactorMixin

__all__ = ["Reactor", "available_pollers"]

available_pollers = _core.available_pollers


class Reactor(TLSReactorMixin, UNIXReactorMixin, ReactorMixin, _core.Loop):
    """An independent reactor. Reactor(poller=None): `poller` is one of available_pollers()
    ("epoll", "kqueue", "poll", "select"); None takes $FASTREACTOR_POLLER, else the best one.

    It provides Twisted's IReactorCore (run, stop, crash, callWhenRunning, system event triggers),
    IReactorTime (seconds, callLater, getDelayedCalls), IReactorThreads (callFromThread,
    callInThread, getThreadPool, suggestThreadPoolSize), IReactorFDSet, IReactorTCP
    (listenTCP, connectTCP), IReactorUNIX (listenUNIX, connectUNIX) and IReactorSocket's stream
    half (adoptStreamPort, adoptStreamConnection).
    """

    def __init__(self, poller=None):
        _core.Loop.__init__(self, poller)
        self._initReactor(native_api)

    def __repr__(self):
        return "<fastreactor.Reactor poller=%s running=%s>" % (self.poller.name, self.running)
