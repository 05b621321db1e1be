"""fastreactor: Twisted's programming model on a compiled event loop.

`from fastreactor import reactor` gives the global reactor (made on first use);
`fastreactor.Reactor(poller=...)` makes independent ones. Protocols and factories are in
`fastreactor.protocol`; errors, failures and Deferreds in `error`, `failure`, `defer`.
"""
from fastreactor._reactor import Reactor, available_pollers

__all__ = ["Reactor", "available_pollers", "reactor", "__version__"]
__version__ = "0.1.0"

_global_reactor = None


def __getattr__(name):
    # The global reactor is made on first access, so importing fastreactor opens no descriptors.
    global _global_reactor
    if name == "reactor":
        if _global_reactor is None:
            _global_reactor = Reactor()
        return _global_reactor
    raise AttributeError("module 'fastreactor' has no attribute %r" % (name,))
