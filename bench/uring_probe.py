"""Issue 16's measurement: io_uring against epoll, server CPU and syscalls per echoed message.

    python bench/uring_probe.py [--servers c,uring_c,fr-epoll,fr-io_uring] [--sizes 64,1024]
                                [--conns 10,100,1000] [--runs 3] [--duration 3] [--strace]

Servers: `c` is bench/c_echo.c (the epoll floor), `uring_c` is bench/uring_echo.c (the io_uring
floor: multishot accept, multishot recv into a provided buffer ring, batched sends,
SINGLE_ISSUER/DEFER_TASKRUN), `fr-epoll` and `fr-io_uring` are bench/servers/echo_fastreactor.py
with FASTREACTOR_POLLER set accordingly.  Each server is pinned to the first core and the C load
generator (bench/loadgen.c) to the second, exactly as bench/run.py does.  The servers are
alternated within each repetition (so a disturbance from other programs spreads over all of
them) and the table gives the median over the repetitions of server CPU us/msg and messages/s.

With --strace, one extra run per case attaches `strace -c -f` to the server for the measured
window (without warm-up, so connection setup is included) and reports syscalls per message (these counts are not noisy; strace slows the server, so
the rates of that run are not used).
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cbuild  # noqa: E402
import procs  # noqa: E402


def server_argv(name, bins):
    """argv and extra environment for server NAME."""
    if name == "c":
        return [bins["c_echo"], "0"], {}
    if name == "uring_c":
        return [bins["uring_echo"], "0"], {}
    if name.startswith("fr-"):
        return ([sys.executable, os.path.join(HERE, "servers", "echo_fastreactor.py"), "0"],
                {"FASTREACTOR_POLLER": name[3:]})
    raise SystemExit("unknown server %r" % name)


class EnvServer(procs.Server):
    """procs.Server with extra environment variables."""

    def __init__(self, argv, cpu, env):
        super().__init__(argv, cpu)
        self.env = env

    def start(self):
        old = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return super().start()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def one_run(bins, name, size, conns, duration, warmup, strace=False):
    """One echo run against a fresh server NAME; the loadgen result (plus syscalls if STRACE)."""
    server_cpu, load_cpu = procs.cpus()
    argv, env = server_argv(name, bins)
    with EnvServer(argv, server_cpu, env) as server:
        tracer = None
        if strace:
            tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(server.pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)
        result = procs.run_loadgen(bins["loadgen"], [
            "echo", "--port", server.port, "--conns", conns, "--size", size,
            "--duration", duration, "--warmup", warmup], load_cpu, server.pid)
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            err = tracer.communicate(timeout=30)[1].decode(errors="replace")
            result["syscalls"] = parse_strace(err)
    return result


def parse_strace(text):
    """{syscall: calls} from strace -c's table."""
    calls = {}
    for line in text.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
        if m and m.group(2) != "total":
            calls[m.group(2)] = int(m.group(1))
    return calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", default="c,uring_c")
    ap.add_argument("--sizes", default="64,1024")
    ap.add_argument("--conns", default="10,100,1000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--strace", action="store_true")
    args = ap.parse_args()
    bins = {name: cbuild.build(name) for name in ("loadgen", "c_echo", "uring_echo")}
    servers = args.servers.split(",")
    cases = [(int(s), int(c)) for s in args.sizes.split(",") for c in args.conns.split(",")]
    rows = {}
    for rep in range(args.runs):
        for size, conns in cases:
            order = servers if rep % 2 == 0 else list(reversed(servers))
            for name in order:
                r = one_run(bins, name, size, conns, args.duration, args.warmup)
                rows.setdefault((size, conns, name), []).append(r)
                print("run %d size %d conns %d %-12s %8.2f us/msg %9.0f msg/s  other %3.0f%%" % (
                    rep, size, conns, name, r.get("server_us_op", float("nan")), r["rate"],
                    r.get("other_cpu_pct", 0)), file=sys.stderr)
    sc = {}
    if args.strace:
        for size, conns in cases:
            for name in servers:
                # no warm-up: strace counts from its start, the generator from the end of its warm-up
                r = one_run(bins, name, size, conns, 2.0, 0, strace=True)
                total = sum(r["syscalls"].values())
                top = sorted(r["syscalls"].items(), key=lambda kv: -kv[1])[:3]
                sc[(size, conns, name)] = (total / r["count"], ", ".join(
                    "%s %.2f" % (k, v / r["count"]) for k, v in top))
    print("| size | conns | server | server CPU us/msg (median of %d) | msg/s (median) | syscalls/msg | top syscalls/msg |"
          % args.runs)
    print("| ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for size, conns in cases:
        for name in servers:
            rs = rows[(size, conns, name)]
            us = statistics.median(r.get("server_us_op", float("nan")) for r in rs)
            rate = statistics.median(r["rate"] for r in rs)
            s = sc.get((size, conns, name))
            print("| %d | %d | %s | %.2f | %.0f | %s | %s |" % (
                size, conns, name, us, rate, "%.2f" % s[0] if s else "-", s[1] if s else "-"))


if __name__ == "__main__":
    main()
