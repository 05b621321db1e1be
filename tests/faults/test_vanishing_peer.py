"""A peer that vanishes: its link goes down (no FIN, no RST). With TCP keepalive on (aggressive
TCP_KEEPIDLE/INTVL/CNT through `getHandle()`), the connection is lost with ConnectionLost within
the keepalive time; a TimeoutMixin protocol loses it within its timeout, with Twisted's reason
(ConnectionDone for the default `loseConnection`, ConnectionAborted when it aborts with data
queued for the vanished peer). Over TLS on the Twisted face (`+tls`) the same as Twisted's own
listenSSL, whatever that is (see test_vanishing_peer_tls)."""
import time

import pytest

from faultnet import ChildFailed

from faultnet import (NATIVE, SERVER_IP, TLS_SUFFIX, TWISTED, TWISTED_FACE, face_env,
                      native_on_every_poller)

pytestmark = pytest.mark.faults

KEEPALIVE = 1 + 1 * 2   # TCP_KEEPIDLE + TCP_KEEPINTVL * TCP_KEEPCNT, seconds
TIMEOUT = 2.0


def vanish(link, face, tls=None, grace=10):
    """Run the scenario; {mode: lost event} (the modes whose connection was lost within the
    keepalive time and `grace` seconds more), {mode: timeout event}, and when the link went
    down."""
    face, env = face_env(face, tls)
    server = link.spawn(link.server_ns, "vanish_server.py", face, SERVER_IP, env=env,
                        name="server")
    port = server.expect("listening", timeout=20)["port"]
    link.spawn(link.client_ns, "plain_client.py", SERVER_IP, port, "K", "T", "A", env=env,
               name="client")
    ready = {}
    for _ in range(3):
        event = server.expect("ready", timeout=20)
        ready[event["mode"]] = event
    # Let the last packets of the handshakes be acknowledged first (a TLS 1.3 server sends its
    # session tickets after the client's first data may already be in): with unacknowledged data
    # the kernel retransmits for minutes instead of probing with keepalives, and a loaded machine
    # once had Twisted's own TLS server miss the keepalive deadline that way.
    time.sleep(0.3)
    link.down(link.client_ns)
    down_at = time.monotonic()
    server.send("write")
    server.expect("written", timeout=5)
    lost = {}
    deadline = down_at + KEEPALIVE + grace
    while len(lost) < 3 and time.monotonic() < deadline:
        try:
            event = server.expect("lost", timeout=deadline - time.monotonic())
        except ChildFailed as e:
            if "no 'lost' event" not in str(e):
                raise
            break
        lost[event["mode"]] = event
    timeouts = {e["mode"]: e for e in server.events if e.get("event") == "timeout"}
    return lost, timeouts, down_at


def run_oracle(face, tls=None, grace=10):
    from faultnet import Link, namespaces_unavailable
    why = namespaces_unavailable()
    if why:
        pytest.skip(why)
    made = Link()
    try:
        return vanish(made, face, tls, grace)
    finally:
        made.close()


@pytest.fixture(scope="module")
def oracle():
    """Twisted's EPollReactor losing the same vanished peer."""
    return run_oracle(TWISTED)


@pytest.mark.parametrize("face", native_on_every_poller() + [TWISTED_FACE])
def test_vanishing_peer(link, face, oracle):
    lost, timeouts, down_at = vanish(link, face)
    twisted_lost = oracle[0]
    assert {m: e["reason"] for m, e in lost.items()} == \
        {m: e["reason"] for m, e in twisted_lost.items()}

    keep = lost["K"]
    assert keep["reason"] == "ConnectionLost"
    assert keep["at"] - keep["last_data"] >= KEEPALIVE - 0.5, keep
    assert keep["at"] - down_at <= KEEPALIVE + 3, (keep, down_at)
    assert "K" not in timeouts

    for mode, reason in (("T", "ConnectionDone"), ("A", "ConnectionAborted")):
        event = lost[mode]
        assert event["reason"] == reason, event
        assert mode in timeouts, timeouts
        assert TIMEOUT - 0.05 <= timeouts[mode]["at"] - event["last_data"] <= TIMEOUT + 1.5
        assert event["at"] - timeouts[mode]["at"] <= 0.5, (event, timeouts[mode])


def test_oracle_loses_them(oracle):
    """Twisted's own reactor sees the same faults (so the comparison compares something)."""
    assert {m: e["reason"] for m, e in oracle[0].items()} == {
        "K": "ConnectionLost", "T": "ConnectionDone", "A": "ConnectionAborted"}


def test_vanishing_peer_tls(link, tls):
    """Over TLS: the Twisted face loses (or keeps) each connection as Twisted's listenSSL does.
    Twisted's TLS `loseConnection` waits for the peer's close_notify, which a vanished peer never
    sends, so the default `timeoutConnection` does not end the connection: only keepalive and
    `abortConnection` do, and an abort of a TLS connection is reported as ConnectionLost."""
    twisted_lost, _, _ = run_oracle(TWISTED + TLS_SUFFIX, tls, grace=3)
    lost, timeouts, down_at = vanish(link, TWISTED_FACE + TLS_SUFFIX, tls, grace=3)
    print("twisted:", twisted_lost, "fastreactor:", lost, timeouts)
    assert {m: e["reason"] for m, e in lost.items()} == \
        {m: e["reason"] for m, e in twisted_lost.items()}
    assert lost["K"]["reason"] == "ConnectionLost"
    assert lost["K"]["at"] - down_at <= KEEPALIVE + 3, (lost["K"], down_at)
    assert lost["A"]["reason"] == "ConnectionLost"
    assert "T" not in lost
    assert "T" in timeouts and "A" in timeouts, timeouts


def test_vanishing_peer_native_tls(link, tls):
    """Over the native face's TLS (listenSSL with a `fastreactor.ssl` context): keepalive ends
    the connection with ConnectionLost in the keepalive time, as on TCP. As Twisted's TLS does
    (test_vanishing_peer_tls), the native `loseConnection` waits for the peer's close_notify
    (src/tls.pyx), which a vanished peer never sends, so the default `timeoutConnection` does
    not end the connection: only keepalive and `abortConnection` do, and an abort reaches the
    protocol as ConnectionLost, as Twisted's TLS reports it."""
    lost, timeouts, down_at = vanish(link, NATIVE + TLS_SUFFIX, tls, grace=3)
    print("fastreactor native TLS:", lost, timeouts)
    assert {m: e["reason"] for m, e in lost.items()} == {
        "K": "ConnectionLost", "A": "ConnectionLost"}
    keep = lost["K"]
    assert keep["at"] - keep["last_data"] >= KEEPALIVE - 0.5, keep
    assert keep["at"] - down_at <= KEEPALIVE + 3, (keep, down_at)
    assert "K" not in timeouts
    assert "T" in timeouts and "A" in timeouts, timeouts
    event = lost["A"]
    assert TIMEOUT - 0.05 <= timeouts["A"]["at"] - event["last_data"] <= TIMEOUT + 1.5
    assert event["at"] - timeouts["A"]["at"] <= 0.5, (event, timeouts["A"])
