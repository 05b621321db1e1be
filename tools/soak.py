#!/usr/bin/env python3
"""Soak: minutes of mixed load on a fastreactor echo server, on every poller backend, watching
that its memory and descriptors stay flat. Not a CI test (it takes minutes); run it by hand:

    python tools/soak.py                      # 10 minutes per poller, a sample every 30 s
    python tools/soak.py --minutes 2 --pollers epoll poll

For each poller a server process (fastreactor's native face, that poller) serves 127.0.0.1 and a
load process (asyncio, the standard library: independent of the engine under test) drives it:
- echo at several sizes (64 B, 4 KiB, 64 KiB, 1 MiB) on persistent connections, round trip after
  round trip;
- connection churn: connect, one echo, close, again;
- resets mid-flight: send 256 KiB and close with SO_LINGER 0 (a RST) without reading the echo,
  so the server's write fails while it is echoing;
- timers, in the server: every connection keeps an idle timer it resets on each read, and a
  ticker schedules 50 calls every 10 ms and cancels half of them.
Server and load are pinned to different cores where there are two. Every `--interval` seconds it
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
import time

SIZES = (64, 4096, 65536, 1 << 20)


# ---- the server (a child process) ---------------------------------------------------------------

def serve(poller):
    """Run the soak server on `poller`; print the port as a JSON line; run until killed."""
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

    calls = []

    def tick():
        for _ in range(50):
            calls.append(reactor.callLater(random.random(), lambda: None))
        for call in calls[::2]:
            if call.active():
                call.cancel()
        calls[:] = [c for c in calls[1::2] if c.active()]
        reactor.callLater(0.01, tick)

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), backlog=1024,
                             interface="127.0.0.1")
    reactor.callWhenRunning(tick)
    print(json.dumps({"port": port.getHost().port}), flush=True)
    reactor.run(installSignalHandlers=False)


# ---- the load (a child process, asyncio) --------------------------------------------------------

async def echo_loop(port, size, deadline, counts):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = os.urandom(size)
    try:
        while time.monotonic() < deadline:
            writer.write(payload)
            got = await reader.readexactly(size)
            if got != payload:
                counts["corrupt"] += 1
            counts["echo"] += 1
    finally:
        writer.close()


async def churn_loop(port, deadline, counts):
    while time.monotonic() < deadline:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"churn")
        if await reader.readexactly(5) != b"churn":
            counts["corrupt"] += 1
        writer.close()
        await writer.wait_closed()
        counts["churn"] += 1


async def reset_loop(port, deadline, counts):
    blob = b"r" * (256 << 10)
    while time.monotonic() < deadline:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(blob)
        await writer.drain()
        await asyncio.sleep(0.001)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        counts["reset"] += 1
        await asyncio.sleep(0.005)


async def load(port, seconds):
    deadline = time.monotonic() + seconds
    counts = {"echo": 0, "churn": 0, "reset": 0, "corrupt": 0, "errors": 0}

    async def guard(coro_factory):
        while time.monotonic() < deadline:
            try:
                await coro_factory()
            except (OSError, asyncio.IncompleteReadError):
                counts["errors"] += 1
                await asyncio.sleep(0.05)

    tasks = [guard(lambda s=s: echo_loop(port, s, deadline, counts))
             for s in SIZES for _ in range(4)]
    tasks += [guard(lambda: churn_loop(port, deadline, counts)) for _ in range(4)]
    tasks += [guard(lambda: reset_loop(port, deadline, counts)) for _ in range(2)]
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


def child(args, cpu):
    cmd = [sys.executable, os.path.abspath(__file__)] + args
    if (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def soak(poller, minutes, interval):
    seconds = minutes * 60
    server = child(["--serve", poller], 0)
    try:
        port = json.loads(server.stdout.readline())["port"]
        time.sleep(0.3)
        idle_rss, idle_fds, cpu0 = proc_sample(server.pid)
        print("[%s] idle: rss %d KiB, fds %d" % (poller, idle_rss, idle_fds), flush=True)
        loader = child(["--load", str(port), str(seconds)], 1)
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
    finally:
        server.kill()
        server.wait()
    warm = [s for s in samples if s[0] >= seconds / 4] or samples
    base = warm[0][1] if warm else idle_rss
    top = max(s[1] for s in warm) if warm else end_rss
    limit = max(4096, base // 20)
    flat = top - base <= limit and end_fds == idle_fds and not counts.get("corrupt")
    print("[%s] load: %s" % (poller, counts))
    print("[%s] verdict: %s (rss after warm-up %d -> max %d KiB, allowed +%d; fds idle %d -> %d "
          "after the load)" % (poller, "flat" if flat else "GROWING", base, top, limit, idle_fds,
                               end_fds), flush=True)
    return flat


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--pollers", nargs="*", default=None,
                        help="default: every poller this platform has")
    parser.add_argument("--serve", metavar="POLLER", help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("PORT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    if args.load:
        return asyncio.run(load(int(args.load[0]), float(args.load[1])))
    import fastreactor
    pollers = args.pollers or fastreactor.available_pollers()
    verdicts = {p: soak(p, args.minutes, args.interval) for p in pollers}
    print("summary: " + ", ".join("%s %s" % (p, "flat" if ok else "GROWING")
                                  for p, ok in verdicts.items()))
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
