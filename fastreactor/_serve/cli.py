"""The command line: `fastreactor serve MODULE:OBJECT [options]` (also `python -m fastreactor
serve`).

    fastreactor serve myapp:factory --listen tcp:8000 --workers auto --grace 30

Options: `--listen ENDPOINT` (repeatable; default tcp:8000; Twisted's endpoint syntax, see
`fastreactor.endpoints`), `--workers N|auto` (default 1; auto = the number of CPUs),
`--grace SECONDS` (default 30: how long a stopping worker lets open connections finish),
`--pidfile PATH`, `--metrics ENDPOINT` (Prometheus text on HTTP, e.g. tcp:9100),
`--twisted` (install fastreactor's Twisted reactor first, to serve Twisted factories and services,
a twisted.web Site say).

Exit statuses: 0 stopped by SIGTERM/SIGINT after draining; 1 failure (e.g. pidfile); 2 bad
command line; 3 the target could not be loaded (or is neither a factory nor a service); 4 an
endpoint could not be listened on; 5 stopped, but a worker had to be killed (it did not stop
within grace + 10 s).
"""
import argparse
import os
import sys

from fastreactor import endpoints

EXIT_USAGE = 2


def _workers(value):
    if value == "auto":
        return os.cpu_count() or 1
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of workers or 'auto', not %r" % value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1, not %d" % n)
    return n


def _seconds(value):
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds, not %r" % value)
    if not seconds >= 0:
        raise argparse.ArgumentTypeError("must be >= 0, not %r" % value)
    return seconds


def _endpoint(value):
    try:
        endpoints.serverFromString(None, value)
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(str(e))
    return value


def parser():
    """The argument parser of `fastreactor`."""
    top = argparse.ArgumentParser(prog="fastreactor",
                                  description="fastreactor: Twisted's model on a compiled loop.")
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="serve a factory or service on one or more worker processes",
        description="Serve MODULE:OBJECT (a protocol factory, a service, or a callable "
                    "returning one) on worker processes under a supervisor that restarts them, "
                    "replaces them on SIGHUP, and drains them on SIGTERM/SIGINT.",
        epilog="Exit status: 0 stopped cleanly, 1 failure, 2 bad command line, 3 target not "
               "loadable, 4 cannot listen, 5 a worker had to be killed at shutdown.")
    serve.add_argument("target", metavar="MODULE:OBJECT")
    serve.add_argument("--listen", action="append", type=_endpoint, metavar="ENDPOINT",
                       help="where to listen (repeatable; default tcp:8000), e.g. "
                            "tcp:8000:interface=127.0.0.1")
    serve.add_argument("--workers", type=_workers, default=1, metavar="N|auto",
                       help="worker processes (default 1; auto = one per CPU)")
    serve.add_argument("--grace", type=_seconds, default=30.0, metavar="SECONDS",
                       help="how long stopping workers let open connections finish (default 30)")
    serve.add_argument("--pidfile", metavar="PATH", help="write the supervisor's pid here")
    serve.add_argument("--metrics", type=_endpoint, metavar="ENDPOINT",
                       help="serve loop metrics as Prometheus text on this endpoint (tcp:)")
    serve.add_argument("--twisted", action="store_true",
                       help="install fastreactor's Twisted reactor first (Twisted factories)")
    serve.add_argument("--stats-interval", type=_seconds, default=1.0, help=argparse.SUPPRESS)
    return top


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:    # internal: the supervisor starting a worker (not in --help)
        from fastreactor._serve import worker
        return worker.main()
    args = parser().parse_args(argv)
    if args.command != "serve":
        parser().print_help(sys.stderr)
        return EXIT_USAGE
    if ":" not in args.target or args.target.startswith(":") or args.target.endswith(":"):
        parser().error("the target must be MODULE:OBJECT, not %r" % (args.target,))
    from fastreactor._serve import supervisor
    supervisor.setup_logging()
    config = supervisor.Config(
        target=args.target, listen=args.listen or ["tcp:8000"], workers=args.workers,
        grace=args.grace, pidfile=args.pidfile, metrics=args.metrics, twisted=args.twisted,
        stats_interval=args.stats_interval or 1.0)
    return supervisor.Supervisor(config).run()
