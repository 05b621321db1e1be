#!/usr/bin/env python3
"""Soak: minutes of mixed load on a fastreactor echo server, on every poller backend, watching
that its memory and descriptors stay flat. Not a CI test (it takes minutes); run it by hand:

    python tools/soak.py                      # 10 minutes per poller, a sample every 30 s
    python tools/soak.py --minutes 2 --pollers epoll poll

For each poller a server process (fastreactor's native face, that poller) serves TCP, TLS
(listenSSL with a `fastreactor.ssl` context), UNIX stream and UDP echo on 127.0.0.1 / a temporary
directory, and a load process (asyncio, the standard library: independent of the engine under
test) drives it:
- TCP echo at several sizes (64 B, 4 KiB, 64 KiB, 1 MiB) on persistent connections, round trip
  after round trip;
- TCP connection churn: connect, one echo, close, again;
- resets mid-flight: send 256 KiB and close with SO_LINGER 0 (a RST) without reading the echo,
  so the server's write fails while it is echoing;
- TLS: echo at 64 B and 16 KiB on persistent connections, and churn (handshake, one echo,
  close_notify, again);
- UNIX stream: echo at 64 B and 64 KiB, churn, and aborts with the echo unread (the server's
  write then fails with EPIPE/ECONNRESET);
- UDP: request/response windows of datagrams (64 B to 8 KiB) carrying a sequence number and a
  CRC32; a reply must be the datagram sent, for that sequence number, once (loss, and replies
  later than their window's 0.5 s, are counted; anything else is corruption);
- timers, in the server: every connection keeps an idle timer it resets on each read, and a
  ticker schedules 50 calls every 10 ms and cancels half of them.
TLS needs the `cryptography` package (the test extra) to make a throw-away certificate; without
it the TLS traffic is left out, saying so. Server and load are pinned to different cores where
there are two (`--server-cpu` picks the server's, so that two soaks can run side by side). Every `--interval` seconds it
prints the server's RSS, open descriptors and CPU use since the last sample; at the end the load
stops, and the descriptors once idle must equal those before the load, and RSS after warm-up (the
first quarter of the run, at least one sample) must not grow by more than max(4 MiB, 5%).
The verdict per poller is `flat` or `GROWING` (with the numbers); the exit status is 1 if any
poller grew. Only loopback is used; every loop is bounded in time.
"""
import argparse
import asyncio
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SIZES = (64, 4096, 65536, 1 << 20)


# ---- the server (a child process) ---------------------------------------------------------------

def make_certificate(directory):
    """A self-signed certificate and key (PEM files in `directory`); None without `cryptography`."""
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastreactor soak")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    paths = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(paths[0], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return paths


def serve(poller, directory):
    """Run the soak server on `poller` (TCP, TLS, UNIX and UDP echo; the UNIX socket and the
    certificate in `directory`); print where it listens as a JSON line; run until killed."""
    import fastreactor
    from fastreactor import protocol

    reactor = fastreactor.Reactor(poller)
    stats = {"made": 0, "lost": 0}

    class Echo(protocol.Protocol):
        def connectionMade(self):
            stats["made"] += 1
            self.idle = reactor.callLater(60, self.transport.abortConnection)

        def dataReceived(self, data):
            self.idle.reset(60)
            self.transport.write(data)

        def connectionLost(self, reason):
            stats["lost"] += 1
            if self.idle.active():
                self.idle.cancel()
            self.idle = None

    class DatagramEcho(protocol.DatagramProtocol):
        def datagramReceived(self, data, addr):
            self.transport.write(data, addr)

    calls = []

    def tick():
        for _ in range(50):
            calls.append(reactor.callLater(random.random(), lambda: None))
        for call in calls[::2]:
            if call.active():
                call.cancel()
        calls[:] = [c for c in calls[1::2] if c.active()]
        reactor.callLater(0.01, tick)

    factory = protocol.Factory.forProtocol(Echo)
    where = {"poller": reactor.poller.name}
    where["port"] = reactor.listenTCP(0, factory, backlog=1024,
                                      interface="127.0.0.1").getHost().port
    paths = make_certificate(directory)
    if paths:
        from fastreactor import ssl
        context = ssl.serverContext(*paths)
        where["tls"] = reactor.listenSSL(0, factory, context, backlog=1024,
                                         interface="127.0.0.1").getHost().port
    where["unix"] = os.path.join(directory, "echo.sock")
    reactor.listenUNIX(where["unix"], factory, backlog=1024)
    where["udp"] = reactor.listenUDP(0, DatagramEcho(), interface="127.0.0.1",
                                     maxPacketSize=65536).getHost().port
    reactor.callWhenRunning(tick)
    print(json.dumps(where), flush=True)
    reactor.run(installSignalHandlers=False)


# ---- the load (a child process, asyncio) --------------------------------------------------------

def client_tls():
    """A TLS client context that accepts the soak's self-signed certificate."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def corrupt(counts, key):
    """Count a reply that is not what was sent (in all, and for the kind of traffic `key`)."""
    counts["corrupt"] += 1
    counts["corrupt_" + key] = counts.get("corrupt_" + key, 0) + 1


async def echo_loop(connect, size, deadline, counts, key):
    """Round trips of `size` bytes on one connection made by `connect()` until `deadline`."""
    reader, writer = await connect()
    payload = os.urandom(size)
    try:
        while time.monotonic() < deadline:
            writer.write(payload)
            got = await reader.readexactly(size)
            if got != payload:
                corrupt(counts, key)
            counts[key] += 1
    finally:
        writer.close()


async def churn_loop(connect, deadline, counts, key):
    """Connect, one echo, close (TLS: with close_notify), again, until `deadline`."""
    while time.monotonic() < deadline:
        reader, writer = await connect()
        writer.write(b"churn")
        if await reader.readexactly(5) != b"churn":
            corrupt(counts, key)
        writer.close()
        await writer.wait_closed()
        counts[key] += 1


async def reset_loop(connect, deadline, counts, key, linger):
    """Send 256 KiB and abort without reading the echo (TCP: SO_LINGER 0, a RST), again."""
    blob = b"r" * (256 << 10)
    while time.monotonic() < deadline:
        reader, writer = await connect()
        writer.write(blob)
        await writer.drain()
        await asyncio.sleep(0.001)
        if linger:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        counts[key] += 1
        await asyncio.sleep(0.005)


class DatagramClient(asyncio.DatagramProtocol):
    """Collects the echoed datagrams of one UDP loop."""

    def __init__(self):
        self.replies = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.replies.put_nowait(data)

    def error_received(self, exc):
        pass


async def udp_loop(port, deadline, counts):
    """Windows of 16 datagrams (sequence number, CRC32, 64 B-8 KiB of random bytes); each reply
    must be a datagram sent, intact; the ones not back within 0.5 s count as lost, and if they
    come back later (in a later window) as late, not as corrupt."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        DatagramClient, remote_addr=("127.0.0.1", port))
    seq = 0
    try:
        while time.monotonic() < deadline:
            sent = {}
            first = seq
            for _ in range(16):
                body = os.urandom(random.choice((64, 512, 1400, 8192)) - 8)
                datagram = struct.pack("!II", seq, zlib.crc32(body)) + body
                sent[seq] = datagram
                transport.sendto(datagram)
                seq += 1
            window_end = time.monotonic() + 0.5
            while sent and time.monotonic() < window_end:
                try:
                    data = await asyncio.wait_for(client.replies.get(),
                                                  window_end - time.monotonic())
                except asyncio.TimeoutError:
                    break
                if len(data) < 8:
                    corrupt(counts, "udp")
                    continue
                number, crc = struct.unpack("!II", data[:8])
                if zlib.crc32(data[8:]) != crc:
                    corrupt(counts, "udp")
                elif number < first:
                    counts["udp_late"] += 1     # an earlier window's, already counted lost
                elif sent.get(number) != data:
                    corrupt(counts, "udp")      # not sent, sent otherwise, or a duplicate
                else:
                    del sent[number]
                    counts["udp"] += 1
            counts["udp_lost"] += len(sent)
    finally:
        transport.close()


async def load(where, seconds):
    deadline = time.monotonic() + seconds
    counts = {"echo": 0, "churn": 0, "reset": 0, "tls": 0, "tls_churn": 0, "unix": 0,
              "unix_churn": 0, "unix_abort": 0, "udp": 0, "udp_lost": 0, "udp_late": 0, "corrupt": 0,
              "errors": 0}

    async def guard(coro_factory):
        while time.monotonic() < deadline:
            try:
                await coro_factory()
            except (OSError, asyncio.IncompleteReadError):
                counts["errors"] += 1
                await asyncio.sleep(0.05)

    def tcp():
        return asyncio.open_connection("127.0.0.1", where["port"])

    def unix():
        return asyncio.open_unix_connection(where["unix"])

    tasks = [guard(lambda s=s: echo_loop(tcp, s, deadline, counts, "echo"))
             for s in SIZES for _ in range(4)]
    tasks += [guard(lambda: churn_loop(tcp, deadline, counts, "churn")) for _ in range(4)]
    tasks += [guard(lambda: reset_loop(tcp, deadline, counts, "reset", True)) for _ in range(2)]
    tasks += [guard(lambda s=s: echo_loop(unix, s, deadline, counts, "unix"))
              for s in (64, 65536) for _ in range(2)]
    tasks += [guard(lambda: churn_loop(unix, deadline, counts, "unix_churn")) for _ in range(2)]
    tasks += [guard(lambda: reset_loop(unix, deadline, counts, "unix_abort", False))]
    tasks += [guard(lambda: udp_loop(where["udp"], deadline, counts)) for _ in range(2)]
    if "tls" in where:
        context = client_tls()

        def tls():
            return asyncio.open_connection("127.0.0.1", where["tls"], ssl=context)

        tasks += [guard(lambda s=s: echo_loop(tls, s, deadline, counts, "tls"))
                  for s in (64, 16384) for _ in range(2)]
        tasks += [guard(lambda: churn_loop(tls, deadline, counts, "tls_churn")) for _ in range(2)]
    await asyncio.gather(*tasks)
    print(json.dumps(counts), flush=True)


# ---- the orchestrator ---------------------------------------------------------------------------

def proc_sample(pid):
    """RSS (KiB), open descriptors and CPU seconds of process `pid`."""
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    fds = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, fds, cpu


def udp_drops(pid, port):
    """Datagrams the kernel dropped at process `pid`'s UDP socket on `port` (its receive buffer was
    full: the last column of /proc/PID/net/udp), or None if it is not found."""
    try:
        with open("/proc/%d/net/udp" % pid) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].split(":")[1], 16) == port:
                    return int(fields[-1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def child(args, cpu):
    cmd = [sys.executable, os.path.abspath(__file__)] + args
    if (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", str(cpu % os.cpu_count())] + cmd
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def soak(poller, minutes, interval, server_cpu):
    seconds = minutes * 60
    directory = tempfile.mkdtemp(prefix="fastreactor-soak-")
    server = child(["--serve", poller, directory], server_cpu)
    try:
        where = json.loads(server.stdout.readline())
        if where["poller"] != poller:
            print("[%s] the reactor runs on %s instead (fallback)" % (poller, where["poller"]))
        if "tls" not in where:
            print("[%s] no `cryptography` package: TLS traffic left out" % poller)
        time.sleep(0.3)
        idle_rss, idle_fds, cpu0 = proc_sample(server.pid)
        print("[%s] idle: rss %d KiB, fds %d" % (poller, idle_rss, idle_fds), flush=True)
        loader = child(["--load", json.dumps(where), str(seconds)], server_cpu + 1)
        start = last = time.monotonic()
        samples = []
        last_cpu = cpu0
        while loader.poll() is None:
            wait = min(interval, start + seconds - time.monotonic())
            if wait <= 0.5:
                break
            time.sleep(wait)
            rss, fds, cpu = proc_sample(server.pid)
            now = time.monotonic()
            samples.append((now - start, rss, fds))
            print("[%s] t=%4.0fs rss %6d KiB  fds %4d  cpu %5.1f%%"
                  % (poller, now - start, rss, fds, 100 * (cpu - last_cpu) / (now - last)),
                  flush=True)
            last, last_cpu = now, cpu
        counts = json.loads(loader.stdout.readline() or "{}")
        loader.wait(30)
        time.sleep(1.0)
        end_rss, end_fds, _ = proc_sample(server.pid)
        drops = udp_drops(server.pid, where["udp"])
    finally:
        server.kill()
        server.wait()
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    warm = [s for s in samples if s[0] >= seconds / 4] or samples
    base = warm[0][1] if warm else idle_rss
    top = max(s[1] for s in warm) if warm else end_rss
    limit = max(4096, base // 20)
    flat = top - base <= limit and end_fds == idle_fds and not counts.get("corrupt")
    print("[%s] load: %s; the server's UDP socket dropped %s datagrams (receive buffer full)"
          % (poller, counts, drops))
    print("[%s] verdict: %s (rss after warm-up %d -> max %d KiB, allowed +%d; fds idle %d -> %d "
          "after the load; corrupt %s)" % (poller, "flat" if flat else "GROWING", base, top, limit,
                                           idle_fds, end_fds, counts.get("corrupt")), flush=True)
    return flat


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--pollers", nargs="*", default=None,
                        help="default: every poller this platform has, and io_uring where the "
                             "kernel allows it")
    parser.add_argument("--server-cpu", type=int, default=0,
                        help="the core the server is pinned to (the load gets the next one)")
    parser.add_argument("--serve", nargs=2, metavar=("POLLER", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("WHERE", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(*args.serve)
    if args.load:
        return asyncio.run(load(json.loads(args.load[0]), float(args.load[1])))
    import fastreactor
    pollers = args.pollers
    if not pollers:
        pollers = fastreactor.available_pollers()
        from fastreactor import _core
        if "io_uring" not in pollers and _core._uring_unavailable_reason() is None:
            pollers.append("io_uring")
    verdicts = {p: soak(p, args.minutes, args.interval, args.server_cpu) for p in pollers}
    print("summary: " + ", ".join("%s %s" % (p, "flat" if ok else "GROWING")
                                  for p, ok in verdicts.items()))
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
