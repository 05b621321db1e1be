"""A slow link that drops: a token bucket of a few Mbit/s with a small queue on both ends of the
veth pair. Data sent both ways at once over 100 connections arrives intact and in order, and
every producer is paused and resumed correctly on the way; on TCP, and over TLS (`+tls`:
listenSSL/connectSSL; on the native face the engine's TLS layer, on the Twisted face the
producers behind Twisted's TLS wrapper).

The issue asks for 64 MiB each way; at 8 Mbit/s that is over a minute per run, more than the
CI budget of the fault tests allows, so CI sends 64 KiB per connection each way (6.25 MiB in all,
about 8 s); FASTREACTOR_FAULTS_FULL=1 sends the full 64 MiB (640 KiB per connection): about a minute per
run, and there the kernel gives up (ETIMEDOUT) on 20 to 40 of the 100 connections, on Twisted's
own reactor as on fastreactor (which once also left one connection hanging for minutes).
The client opens its connections 20 ms apart: a burst of 100 handshakes into the small dropping
queue loses whole handshakes and the kernel then aborts a few connections itself (ETIMEDOUT,
TcpExtTCPAbortOnTimeout), on Twisted's own reactor as on fastreactor. Even staggered this can
happen now and then; such a connection must end in ConnectionLost with what it received still
intact, and the kernel must have counted the abort.
"""
import os
import time

import pytest

from faultnet import ChildFailed, NATIVE, SERVER_IP, TLS_SUFFIX, TWISTED_FACE, face_env

pytestmark = pytest.mark.faults

CONNECTIONS = 100
FULL = os.environ.get("FASTREACTOR_FAULTS_FULL") == "1"
SIZE = (64 << 20) // CONNECTIONS if FULL else 64 << 10
RATE = "8mbit"
CHUNK = 16384     # stream_peer.py's write size and transport bufferSize


@pytest.mark.timeout(900 if FULL else 120)
@pytest.mark.parametrize("face", [NATIVE, NATIVE + TLS_SUFFIX, TWISTED_FACE,
                                  TWISTED_FACE + TLS_SUFFIX])
def test_slow_lossy_link(link, face, request):
    tls = request.getfixturevalue("tls") if face.endswith(TLS_SUFFIX) else None
    native_tls = face == NATIVE + TLS_SUFFIX
    face, env = face_env(face, tls)
    for ns in (link.server_ns, link.client_ns):
        link.shape(ns, RATE, burst="8kb", limit="32kb")
    server = link.spawn(link.server_ns, "stream_peer.py", "server", face, SERVER_IP, 0, SIZE,
                        env=env, name="server")
    port = server.expect("listening", timeout=20)["port"]
    started = time.monotonic()
    client = link.spawn(link.client_ns, "stream_peer.py", "client", face, SERVER_IP, port, SIZE,
                        CONNECTIONS, env=env, name="client")
    budget = 3 * SIZE * CONNECTIONS * 8 / 8e6 + (300 if FULL else 30)
    try:
        client_report = client.expect("report", timeout=budget)["connections"]
    finally:
        print("client progress:", [e for e in client.events if e.get("event") == "progress"])
    elapsed = time.monotonic() - started
    done = sorted(r["index"] for r in client_report if r["ok"])
    server.send("report", indices=done)
    lost_after_close = []
    try:
        server_report = server.expect("report", timeout=60)["connections"]
    except ChildFailed as e:
        if "no 'report' event" not in str(e):
            raise
        server.send("status")
        stuck = server.expect("status", timeout=10)["open"]
        print("server connections not ended:", stuck)
        # Where their bytes are: the kernel's queues and state of both ends' sockets.
        for ns in (link.server_ns, link.client_ns):
            print(ns, "sockets:", link.exec(ns, "ss", "-tani", check=False))
            print(ns, "aborts:", link.exec(ns, "nstat", "-az", "TcpExtTCPAbort*", check=False))
        # A client whose last bytes were still in its kernel's send queue when it closed (a
        # close does not wait for delivery) reports ConnectionDone; if the kernel then gives up
        # retransmitting them (ETIMEDOUT on the orphaned socket, counted in the client's
        # namespace as TcpExtTCPAbortOnTimeout) and its RST is lost too, the server's end never
        # hears of it. A Twisted-face TCP run once passed in 67 s, which is this 60-s wait
        # (plain TCP closes without waiting for the peer). Such connections count as the
        # kernel's aborts below; any other stuck connection fails the test. Not on the native
        # TLS layer: its loseConnection, as Twisted's TLS, closes only once the server's
        # close_notify answered the client's, that is once the server has read everything (it
        # once did not wait, and lost the last bytes in 4 of about 40 runs this way).
        lost_after_close = [r["index"] for r in stuck if r["index"] in done]
        assert not (native_tls and lost_after_close), ("a native TLS client reported "
                                                       "ConnectionDone before the server had "
                                                       "everything", lost_after_close)
        done = [i for i in done if i not in lost_after_close]
        server.send("report", indices=done)
        server_report = server.expect("report", timeout=10)["connections"]

    drops = [line.strip() for ns in (link.server_ns, link.client_ns)
             for line in link.qdisc_stats(ns).splitlines() if "dropped" in line]
    aborts = sum(kernel_counter(link, ns, "TcpExtTCPAbortOnTimeout")
                 for ns in (link.server_ns, link.client_ns))
    print("%d x %d bytes each way in %.1f s over %s; %s; kernel aborts on timeout: %d"
          % (CONNECTIONS, SIZE, elapsed, RATE, drops, aborts))
    # The link really dropped packets (else this test shows nothing a loopback would not).
    assert any(" dropped 0," not in line for line in drops), drops

    # Whatever arrived, on every connection and both sides, is the start of what was sent:
    # intact and in order.
    assert len(client_report) == CONNECTIONS
    assert sorted(r["index"] for r in client_report) == list(range(CONNECTIONS))
    for side, report in (("client", client_report), ("server", server_report)):
        broken = [r for r in report if not r["intact"]]
        assert not broken, (side, len(broken), broken[:3])

    # Every connection completed, except any the kernel itself gave up on (ETIMEDOUT after its
    # retransmissions failed; counted as TcpExtTCPAbortOnTimeout): those end in ConnectionLost.
    unfinished = [r for r in client_report if not r["ok"]]
    print("unfinished connections (whole reports):", unfinished)    # the assertion shows them cut
    if len(unfinished) + len(lost_after_close) > aborts:
        explain_unfinished(link, server, client, unfinished)
    assert len(unfinished) + len(lost_after_close) <= aborts, (aborts, unfinished,
                                                                lost_after_close)
    if not FULL:   # at full size the kernel gives up on many more (see above)
        assert len(unfinished) <= CONNECTIONS // 20, (aborts, unfinished)
    assert {r["reason"] for r in unfinished} <= {"ConnectionLost"}, unfinished
    assert {r["reason"] for r in client_report if r["ok"]} == {"ConnectionDone"}
    served = {r["index"]: r for r in server_report if r["index"] is not None}
    for index in done:
        assert served[index]["ok"] and served[index]["sent"] == SIZE, served[index]

    # Producers: paused whenever the transport's queue went above `bufferSize` (one chunk), so
    # that it never held more than that and the chunk being written (where the transport tells
    # its queue's size: `max_buffered`); resumed as often as paused, never twice in a row. The
    # slow path did pause producers, on one side at least: the native TLS layer keeps one record
    # of ciphertext besides the queue, and the kernel takes a whole record whenever it reports
    # writability, so a server writing one chunk per turn may never find its queue above one
    # chunk, and need no pause.
    print("first reports, client:", client_report[:2], "server:", server_report[:2])
    paused = 0
    for side, report in (("client", client_report), ("server", server_report)):
        finished = [r for r in report if r["ok"]]
        paused = max(paused, sum(1 for r in finished if r["pauses"]) / len(finished))
        unpaused = [r for r in finished if r["max_buffered"] > CHUNK and not r["pauses"]]
        assert not unpaused, (side, unpaused[:3])
        overfull = [r for r in finished if r["max_buffered"] > 2 * CHUNK]
        assert not overfull, (side, overfull[:3])
        wrong = [r for r in finished if r["pauses"] != r["resumes"]
                 or r["double_pauses"] or r["double_resumes"]]
        assert not wrong, (side, wrong[:3])
    assert paused >= 0.5, "on neither side did half the connections pause their producer"


def explain_unfinished(link, server, client, unfinished):
    """Print what may say why connections ended early that the kernel did not count as aborted
    on timeout (one Twisted-face run in a serial CI-like run: a client connection reset 2.4 s
    after it was made, nothing received, no TcpExtTCPAbortOnTimeout; not reproduced in 80 runs
    alone): every nonzero TCP counter of both namespaces, both peers' stderr, and the server's
    own report of those connections."""
    try:
        for ns in (link.server_ns, link.client_ns):
            counters = [line for line in link.exec(ns, "nstat", "-a", check=False).splitlines()
                        if line.startswith("Tcp")]
            print(ns, "TCP counters:", " | ".join(" ".join(c.split()[:2]) for c in counters))
        print("server stderr:", server.stderr_tail())
        print("client stderr:", client.stderr_tail())
        lost = {r["index"] for r in unfinished}
        server.send("report", indices=[])
        print("server's reports of those connections (or of ones that never got an index):",
              [r for r in server.expect("report", timeout=10)["connections"]
               if r["index"] in lost or r["index"] is None])
    except Exception as e:      # the diagnosis must not hide the assertion that follows
        print("diagnosis failed:", repr(e))


def kernel_counter(link, ns, name):
    """A TCP counter of namespace `ns` (nstat), 0 if the kernel does not have it."""
    out = link.exec(ns, "nstat", "-az", name, check=False)
    for line in out.splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0
