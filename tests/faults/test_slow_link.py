"""A slow link that drops: a token bucket of a few Mbit/s with a small queue on both ends of the
veth pair. Data sent both ways at once over 100 connections arrives intact and in order, and
every producer is paused and resumed correctly on the way.

The issue asks for 64 MiB each way; at 8 Mbit/s that is over a minute per run, more than the
CI budget of the fault tests allows, so CI sends 96 KiB per connection each way (9.4 MiB in all,
about 12 s); FASTREACTOR_FAULTS_FULL=1 sends the full 64 MiB (640 KiB per connection).
The client opens its connections 20 ms apart: a burst of 100 handshakes into the small dropping
queue loses whole handshakes and the kernel then aborts a few connections itself (ETIMEDOUT,
TcpExtTCPAbortOnTimeout), on Twisted's own reactor as on fastreactor.
"""
import os
import time

import pytest

from faultnet import NATIVE, SERVER_IP, TWISTED_FACE

pytestmark = pytest.mark.faults

CONNECTIONS = 100
FULL = os.environ.get("FASTREACTOR_FAULTS_FULL") == "1"
SIZE = (64 << 20) // CONNECTIONS if FULL else 96 << 10
RATE = "8mbit"


@pytest.mark.timeout(900 if FULL else 120)
@pytest.mark.parametrize("face", [NATIVE, TWISTED_FACE])
def test_slow_lossy_link(link, face):
    for ns in (link.server_ns, link.client_ns):
        link.shape(ns, RATE, burst="8kb", limit="32kb")
    server = link.spawn(link.server_ns, "stream_peer.py", "server", face, SERVER_IP, 0, SIZE,
                        name="server")
    port = server.expect("listening", timeout=20)["port"]
    started = time.monotonic()
    client = link.spawn(link.client_ns, "stream_peer.py", "client", face, SERVER_IP, port, SIZE,
                        CONNECTIONS, name="client")
    budget = 3 * SIZE * CONNECTIONS * 8 / 8e6 + 30
    client_report = client.expect("report", timeout=budget)["connections"]
    elapsed = time.monotonic() - started
    server.send("report", count=CONNECTIONS)
    server_report = server.expect("report", timeout=60)["connections"]

    drops = [line for ns in (link.server_ns, link.client_ns)
             for line in link.qdisc_stats(ns).splitlines() if "dropped" in line]
    print("%d x %d bytes each way in %.1f s over %s; %s"
          % (CONNECTIONS, SIZE, elapsed, RATE, drops))
    # The link really dropped packets (else this test shows nothing a loopback would not).
    assert any(" dropped 0," not in line for line in drops), drops

    for side, report in (("client", client_report), ("server", server_report)):
        assert len(report) == CONNECTIONS, (side, len(report))
        assert sorted(r["index"] for r in report) == list(range(CONNECTIONS)), side
        bad = [r for r in report if not r["ok"] or r["sent"] != SIZE]
        assert not bad, (side, len(bad), bad[:3])
        assert {r["reason"] for r in report} == {"ConnectionDone"}, (side, report[:3])
        # Producers: paused on the slow path, resumed as often as paused, never twice in a row.
        assert sum(r["pauses"] for r in report) >= CONNECTIONS // 2, (side, report[:3])
        wrong = [r for r in report if r["pauses"] != r["resumes"]
                 or r["double_pauses"] or r["double_resumes"]]
        assert not wrong, (side, wrong[:3])
