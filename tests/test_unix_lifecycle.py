"""Differential tests for UNIX stream sockets: each scenario runs on Twisted's epoll reactor and on
fastreactor (every poller); the callback traces of factories and protocols must be equal. The
scenarios every stream kind shares are in tests/lifecycle_scenarios.py; those below are UNIX's own."""
import os
import socket
import tempfile

import pytest

from lifecycle_scenarios import StreamKind, compare, recording_classes

pytest.importorskip("twisted.internet.protocol")


def socket_path():
    """A fresh path for a socket file in a new temporary directory (short: sun_path is small)."""
    return os.path.join(tempfile.mkdtemp(prefix="fru"), "s")


class UNIX(StreamKind):
    """UNIX stream sockets, each port on a fresh socket file."""

    address_name = "UNIXAddress"

    def listen(self, reactor, factory):
        path = socket_path()
        reactor.listenUNIX(path, factory)
        return path

    def connect(self, reactor, path, factory):
        return reactor.connectUNIX(path, factory)


# ---- UNIX's own scenarios --------------------------------------------------------------------------

def scenario_refused_missing_file(reactor, face, trace, done):
    CF, _ = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    reactor.connectUNIX(socket_path(), CF())


def scenario_refused_no_listener(reactor, face, trace, done):
    # A socket file whose socket is closed (a server that died without removing it).
    path = socket_path()
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    CF, _ = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    reactor.connectUNIX(path, CF())


def scenario_stop_connecting(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    connector = UNIX().serve(reactor, SF, CF)
    trace.append(("state", connector.state))
    connector.stopConnecting()
    trace.append(("state", connector.state))


def scenario_stop_listening(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace)
    path = socket_path()
    port = reactor.listenUNIX(path, SF())
    trace.append(("file exists", os.path.exists(path)))
    d = port.stopListening()
    trace.append("stopListening returned")

    def fired(result):
        trace.append(("stopListening fired", result, os.path.exists(path)))
        done()

    d.addCallback(fired)


SCENARIOS = dict(UNIX().scenarios(), **{
    "refused_missing_file": scenario_refused_missing_file,
    "refused_no_listener": scenario_refused_no_listener,
    "stop_connecting": scenario_stop_connecting,
    "stop_listening": scenario_stop_listening,
})


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_callback_order_matches_twisted(name, poller, caplog):
    trace = compare(SCENARIOS[name], poller)
    assert trace, "the scenario recorded nothing"


def test_echo_trace_is_the_expected_sequence(poller):
    """Pin the sequence itself (not only the equality with Twisted): UNIXAddress for both sides."""
    UNIX().check_echo_trace(poller)
