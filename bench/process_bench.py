"""Child-process benchmarks: fastreactor against Twisted's epoll reactor, asyncio and uvloop.

    python bench/process_bench.py [--spawns 1000] [--parallel 10] [--mib 256] [--runs 3]
                                  [--impls fastreactor,twisted,asyncio,uvloop] [--only spawn,read]

- spawn: start /bin/true `--spawns` times, `--parallel` at once, each with stdin, stdout and stderr
  pipes (the spawnProcess default), and wait until it has exited and its pipes have closed
  (processEnded; for asyncio/uvloop create_subprocess_exec then communicate()).
- read: a child (`head -c N /dev/zero`) writes `--mib` MiB to its stdout; the parent counts it.

Each measurement runs in a fresh interpreter; implementations alternate within each run, and the
table shows the median rate, the parent's CPU seconds (children excluded), and the ratio to the
best peer. The machine is shared: absolute numbers drift between minutes, ratios less so.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

IMPLS = ["fastreactor", "twisted", "asyncio", "uvloop"]


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---- workers (one measurement, in a fresh interpreter) ------------------------------------------

def reactor_worker(impl, workload, spawns, parallel, nbytes):
    if impl == "fastreactor":
        import fastreactor
        from fastreactor.protocol import ProcessProtocol
        reactor = fastreactor.Reactor()
    else:
        from twisted.internet import epollreactor
        from twisted.internet.protocol import ProcessProtocol
        reactor = epollreactor.EPollReactor()
    state = {"started": 0, "ended": 0, "bytes": 0}

    class Spawned(ProcessProtocol):
        def processEnded(self, reason):
            state["ended"] += 1
            if state["started"] < spawns:
                start()
            elif state["ended"] == spawns:
                reactor.stop()

    class Reader(ProcessProtocol):
        def outReceived(self, data):
            state["bytes"] += len(data)

        def processEnded(self, reason):
            reactor.stop()

    def start():
        state["started"] += 1
        reactor.spawnProcess(Spawned(), "/bin/true", ["true"])

    def begin():
        if workload == "spawn":
            for _ in range(min(parallel, spawns)):
                start()
        else:
            reactor.spawnProcess(Reader(), "head", ["head", "-c", str(nbytes), "/dev/zero"], env=None)

    reactor.callWhenRunning(begin)
    t0, c0 = time.perf_counter(), cpu()
    reactor.run()       # Twisted reaps through its SIGCHLD handler, installed with the signal handlers
    elapsed, used = time.perf_counter() - t0, cpu() - c0
    if workload == "read":
        assert state["bytes"] == nbytes, state
    else:
        assert state["ended"] == spawns, state
    return elapsed, used


def asyncio_worker(impl, workload, spawns, parallel, nbytes):
    import asyncio
    PIPE = asyncio.subprocess.PIPE

    async def one():
        p = await asyncio.create_subprocess_exec("/bin/true", stdin=PIPE, stdout=PIPE, stderr=PIPE)
        await p.communicate()

    async def spawn_all():
        remaining = [spawns]

        async def lane():
            while remaining[0] > 0:
                remaining[0] -= 1
                await one()

        await asyncio.gather(*(lane() for _ in range(parallel)))

    async def read_all():
        p = await asyncio.create_subprocess_exec("head", "-c", str(nbytes), "/dev/zero", stdout=PIPE)
        total = 0
        while True:
            chunk = await p.stdout.read(1 << 18)
            if not chunk:
                break
            total += len(chunk)
        await p.wait()
        assert total == nbytes, total

    if impl == "uvloop":
        import uvloop
        runner = uvloop.run
    else:
        runner = asyncio.run
    t0, c0 = time.perf_counter(), cpu()
    runner(spawn_all() if workload == "spawn" else read_all())
    return time.perf_counter() - t0, cpu() - c0


def worker(args):
    fn = asyncio_worker if args.worker in ("asyncio", "uvloop") else reactor_worker
    elapsed, used = fn(args.worker, args.workload, args.spawns, args.parallel, args.mib << 20)
    print(json.dumps({"seconds": elapsed, "cpu": used}))


# ---- driver --------------------------------------------------------------------------------------

def available(impl):
    module = {"fastreactor": "fastreactor", "twisted": "twisted", "asyncio": "asyncio", "uvloop": "uvloop"}[impl]
    return subprocess.run([sys.executable, "-c", "import " + module], capture_output=True, cwd="/").returncode == 0


def measure(impl, workload, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, "--workload", workload,
           "--spawns", str(args.spawns), "--parallel", str(args.parallel), "--mib", str(args.mib)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd="/")
    if done.returncode != 0:
        raise RuntimeError("%s %s failed: %s" % (impl, workload, done.stderr[-2000:]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--only", default="spawn,read")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    impls = [i for i in args.impls.split(",") if available(i)]
    workloads = args.only.split(",")
    results = {w: {i: [] for i in impls} for w in workloads}
    for run in range(args.runs):
        order = impls[run % len(impls):] + impls[:run % len(impls)]
        for workload in workloads:
            for impl in order:
                results[workload][impl].append(measure(impl, workload, args))
    report = {}
    for workload in workloads:
        unit = "spawns/s" if workload == "spawn" else "MiB/s"
        amount = args.spawns if workload == "spawn" else args.mib
        print("\n%s (%s; median of %d runs; parent CPU seconds per run)" % (workload, unit, args.runs))
        rates = {}
        for impl in impls:
            runs = results[workload][impl]
            rates[impl] = statistics.median(amount / r["seconds"] for r in runs)
            report.setdefault(workload, {})[impl] = {
                "rate": rates[impl], "cpu": statistics.median(r["cpu"] for r in runs), "runs": runs}
        peers = [rates[i] for i in impls if i != "fastreactor"]
        best = max(peers) if peers else None
        for impl in impls:
            ratio = " (%.2fx the best peer)" % (rates[impl] / best) if impl == "fastreactor" and best else ""
            print("  %-12s %10.1f %s  cpu %.2fs%s" % (impl, rates[impl], unit,
                                                     report[workload][impl]["cpu"], ratio))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
