#!/usr/bin/env python3
"""Where a twisted.web request's time goes: cProfile of the hello-world server for N requests.

    python bench/webprof.py [fastreactor-twisted|twisted] [--requests 20000] [--warmup 2000] [--top 30]

Starts the web server of bench/servers/ (pinned to the first core) with cProfile switched on
after --warmup requests and off after --requests more, drives it with ``loadgen http --conns 1``
(on the second core), then prints the top functions by own time and by cumulative time, per
request, and the own time summed by where the code lives (twisted.web, the reactor, builtins...).
cProfile's own overhead inflates Python-level calls; compare the two reactors with each other,
and use ``bench/profile --workload web`` for exact instruction counts.
"""
import argparse
import os
import pstats
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "servers"))

import cbuild  # noqa: E402
import impls  # noqa: E402
import procs  # noqa: E402


def serve(impl, warmup, requests, out):
    """Child process: run IMPL's web server, profiling requests warmup+1 .. warmup+requests."""
    import cProfile

    import serverlib
    import web_twisted

    if impl == "twisted":
        from twisted.internet import epollreactor

        epollreactor.install()
    else:
        import fastreactor.twisted

        fastreactor.twisted.install()
    from twisted.internet import reactor

    profiler = cProfile.Profile()
    site = web_twisted.make_site()
    done = [0]

    def log(request):
        # Site.log runs once per finished request: a cheap hook to count them.
        done[0] += 1
        if done[0] == warmup:
            profiler.enable()
        elif done[0] == warmup + requests:
            profiler.disable()
            profiler.dump_stats(out + ".tmp")
            os.replace(out + ".tmp", out)  # the parent waits for the whole file, then stops us

    site.log = log
    if warmup == 0:
        profiler.enable()
    port = reactor.listenTCP(0, site, backlog=serverlib.BACKLOG, interface=serverlib.HOST)
    serverlib.announce(port.getHost().port)
    reactor.run(installSignalHandlers=False)


def area(path, name):
    """Which part of the stack a profiled function belongs to."""
    if path == "~":
        if "fastreactor" in name:
            return "fastreactor._core (compiled)"
        return "builtins / C methods"
    for key, label in (("/twisted/web/", "twisted.web"), ("/twisted/protocols/", "twisted.protocols (LineReceiver)"),
                       ("/twisted/internet/", "twisted.internet (reactor, tcp, base)"),
                       ("/twisted/python/", "twisted.python"), ("/fastreactor/", "fastreactor (Python)"),
                       ("/zope/", "zope.interface")):
        if key in path:
            return label
    return "other Python (stdlib)"


def report(path, requests, top):
    """Print the profile at PATH per request."""
    st = pstats.Stats(path)
    total = st.total_tt
    print("profiled %d requests: %.1f us of profiled time per request (cProfile overhead included)\n"
          % (requests, total / requests * 1e6))
    rows = []
    by_area = {}
    for (filename, line, name), (cc, nc, tt, ct, _) in st.stats.items():
        where = "%s:%d(%s)" % (os.path.basename(filename), line, name) if filename != "~" else name
        rows.append((tt, ct, nc, where))
        key = area(filename, name)
        by_area[key] = by_area.get(key, 0.0) + tt
    print("own time by area            us/req    share")
    for key, tt in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print("  %-36s %7.2f  %5.1f%%" % (key, tt / requests * 1e6, 100 * tt / total))
    for title, idx in (("by own time", 0), ("by cumulative time", 1)):
        print("\ntop %d %s:%s" % (top, title, " " * 40))
        print("  %8s %8s %8s  %s" % ("own us", "cum us", "calls/req", "function"))
        for tt, ct, nc, where in sorted(rows, key=lambda r: -r[idx])[:top]:
            print("  %8.2f %8.2f %8.2f  %s" % (tt / requests * 1e6, ct / requests * 1e6, nc / requests, where))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("impl", nargs="?", default="fastreactor-twisted", choices=impls.WEB)
    p.add_argument("--requests", type=int, default=20000, help="requests profiled")
    p.add_argument("--warmup", type=int, default=2000, help="requests before the profiler starts")
    p.add_argument("--top", type=int, default=30, help="functions listed")
    p.add_argument("--stats", help="also keep the pstats file here")
    p.add_argument("--serve", help=argparse.SUPPRESS)  # internal: the child's pstats path
    args = p.parse_args(argv)
    if args.serve:
        serve(args.impl, args.warmup, args.requests, args.serve)
        return 0
    bins = cbuild.build_all()
    server_cpu, load_cpu = procs.cpus()
    with tempfile.TemporaryDirectory(prefix="fr-webprof-") as tmp:
        out = args.stats or os.path.join(tmp, "web.pstats")
        argv = [sys.executable, os.path.abspath(__file__), args.impl, "--requests", str(args.requests),
                "--warmup", str(args.warmup), "--serve", out]
        server = procs.Server(argv, server_cpu).start()
        try:
            result = procs.run_loadgen(bins["loadgen"], ["http", "--port", server.port, "--conns", 1,
                                                         "--messages", args.warmup + args.requests], load_cpu)
            deadline = time.monotonic() + 60
            while not os.path.exists(out) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            server.stop()
        if result["errors"]:
            raise SystemExit("%d errors from the load generator" % result["errors"])
        if not os.path.exists(out):
            raise SystemExit("the server wrote no profile")
        print("%s: " % args.impl, end="")
        report(out, args.requests, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
