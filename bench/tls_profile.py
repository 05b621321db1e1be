#!/usr/bin/env python3
"""Per-message cost of each TLS echo server in user-space instructions (callgrind), which do not
depend on the machine's noise.

    python bench/tls_profile.py [--impls fastreactor,aiofastnet,uvloop,...] [--size 1024]
                                [--messages 1000,4000]

Each server (bench/servers/tls_echo.py) runs twice under ``valgrind --tool=callgrind``, pinned to
CPU 0, while the compiled TLS load generator (bench/tls_loadgen.c) sends exactly M1, then M2
messages of --size bytes over one connection, one in flight; the figure is
(total2 - total1) / (M2 - M1), so start-up, the handshake and shutdown cancel out. It includes
OpenSSL's own work (about 19,000 instructions per 1 KiB message each way with OpenSSL 3.0 here),
which is the same for every server that uses the system's libssl.
"""
import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import procs  # noqa: E402
from tls_bench import build_loadgen, make_certificate  # noqa: E402

PROFILE_IMPLS = ("fastreactor", "aiofastnet", "uvloop", "asyncio", "twisted")


def total_instructions(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise ValueError("no totals in %s" % path)


def run_once(impl, loadgen, cert, key, messages, size, out):
    import subprocess
    argv = [sys.executable, os.path.join(HERE, "servers", "tls_echo.py"), impl, cert, key]
    wrap = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    server = procs.Server(argv, 0, start_timeout=300.0, wrap=wrap).start()
    try:
        result = subprocess.run(["taskset", "-c", "1", loadgen, "127.0.0.1", str(server.port), "1",
                                 str(size), "100000", "0", str(messages)],
                                capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            raise RuntimeError("load generator failed: %s" % result.stderr.strip())
    finally:
        server.stop(timeout=300.0)
    return total_instructions(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", default=",".join(PROFILE_IMPLS))
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--messages", default="1000,4000")
    args = parser.parse_args()
    m1, m2 = (int(m) for m in args.messages.split(","))
    loadgen = build_loadgen()
    tmp = tempfile.mkdtemp()
    cert, key = make_certificate(tmp)
    print("TLS echo of %d B over 1 connection: user instructions per message (callgrind), "
          "((M=%d) - (M=%d)) / %d" % (args.size, m2, m1, m2 - m1))
    for impl in args.impls.split(","):
        try:
            totals = [run_once(impl, loadgen, cert, key, m, args.size,
                               os.path.join(tmp, "%s-%d.out" % (impl, m))) for m in (m1, m2)]
        except Exception as e:  # noqa: BLE001
            print("%-14s failed: %s" % (impl, " ".join(str(e).split())[:200]))
            continue
        print("%-14s %10.0f" % (impl, (totals[1] - totals[0]) / (m2 - m1)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
