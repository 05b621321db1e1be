"""Slow and idle clients: 5,000 clients trickling one byte per second each do not slow an active
client's echo latency by more than 2x; a server writing to a client that never reads stays
bounded when its protocol respects `registerProducer` (on TCP, and over TLS on both faces).

The 5,000 clients run on epoll only (select cannot watch descriptors above FD_SETSIZE, 1024).
The clients run in separate processes (RLIMIT_NOFILE is 20,000 here); the server is pinned to one
core and the clients to the other, as DESIGN.md asks for load tests.
"""
import pytest

from faultnet import (NATIVE, SERVER_IP, TLS_SUFFIX, TWISTED, TWISTED_FACE, face_env,
                      native_on_every_poller)
from peerdrive import assert_writer_held, idle_and_loaded, start_tricklers, stats

pytestmark = pytest.mark.faults

TRICKLERS = 5000


@pytest.mark.timeout(240)
@pytest.mark.parametrize("face", [NATIVE, TWISTED_FACE])
def test_trickling_clients_do_not_slow_an_active_one(link, face):
    server = link.spawn(link.server_ns, "echo_server.py", face, SERVER_IP, name="server", cpu=0)
    port = server.expect("listening", timeout=20)["port"]
    active = link.spawn(link.client_ns, "pingpong_client.py", SERVER_IP, port, name="active",
                        cpu=1)
    active.expect("connected", timeout=20)
    base, best, loaded, trickler = idle_and_loaded(active, lambda: start_tricklers(
        lambda: link.spawn(link.client_ns, "trickle_clients.py", SERVER_IP, port, TRICKLERS,
                           name="trickler", cpu=1), TRICKLERS, connect_timeout=90))
    served = stats(server)
    trickled = stats(trickler)
    print("echo median %.0f us idle, %.0f us with %d trickling clients (tries: %s); server %s; "
          "trickled %s" % (base["median"] * 1e6, best["median"] * 1e6, TRICKLERS,
                           ["%.0f" % (m["median"] * 1e6) for m in loaded], served, trickled))
    assert served["open"] == TRICKLERS + 1, served
    # The server keeps up with the trickle: at most about a second's worth not yet echoed.
    assert trickled["echoed"] >= trickled["sent"] - 2 * TRICKLERS, trickled
    assert best["median"] <= 2 * base["median"], (base, loaded)


@pytest.mark.parametrize("face", native_on_every_poller() + [
    NATIVE + TLS_SUFFIX, TWISTED_FACE, TWISTED_FACE + TLS_SUFFIX,
    TWISTED + TLS_SUFFIX])
def test_write_to_a_client_that_never_reads_stays_bounded(link, face, request):
    import time
    tls = request.getfixturevalue("tls") if face.endswith(TLS_SUFFIX) else None
    face, env = face_env(face, tls)
    server = link.spawn(link.server_ns, "flood_server.py", face, SERVER_IP, env=env,
                        name="server")
    port = server.expect("listening", timeout=20)["port"]
    link.spawn(link.client_ns, "plain_client.py", SERVER_IP, port, "x", env=env, name="client")
    time.sleep(1.5)
    first = stats(server)
    time.sleep(1.5)
    second = stats(server)
    print(first, second)
    # Paused once the kernel's buffers (both ends, autotuned to a few MiB) and the transport's
    # 64 KiB are full, and nothing written since.
    assert second["paused"] and second["pauses"] == second["resumes"] + 1, second
    assert_writer_held(first, second)
    assert second["written"] <= 16 << 20, second
