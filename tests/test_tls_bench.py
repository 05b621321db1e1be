"""The TLS benchmark must keep running: a tiny run of bench/tls_bench.py against the native
server, no speed checked. Building its load generator needs OpenSSL's headers (libssl-dev),
which the rest of the suite does not: without them this is skipped, saying so."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bench/ uses epoll and /proc"),
    pytest.mark.skipif(not os.path.exists("/usr/include/openssl/ssl.h"),
                       reason="the TLS load generator needs OpenSSL's headers (apt-get install libssl-dev)"),
    pytest.mark.skipif(shutil.which("openssl") is None,
                       reason="tls_bench.py makes its certificate with the openssl command"),
]


def test_tiny_tls_bench_run_reports_a_rate_and_idle_memory():
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "tls_bench.py"), "--impls", "fastreactor",
                           "--sizes", "1024", "--seconds", "0.5", "--warmup", "0.2", "--idle", "20"],
                          capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = [line.split() for line in proc.stdout.splitlines() if line.startswith("fastreactor")]
    assert len(row) == 1, proc.stdout
    rate, idle = float(row[0][1]), float(row[0][2])
    assert rate > 0 and idle > 0, proc.stdout
