"""Load: 10,000 concurrent connections on one reactor, every one echoed. The clients live in a
separate process (RLIMIT_NOFILE's hard limit here is 20,000 per process)."""
import resource
import subprocess
import tempfile
import sys
import textwrap

import pytest

from fastreactor import protocol

CONNECTIONS = 10_000

CLIENT = textwrap.dedent("""
    import resource, selectors, socket, sys, time
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, count = int(sys.argv[1]), int(sys.argv[2])
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        if i % 500 == 499:
            time.sleep(0.02)            # let the server drain its accept queue
    print("connected", flush=True)
    sys.stdin.readline()                # the server has accepted all of them
    expected = {}
    for i, s in enumerate(socks):
        msg = b"msg-%06d" % i
        expected[s] = msg
        s.send(msg)
        sel.register(s, selectors.EVENT_READ)
    got = {}
    deadline = time.time() + 60
    while len(got) < count and time.time() < deadline:
        for key, _ in sel.select(1):
            data = key.fileobj.recv(64)
            got[key.fileobj] = got.get(key.fileobj, b"") + data
            if len(got[key.fileobj]) >= len(expected[key.fileobj]):
                sel.unregister(key.fileobj)
    ok = sum(1 for s in socks if got.get(s) == expected[s])
    print("echoed", ok, flush=True)
    for s in socks:
        s.close()
""")


def test_ten_thousand_concurrent_connections_all_echoed(reactor, spin):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < CONNECTIONS + 200:
        pytest.skip("RLIMIT_NOFILE hard limit %d is below %d" % (hard, CONNECTIONS + 200))
    if reactor.poller.name == "select":
        pytest.skip("select cannot watch descriptors above FD_SETSIZE (1024): it refuses them "
                    "with ValueError, tested in test_loop_pollers")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        open_now = []

        class Echo(protocol.Protocol):
            def connectionMade(self):
                open_now.append(self)

            def dataReceived(self, data):
                self.transport.write(data)

            def connectionLost(self, reason):
                open_now.remove(self)

        factory = protocol.Factory.forProtocol(Echo)
        factory.noisy = False
        port = reactor.listenTCP(0, factory, interface="127.0.0.1", backlog=4096)
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(port.getHost().port), str(CONNECTIONS)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  cwd=tempfile.gettempdir())
        try:
            spin(reactor, lambda: len(open_now) == CONNECTIONS, timeout=60)
            assert client.stdout.readline().strip() == "connected"
            client.stdin.write("go\n")
            client.stdin.flush()
            line = []

            import threading
            reader = threading.Thread(target=lambda: line.append(client.stdout.readline()))
            reader.start()
            spin(reactor, lambda: line, timeout=90)
            reader.join()
            assert line[0].split() == ["echoed", str(CONNECTIONS)]
            spin(reactor, lambda: not open_now, timeout=60)
        finally:
            client.kill()
            client.wait()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
