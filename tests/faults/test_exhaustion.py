"""Resource exhaustion: running out of descriptors (EMFILE) under a connection storm keeps the
established connections serving, does not spin the CPU, and recovers when descriptors free up (on
TCP, and on TLS ports of both faces); a SYN flood of half-open connections keeps the port
serving completed ones."""
import time

import pytest

from faultnet import (FLOOD_IP, NATIVE, SERVER_IP, TLS_SUFFIX, TWISTED, TWISTED_FACE,
                      face_env, native_on_every_poller)
from peerdrive import do

pytestmark = pytest.mark.faults

NOFILE = 64       # the server's soft RLIMIT_NOFILE: room for about 50 connections
STORM = 200


def clients(link, port):
    c = link.spawn(link.client_ns, "tcp_clients.py", SERVER_IP, port, name="clients")
    c.expect("ready", timeout=20)
    return c


@pytest.mark.parametrize("face", native_on_every_poller() + [
    TWISTED_FACE, TWISTED, NATIVE + TLS_SUFFIX, TWISTED_FACE + TLS_SUFFIX, TWISTED + TLS_SUFFIX])
def test_emfile_storm(link, face, request):
    """With `+tls` the server is listenSSL, the held and later clients speak TLS, and the storm
    is of TCP connections that never start a handshake."""
    tls = request.getfixturevalue("tls") if face.endswith(TLS_SUFFIX) else None
    face, env = face_env(face, tls)
    server = link.spawn(link.server_ns, "echo_server.py", face, SERVER_IP, NOFILE, env=env,
                        name="server")
    port = server.expect("listening", timeout=20)["port"]
    c = clients(link, port)
    assert do(c, "open", "opened", tag="held", count=5, tls=bool(tls))["ok"] == 5
    assert do(c, "check", "checked", tag="held")["echoed"] == 5

    storm = do(c, "open", "opened", tag="storm", count=STORM)
    time.sleep(0.5)
    full = do(server, "stats", "stats")
    assert full["fds"] >= NOFILE - 2, full          # the storm did exhaust the descriptors
    cpu = server.cpu_seconds()
    time.sleep(2.0)
    spent = server.cpu_seconds() - cpu
    held = do(c, "check", "checked", tag="held")
    storm_check = do(c, "check", "checked", tag="storm", timeout=2)
    print(face, "storm", storm, storm_check, "server", full, "cpu %.2fs in 2s" % spent)
    assert held["echoed"] == 5, held
    assert spent < 1.0, "the server spun the CPU at EMFILE: %.2f s in 2 s" % spent

    do(c, "close", "closed", tag="storm")
    time.sleep(0.5)
    after = do(c, "open", "opened", tag="after", count=5, tls=bool(tls))
    assert after["ok"] == 5, after
    recovered = do(c, "check", "checked", tag="after", timeout=5)
    assert recovered["echoed"] == 5, recovered
    assert do(c, "check", "checked", tag="held")["echoed"] == 5


def test_emfile_storm_without_reserve(link):
    """Without the reserve descriptor (Twisted has no such path; it would spin) accept() pauses
    and retries: the storm's surplus waits in the backlog, nothing spins, and the port recovers."""
    server = link.spawn(link.server_ns, "echo_server.py", NATIVE, SERVER_IP, NOFILE, 4096,
                        "noreserve", name="server")
    port = server.expect("listening", timeout=20)["port"]
    c = clients(link, port)
    assert do(c, "open", "opened", tag="held", count=5)["ok"] == 5
    do(c, "open", "opened", tag="storm", count=STORM)
    time.sleep(0.5)
    full = do(server, "stats", "stats")
    assert full["fds"] >= NOFILE - 2, full
    cpu = server.cpu_seconds()
    time.sleep(2.0)
    spent = server.cpu_seconds() - cpu
    held = do(c, "check", "checked", tag="held")
    storm_check = do(c, "check", "checked", tag="storm", timeout=2)
    print("storm", storm_check, "server", full, "cpu %.2fs in 2s" % spent)
    assert held["echoed"] == 5, held
    assert spent < 1.0, "the server spun the CPU at EMFILE: %.2f s in 2 s" % spent
    # Nothing shed: the surplus is still waiting in the backlog, unanswered.
    assert storm_check["silent"] > 0 and storm_check["closed"] == 0, storm_check

    do(c, "close", "closed", tag="storm")
    after = do(c, "open", "opened", tag="after", count=5)
    assert after["ok"] == 5, after
    recovered = do(c, "check", "checked", tag="after", timeout=5)
    assert recovered["echoed"] == 5, recovered


@pytest.mark.parametrize("face", [NATIVE, TWISTED_FACE])
def test_syn_flood(link, face):
    # The server's answers to the spoofed source go to a MAC nobody owns: every SYN stays half-open.
    link.blackhole(link.server_ns, FLOOD_IP)
    server = link.spawn(link.server_ns, "echo_server.py", face, SERVER_IP, 0, 64, name="server",
                        cpu=0)
    port = server.expect("listening", timeout=20)["port"]
    c = clients(link, port)
    assert do(c, "open", "opened", tag="before", count=5)["ok"] == 5

    flood = link.spawn(link.client_ns, "syn_flood.py", FLOOD_IP, SERVER_IP, port, 3.5, 2000000,
                       name="flood", cpu=1)
    flood.expect("flooding", timeout=20)
    time.sleep(0.5)
    during = []
    for round_ in range(3):
        opened = do(c, "open", "opened", tag="during%d" % round_, count=10)
        checked = do(c, "check", "checked", tag="during%d" % round_, timeout=5)
        during.append((opened, checked))
    still_flooding = flood.proc.poll() is None
    before = do(c, "check", "checked", tag="before")
    sent = flood.expect("flooded", timeout=30)["count"]
    counters = link.exec(link.server_ns, "nstat", "-az", "TcpExtSyncookiesSent",
                         "TcpExtTCPReqQFullDoCookies", "TcpExtListenDrops", "TcpExtListenOverflows",
                         check=False)
    print(face, "SYNs sent", sent, during, before, counters)
    assert sent >= 10000, sent
    assert still_flooding, "the flood ended before the checks did; lengthen it"
    assert before["echoed"] == 5, before
    for opened, checked in during:
        assert opened["ok"] == 10 and checked["echoed"] == 10, (opened, checked)
    # The flood really filled the SYN queue (the kernel answered with cookies or dropped SYNs).
    values = {line.split()[0]: int(line.split()[1]) for line in counters.splitlines()
              if line.startswith("TcpExt")}
    assert values.get("TcpExtSyncookiesSent", 0) + values.get("TcpExtListenDrops", 0) > 0, values
