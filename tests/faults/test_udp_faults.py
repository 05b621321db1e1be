"""UDP over the slow link that drops (tc tbf, a small queue, both ends): two ports side by side
on each end stream sequence-numbered, checksummed datagrams both ways at several times the link's
rate. What is lost is lost; nothing arrives corrupted, twice, or at the other port; the receiving
ports keep serving (a slow probe afterwards round-trips on both, every datagram of it). Native
face on every poller, and the Twisted face.

Local faults (this host, no namespace): listenUDP when no descriptor is left (CannotListenError;
the established port keeps serving; recovery), a connected UDP port in a storm of ICMP port
unreachables (connectionRefused, the port survives), and UNIX datagram ports writing to a
receiver that never reads (dropped as in Twisted, no blocking). Compared with Twisted's
EPollReactor where Twisted defines the behaviour.
"""
import socket

import pytest

from faultnet import SERVER_IP, TWISTED_FACE, native_on_every_poller
from peerdrive import on_oracle

pytestmark = pytest.mark.faults

LOCAL_FACES = native_on_every_poller() + [TWISTED_FACE]

COUNT = 1200     # datagrams each way per port: ~1.8 MB in 0.75 s, about 20 Mbit/s per direction
RATE = "8mbit"


@pytest.mark.parametrize("face", native_on_every_poller() + [TWISTED_FACE])
def test_udp_over_a_lossy_link(link, face):
    for ns in (link.server_ns, link.client_ns):
        link.shape(ns, RATE, burst="8kb", limit="32kb")
    server = link.spawn(link.server_ns, "udp_peer.py", "server", face, SERVER_IP, name="server")
    ports = server.expect("listening", timeout=20)["ports"]
    client = link.spawn(link.client_ns, "udp_peer.py", "client", face, SERVER_IP, ports[0],
                        ports[1], COUNT, name="client")
    got = client.expect("report", timeout=30)["ports"]
    server.send("report")
    served = server.expect("report", timeout=10)["ports"]
    drops = [line.strip() for ns in (link.server_ns, link.client_ns)
             for line in link.qdisc_stats(ns).splitlines() if "dropped" in line]
    print(face, "client ports:", got, "server ports:", served, drops)

    for side, report in (("client", got), ("server", served)):
        for port in report:
            # Lost, never corrupted, duplicated or delivered to the other port.
            assert port["corrupt"] == 0 and port["wrong_port"] == 0, (side, port)
            assert port["duplicates"] == 0 and port["out_of_range"] == 0, (side, port)
            assert port["write_errors"] == 0, (side, port)
            assert port["sent"] == COUNT, (side, port)
            # Some got through, and the link did drop some (else this shows nothing a loopback
            # would not): the ports stream at about twice the link's rate each way.
            assert 0 < port["received"] < COUNT, (side, port)
    # The receivers keep serving: every probe sent slowly afterwards came back on each port.
    assert [p["probes_back"] for p in got] == [20, 20], got
    assert all(" dropped 0," not in line for line in drops), drops


def udp_echo(port, payload, timeout=2.0):
    """Send `payload` to 127.0.0.1:`port` from a fresh socket; the reply, or None."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.sendto(payload, ("127.0.0.1", port))
        return sock.recv(65536)
    except socket.timeout:
        return None
    finally:
        sock.close()


@pytest.mark.parametrize("face", LOCAL_FACES)
def test_udp_listen_at_emfile(local, face):
    """listenUDP with no descriptor left fails with CannotListenError (as Twisted's); the port
    already listening keeps echoing; once descriptors are free, listenUDP works again."""
    peer = local.spawn("datagram_faults.py", face, "emfile", local.directory, name="peer")
    exhausted = peer.expect("exhausted", timeout=20)
    print(face, exhausted)
    assert exhausted["error"] == "CannotListenError", exhausted
    assert "Too many open files" in exhausted["message"], exhausted
    for i in range(5):
        assert udp_echo(exhausted["port"], b"still there %d" % i) == b"still there %d" % i
    peer.send("free")
    again = peer.expect("recovered", timeout=10)["port"]
    assert udp_echo(again, b"new port") == b"new port"
    assert udp_echo(exhausted["port"], b"old port") == b"old port"


def refusal(local, face):
    peer = local.spawn("datagram_faults.py", face, "refused", local.directory, name="peer")
    return peer.expect("stormed", timeout=20), peer.expect("after", timeout=10)


@pytest.fixture(scope="module")
def refusal_oracle():
    """Twisted's EPollReactor's connected UDP port in the same storm."""
    return on_oracle(refusal)


@pytest.mark.parametrize("face", LOCAL_FACES)
def test_udp_port_unreachable_storm(local, face, refusal_oracle):
    """A connected UDP port writing to a closed port gets an ICMP port unreachable per datagram:
    each one the kernel reports reaches `connectionRefused()` (never an exception out of write),
    and the port is not ended by them: once something listens there, it serves both ways."""
    stormed, after = refusal(local, face)
    print(face, stormed, after, "twisted:", refusal_oracle)
    assert stormed["sent"] == 2000
    assert stormed["write_error_count"] == 0, stormed
    assert stormed["refused"] >= 100, stormed       # most are reported (no rate limit on lo)
    assert stormed["refused"] <= stormed["sent"], stormed
    assert stormed["connected"], stormed
    assert after == {"event": "after", "received": ["hello"], "reply": "reply"}, after
    # Twisted: the same outcome (how many refusals the kernel reports varies with timing).
    oracle_stormed, oracle_after = refusal_oracle
    assert oracle_stormed["write_error_count"] == 0 and oracle_stormed["refused"] >= 100
    assert oracle_after["received"] == ["hello"] and oracle_after["reply"] == "reply"


def full_receiver(local, face):
    peer = local.spawn("datagram_faults.py", face, "unixfull", local.directory, name="peer")
    return peer.expect("full", timeout=20), peer.expect("drained", timeout=10)


@pytest.fixture(scope="module")
def full_oracle():
    """Twisted's EPollReactor's UNIX datagram ports writing to the same full receiver."""
    return on_oracle(full_receiver)


@pytest.mark.parametrize("face", LOCAL_FACES)
def test_unix_datagram_full_receiver(local, face, full_oracle):
    """Writes to a UNIX datagram receiver that never reads: once its queue is full, write()
    drops the datagram and returns None (as Twisted's DatagramPort.write does on EAGAIN; the
    native port also counts it in droppedDatagrams), raises nothing and never blocks the
    reactor; when the receiver drains, writes go through again."""
    full, drained = full_receiver(local, face)
    print(face, full, drained, "twisted:", full_oracle)
    for name, tally in full["ports"].items():
        assert tally["error_count"] == 0, (name, tally)
        assert tally["dropped"] > 0, (name, tally)
        assert tally["written"] + tally["dropped"] == 2000, (name, tally)
        if tally["droppedDatagrams"] is not None:
            assert tally["droppedDatagrams"] == tally["dropped"], (name, tally)
    assert full["gap"] < 0.5, full            # the reactor kept turning
    assert all(isinstance(r, int) and r == 5 for r in drained["results"].values()), drained
    assert drained["received"] == 2, drained
    # Twisted drops too, silently, and recovers; as many got through (the receiver's queue,
    # net.unix.max_dgram_qlen, takes the same number whichever reactor writes).
    oracle_full, oracle_drained = full_oracle
    for name, tally in oracle_full["ports"].items():
        assert tally["error_count"] == 0 and tally["dropped"] > 0, (name, tally)
    assert oracle_drained["received"] == 2, oracle_drained
    assert sum(t["written"] for t in full["ports"].values()) == \
        sum(t["written"] for t in oracle_full["ports"].values()) > 0, (full, oracle_full)
