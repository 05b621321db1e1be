#!/usr/bin/env python3
"""TLS echo benchmark: messages per second through each implementation's TLS echo server, and
the server's idle memory per TLS connection.

    python bench/tls_bench.py [--impls fastreactor,uvloop,...] [--sizes 1024,16384] [--conns 10]
                              [--seconds 5] [--warmup 1] [--idle 500]

The servers (bench/servers/tls_echo.py) run pinned to CPU 0 (if the machine has two), the
compiled load generator (bench/tls_loadgen.c, C with OpenSSL: needs libssl-dev to build) to the
others. Certificates are made at start (the `cryptography` package, else `openssl req`). Numbers
from a shared machine are noisy: compare ratios from one run.
"""
import argparse
import os
import shutil
import ssl
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cbuild  # noqa: E402

IMPLS = ("fastreactor", "fastreactor-twisted", "aiofastnet", "uvloop", "asyncio", "twisted")


def build_loadgen():
    src = os.path.join(HERE, "tls_loadgen.c")
    out = os.path.join(cbuild.BIN, "tls_loadgen")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    os.makedirs(cbuild.BIN, exist_ok=True)
    cmd = [cbuild.compiler(), "-O2", "-Wall", "-o", out, src, "-lssl", "-lcrypto"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise cbuild.BuildError("%s failed (libssl-dev installed?):\n%s" % (" ".join(cmd), proc.stderr))
    return out


def make_certificate(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    return cert, key


def pin(cpus):
    return ["taskset", "-c", cpus] if shutil.which("taskset") and os.cpu_count() >= 2 else []


def start_server(impl, cert, key):
    proc = subprocess.Popen(pin("0") + [sys.executable, os.path.join(HERE, "servers", "tls_echo.py"),
                                        impl, cert, key], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    if not line or line[0] != "PORT":
        proc.wait()
        return None, " ".join(line[1:]) or "no hand-shake line"
    return (proc, int(line[1])), None


def stop(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_memory(port, pid, count):
    """KiB of server RSS per idle TLS connection (handshake done, nothing sent)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    warm = [context.wrap_socket(socket.create_connection(("127.0.0.1", port))) for _ in range(20)]
    time.sleep(0.5)
    before = rss_kib(pid)
    conns = [context.wrap_socket(socket.create_connection(("127.0.0.1", port))) for _ in range(count)]
    time.sleep(1.0)
    after = rss_kib(pid)
    for c in conns + warm:
        c.close()
    return (after - before) / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--sizes", default="1024,16384")
    parser.add_argument("--conns", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--idle", type=int, default=500)
    args = parser.parse_args()
    loadgen = build_loadgen()
    sizes = [int(s) for s in args.sizes.split(",")]
    directory = tempfile.mkdtemp()
    cert, key = make_certificate(directory)
    rows = []
    for impl in args.impls.split(","):
        started, why = start_server(impl, cert, key)
        if started is None:
            rows.append((impl, ["not available: " + why]))
            continue
        proc, port = started
        cells = []
        try:
            for size in sizes:
                out = subprocess.run(pin("1") + [loadgen, "127.0.0.1", str(port), str(args.conns), str(size),
                                                 str(args.seconds), str(args.warmup)],
                                     capture_output=True, text=True, timeout=args.seconds + args.warmup + 60)
                if out.returncode != 0:
                    cells.append("failed: " + out.stderr.strip()[:100])
                else:
                    cells.append("%.0f" % float(out.stdout.split()[5]))
            if args.idle:
                cells.append("%.1f" % idle_memory(port, proc.pid, args.idle))
        finally:
            stop(proc)
        rows.append((impl, cells))
    header = ["implementation"] + ["%d B msg/s" % s for s in sizes] + (["idle KiB/conn"] if args.idle else [])
    print("TLS echo, %d connections, one message in flight each, %gs per case (noisy: shared machine)"
          % (args.conns, args.seconds))
    print("  ".join("%-16s" % h for h in header))
    for impl, cells in rows:
        print("  ".join("%-16s" % c for c in [impl] + cells))


if __name__ == "__main__":
    main()
