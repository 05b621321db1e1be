"""A FastReactor (fastreactor's Twisted face) for one test, torn down afterwards: what the Twisted
face's test modules each make their `reactor` fixture from."""
import contextlib

from fastreactor.twisted import FastReactor


@contextlib.contextmanager
def fast_twisted_reactor(poller):
    """A new FastReactor on `poller`; on leaving, every connection it still has is dropped
    (disconnectAll), its delayed calls are cancelled and it is closed."""
    r = FastReactor(poller)
    try:
        yield r
    finally:
        r.disconnectAll()
        for call in r.getDelayedCalls():
            call.cancel()
        r.close()
