"""fastreactor.twisted: fastreactor's compiled engine as a Twisted reactor.

`from fastreactor.twisted import install; install()` before anything imports
`twisted.internet.reactor`, and Twisted programs run on the engine unchanged. `FastReactor()`
makes independent reactors (for tests).
"""
from fastreactor.twisted._reactor import FastReactor

__all__ = ["FastReactor", "install"]


def install(poller=None):
    """Install a FastReactor as Twisted's global reactor and return it.

    Raises twisted.internet.error.ReactorAlreadyInstalledError if a reactor is already installed
    (that is, if twisted.internet.reactor was imported first).
    """
    from twisted.internet.main import installReactor
    reactor = FastReactor(poller)
    installReactor(reactor)
    return reactor
