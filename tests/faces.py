"""The implementations a differential test runs one scenario on: Twisted's epoll reactor (the
oracle), fastreactor's native face and its Twisted face, each as a `Face` (a reactor maker and
the protocol module to build protocols from), plus what the traces share."""
import pytest

import fastreactor
import fastreactor.protocol

twisted_protocol = pytest.importorskip("twisted.internet.protocol")
from twisted.internet import epollreactor  # noqa: E402

from fastreactor.twisted import FastReactor  # noqa: E402


class Face:
    """What a scenario needs from one implementation: a fresh reactor and protocol base classes.
    `name` is "twisted" for Twisted's own reactor only."""

    def __init__(self, name, make_reactor, protocol_module):
        self.name = name
        self.make_reactor = make_reactor
        self.protocol = protocol_module


def twisted_face():
    """Twisted's EPollReactor with Twisted's protocols: the oracle."""
    return Face("twisted", epollreactor.EPollReactor, twisted_protocol)


def native_face(poller):
    """fastreactor's native face (fastreactor.Reactor on `poller`, fastreactor.protocol)."""
    return Face("native-" + poller, lambda: fastreactor.Reactor(poller), fastreactor.protocol)


def twisted_face_on_fastreactor(poller):
    """fastreactor's Twisted face (FastReactor on `poller`) with Twisted's protocols."""
    return Face("fasttwisted-" + poller, lambda: FastReactor(poller), twisted_protocol)


def reason_name(reason):
    """The class name of a Failure's exception, as traces record a reason."""
    return type(reason.value).__name__


class Boom(Exception):
    """The exception scenarios' callbacks raise on purpose."""


def by_actor(trace, actor):
    """`trace` split into one list per actor (`actor(entry)` names it), each in trace order:
    the interleaving of independent actors is not part of the contract, each one's order is."""
    actors = {}
    for entry in trace:
        actors.setdefault(actor(entry), []).append(entry)
    return actors
