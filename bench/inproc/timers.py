"""Timers benchmark, run in-process for one implementation (one process per run).

    python bench/inproc/timers.py IMPL N [SEED]

IMPL is fastreactor, fastreactor-twisted, twisted, asyncio or uvloop.  Schedules N timers
with random delays (uniform in [0, 10 ms), the same sequence for every implementation),
cancels every third one, lets the rest fire and stops the loop when the last one has fired.
One "op" is one timer's whole life: scheduled, then cancelled or fired.  Prints one JSON
line: ops per second of wall time and of CPU time, or ``UNAVAILABLE <reason>`` (exit 3).
"""
import json
import random
import sys
import time

MAX_DELAY = 0.010


def unavailable(reason):
    """Report that IMPL cannot run here and exit with status 3."""
    print("UNAVAILABLE " + " ".join(str(reason).split()), flush=True)
    sys.exit(3)


def loop_api(impl):
    """Return (call_later, cancel, run, stop) for IMPL, each a plain callable."""
    try:
        if impl == "fastreactor":
            from fastreactor import Reactor

            r = Reactor()
            return r.callLater, (lambda h: h.cancel()), r.run, r.stop
        if impl in ("twisted", "fastreactor-twisted"):
            if impl == "twisted":
                from twisted.internet import epollreactor

                epollreactor.install()
            else:
                import fastreactor.twisted

                fastreactor.twisted.install()
            from twisted.internet import reactor as r

            return r.callLater, (lambda h: h.cancel()), (lambda: r.run(installSignalHandlers=False)), r.stop
        if impl in ("asyncio", "uvloop"):
            if impl == "uvloop":
                import uvloop

                loop = uvloop.new_event_loop()
            else:
                import asyncio

                loop = asyncio.new_event_loop()
            return loop.call_later, (lambda h: h.cancel()), loop.run_forever, loop.stop
    except Exception as e:  # noqa: BLE001 - any failure to import/construct means "not here"
        unavailable("%s not available: %r" % (impl, e))
    unavailable("unknown implementation %r" % impl)


def bench(impl, n, seed=1):
    """Run the timers workload once and return the result dict."""
    call_later, cancel, run, stop = loop_api(impl)
    rnd = random.Random(seed)
    delays = [rnd.random() * MAX_DELAY for _ in range(n)]
    expected = n - len(range(0, n, 3))
    fired = [0]

    def fire():
        fired[0] += 1
        if fired[0] == expected:
            stop()

    c0, t0 = time.process_time(), time.perf_counter()
    handles = [call_later(d, fire) for d in delays]
    for h in handles[::3]:
        cancel(h)
    run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if fired[0] != expected:
        raise SystemExit("%s: %d timers fired, expected %d" % (impl, fired[0], expected))
    return {"impl": impl, "timers": n, "cancelled": n - expected, "fired": fired[0],
            "wall_s": wall, "cpu_s": cpu, "ops_s": n / wall, "ops_cpu_s": n / cpu if cpu else 0.0}


def main():
    impl, n = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    print(json.dumps(bench(impl, n, seed)), flush=True)


if __name__ == "__main__":
    main()
