"""A peer that vanishes: its link goes down (no FIN, no RST). With TCP keepalive on (aggressive
TCP_KEEPIDLE/INTVL/CNT through `getHandle()`), the connection is lost with ConnectionLost within
the keepalive time; a TimeoutMixin protocol loses it within its timeout, with Twisted's reason
(ConnectionDone for the default `loseConnection`, ConnectionAborted when it aborts with data
queued for the vanished peer)."""
import time

import pytest

from faultnet import SERVER_IP, TWISTED, TWISTED_FACE, native_on_every_poller

pytestmark = pytest.mark.faults

KEEPALIVE = 1 + 1 * 2   # TCP_KEEPIDLE + TCP_KEEPINTVL * TCP_KEEPCNT, seconds
TIMEOUT = 2.0


def vanish(link, face):
    """Run the scenario; {mode: lost event} and {mode: timeout event}."""
    server = link.spawn(link.server_ns, "vanish_server.py", face, SERVER_IP, name="server")
    port = server.expect("listening", timeout=20)["port"]
    link.spawn(link.client_ns, "plain_client.py", SERVER_IP, port, "K", "T", "A", name="client")
    ready = {}
    for _ in range(3):
        event = server.expect("ready", timeout=20)
        ready[event["mode"]] = event
    link.down(link.client_ns)
    down_at = time.monotonic()
    server.send("write")
    server.expect("written", timeout=5)
    lost = {}
    while len(lost) < 3:
        event = server.expect("lost", timeout=KEEPALIVE + 15)
        lost[event["mode"]] = event
    timeouts = {e["mode"]: e for e in server.events if e.get("event") == "timeout"}
    return lost, timeouts, down_at


@pytest.fixture(scope="module")
def oracle():
    """Twisted's EPollReactor losing the same vanished peer."""
    from faultnet import Link, namespaces_unavailable
    why = namespaces_unavailable()
    if why:
        pytest.skip(why)
    made = Link()
    try:
        return vanish(made, TWISTED)
    finally:
        made.close()


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
