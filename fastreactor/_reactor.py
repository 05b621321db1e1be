"""The native reactor: the compiled loop plus Twisted's reactor behaviour, with native types."""
from fastreactor import _core
from fastreactor._base import ReactorMixin
from fastreactor._datagram_reactor import DatagramReactorMixin
from fastreactor._native import native_api
from fastreactor._tls_reactor import TLSReactorMixin
from fastreactor._process_reactor import ProcessReactorMixin
from fastreactor._unix_reactor import UNIXReactorMixin

__all__ = ["Reactor", "available_pollers"]

available_pollers = _core.available_pollers


class Reactor(TLSReactorMixin, UNIXReactorMixin, DatagramReactorMixin, ProcessReactorMixin,
              ReactorMixin, _core.Loop):
    """An independent reactor. Reactor(poller=None): `poller` is one of available_pollers()
    ("epoll", "kqueue", "poll", "select", and the opt-in "io_uring" where the kernel allows it);
    None takes $FASTREACTOR_POLLER, else the best one (never io_uring).

    It provides Twisted's IReactorCore (run, stop, crash, callWhenRunning, system event triggers),
    IReactorTime (seconds, callLater, getDelayedCalls), IReactorThreads (callFromThread,
    callInThread, getThreadPool, suggestThreadPoolSize), IReactorFDSet, IReactorTCP
    (listenTCP, connectTCP), IReactorSSL (listenSSL, connectSSL), IReactorUNIX (listenUNIX,
    connectUNIX), IReactorUDP, IReactorMulticast, IReactorUNIXDatagram, IReactorProcess
    (spawnProcess) and IReactorSocket (adoptStreamPort, adoptStreamConnection, adoptDatagramPort).
    """

    def __init__(self, poller=None):
        _core.Loop.__init__(self, poller)
        self._initReactor(native_api)

    def __repr__(self):
        return "<fastreactor.Reactor poller=%s running=%s>" % (self.poller.name, self.running)
