"""Run the fastreactor benchmark suite and print a table.

    python bench/run.py            # full run: 3 alternated runs per case, JSON + PNG in bench/out/,
                                   # bench/RESULTS.md rewritten
    python bench/run.py --quick    # 1 run per case, shorter cases: under 2 minutes on 2 cores
    python bench/run.py --quick --tiny   # seconds; what tests/test_bench.py runs

Run it with the Python that has fastreactor installed (servers run on sys.executable).
See bench/README.md for what each workload measures.
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import time

import cbuild
import impls
import jobs
import machine
import plan
import procs
import progress
import report
import results_md

HERE = os.path.dirname(os.path.abspath(__file__))
ECHO_SERVER_WORKLOADS = ("echo", "unix", "connect", "idle")


def parse_args(argv=None):
    """Command-line options; every preset value can be overridden."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="1 run per case, short cases (< 2 min)")
    p.add_argument("--tiny", action="store_true", help="a few seconds' smoke configuration (implies --quick)")
    p.add_argument("--runs", type=int, help="alternated runs per case (median reported)")
    p.add_argument("--duration", type=float, help="measured seconds per echo/connect run")
    p.add_argument("--warmup", type=float, help="unmeasured seconds before each echo/connect run")
    p.add_argument("--sizes", type=_ints, help="echo message sizes in bytes, e.g. 64,1024")
    p.add_argument("--conns", type=_ints, help="echo connection counts, e.g. 1,10,100")
    p.add_argument("--unix-sizes", type=_ints, help="message sizes of the echo over UNIX sockets, e.g. 1024,65536")
    p.add_argument("--unix-conns", type=_ints, help="connection counts of the echo over UNIX sockets, e.g. 10")
    p.add_argument("--connect-conns", type=int, help="concurrent slots of the short-lived connections workload")
    p.add_argument("--web-conns", type=_ints, help="keep-alive connection counts of the twisted.web workload, e.g. 1,10,100")
    p.add_argument("--timers", type=int, help="timers per timers run")
    p.add_argument("--idle-conns", type=int, help="idle connections for the memory workload")
    p.add_argument("--framing-seconds", type=float, help="seconds per framing run")
    p.add_argument("--only", type=_names(plan.WORKLOADS), help="workloads to run, e.g. echo,timers")
    p.add_argument("--impls", type=_names(impls.ORDER), help="implementations to run, e.g. fastreactor,uvloop")
    p.add_argument("--out", default=os.path.join(HERE, "out"), help="directory for JSON and PNG (default bench/out)")
    p.add_argument("--chart", action=argparse.BooleanOptionalAction, default=None,
                   help="draw the PNG chart (default: in full runs only)")
    p.add_argument("--results-md", action=argparse.BooleanOptionalAction, default=None,
                   help="rewrite bench/RESULTS.md (default: in full runs of every workload and implementation)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="show a progress bar on stderr")
    return p.parse_args(argv)


def _ints(text):
    return tuple(int(x) for x in text.split(","))


def _names(allowed):
    def parse(text):
        names = tuple(x.strip() for x in text.split(",") if x.strip())
        bad = [n for n in names if n not in allowed]
        if bad:
            raise argparse.ArgumentTypeError("unknown: %s (choose from %s)" % (", ".join(bad), ", ".join(allowed)))
        return names
    return parse


def config_from(args):
    """The Config for the parsed ARGS."""
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    return plan.make_config(mode, runs=args.runs, duration=args.duration, warmup=args.warmup, sizes=args.sizes,
                            conns=args.conns, connect_conns=args.connect_conns, web_conns=args.web_conns,
                            unix_sizes=args.unix_sizes, unix_conns=args.unix_conns,
                            timers=args.timers,
                            idle_conns=args.idle_conns, framing_seconds=args.framing_seconds,
                            workloads=args.only, impls=args.impls)


def probe_servers(cfg, ctx):
    """Start every server once; keep the ones that start, return {impl: reason} for the others."""
    unavailable = {}
    if not any(w in cfg.workloads for w in ECHO_SERVER_WORKLOADS):
        return unavailable
    for name in cfg.impls:
        try:
            ctx.servers[name] = procs.Server(impls.server_command(name, ctx.bins), ctx.server_cpu).start()
        except procs.Unavailable as e:
            unavailable[name] = str(e)
    return unavailable


def stop_servers(ctx, echo=True, web=True, udp=True, unix=True):
    """Stop the long-lived echo servers (ECHO), twisted.web servers (WEB), UDP servers (UDP) and
    echo servers on UNIX sockets (UNIX)."""
    for servers in (([ctx.servers] if echo else []) + ([ctx.web_servers] if web else [])
                    + ([ctx.udp_servers] if udp else []) + ([ctx.unix_servers] if unix else [])):
        for server in servers.values():
            server.stop()
        servers.clear()
    if unix and ctx.unix_dir is not None:
        shutil.rmtree(ctx.unix_dir, ignore_errors=True)     # sockets a killed server left
        ctx.unix_dir = None


def execute(cfg, ctx, bar):
    """Run every job of the plan; return (runs, unavailable {workload: {impl: reason}})."""
    unavailable = {w: {} for w in cfg.workloads}
    down = probe_servers(cfg, ctx)
    for w in ECHO_SERVER_WORKLOADS:
        if w in unavailable:
            unavailable[w].update(down)
    runs = []
    for workload, case, name, rep in plan.jobs(cfg):
        # only the servers of the current workload stay up: the core is the server under test's
        stop_servers(ctx, echo=workload not in ("echo", "connect"), web=workload != "web",
                     udp=workload != "udp", unix=workload != "unix")
        if name in unavailable[workload]:
            bar.update("%s: %s skipped" % (workload, name))
            continue
        run = {"workload": workload, "case": case, "impl": name, "rep": rep}
        try:
            run["metrics"] = jobs.run(ctx, workload, case, name)
        except procs.Unavailable as e:
            unavailable[workload][name] = str(e)
            bar.update("%s: %s not available" % (workload, name))
            continue
        except Exception as e:  # noqa: BLE001 - one failed job must not lose the others
            run["error"] = "%s: %s" % (type(e).__name__, e)
        runs.append(run)
        bar.update("%s %s: %s" % (workload, case["label"], name))
    stop_servers(ctx)
    return runs, unavailable


def main(argv=None):
    """Run the suite; return the process exit status."""
    args = parse_args(argv)
    cfg = config_from(args)
    try:
        bins = cbuild.build_all()
    except cbuild.BuildError as e:
        print("bench: cannot build the C programs: %s" % e, file=sys.stderr)
        return 2
    ctx = jobs.Context(cfg, bins, {})
    os.sched_setaffinity(0, {ctx.load_cpu})  # keep the orchestrator off the server's core
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    bar = progress.Bar(len(plan.jobs(cfg)), enabled=args.progress)
    try:
        runs, unavailable = execute(cfg, ctx, bar)
    finally:
        stop_servers(ctx)
    bar.done()
    result = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": time.monotonic() - t0,
        "machine": machine.describe(),
        "cpus": [ctx.server_cpu, ctx.load_cpu],
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cfg).items()},
        "cases": {w: plan.cases(cfg, w) for w in cfg.workloads},
        "unavailable": unavailable,
        "runs": runs,
    }
    print(report.render_text(report.tables(result)))
    os.makedirs(args.out, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    base = os.path.join(args.out, "%s-%s" % (cfg.mode, stamp))
    with open(base + ".json", "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "latest-%s.json" % cfg.mode), "w") as f:
        json.dump(result, f, indent=1)
    print("results: %s.json" % base)
    if args.chart if args.chart is not None else cfg.mode == "full":
        import chart

        chart.draw(result, base + ".png")
        print("chart:   %s.png" % base)
    complete = cfg.workloads == plan.WORKLOADS and cfg.impls == impls.ORDER
    if args.results_md if args.results_md is not None else (cfg.mode == "full" and complete):
        print("summary: %s" % results_md.write(result))
    failed = [r for r in runs if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
