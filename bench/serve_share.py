"""How `fastreactor serve --workers N` spreads connections over its workers.

    python bench/serve_share.py [--workers 2] [--connections 10000] [--concurrency 8]

Starts `python -m fastreactor serve` on an echo factory that answers "pid\\n" with the worker's
pid, opens CONNECTIONS connections (CONCURRENCY at a time, each asks the pid and closes), and
prints each worker's share. A measurement, not a test: on Linux the kernel's SO_REUSEPORT hash
decides (per connection 4-tuple), so shares are close to 1/N but not exact.
"""
import argparse
import collections
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

APP = '''
import os
from fastreactor import protocol

class Pid(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(b"%d\\n" % os.getpid())

factory = protocol.Factory.forProtocol(Pid)
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"pid\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(64)
            if not chunk:
                raise ConnectionError("closed early")
            data += chunk
        return int(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "shareapp.py"), "w") as f:
            f.write(APP)
        log = open(os.path.join(tmp, "serve.log"), "w+")
        serve = subprocess.Popen(
            [sys.executable, "-m", "fastreactor", "serve", "shareapp:factory", "--listen",
             "tcp:%d:interface=127.0.0.1:backlog=1024" % port, "--workers", str(args.workers)],
            cwd=tmp, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                log.seek(0)
                if log.read().count("is serving") >= args.workers:
                    break
                if time.monotonic() > deadline or serve.poll() is not None:
                    log.seek(0)
                    sys.exit("serve did not start:\n" + log.read())
                time.sleep(0.05)
            counts = collections.Counter()
            errors = collections.Counter()
            lock = threading.Lock()
            remaining = [args.connections]

            def client():
                while True:
                    with lock:
                        if remaining[0] == 0:
                            return
                        remaining[0] -= 1
                    try:
                        pid = ask(port)
                    except OSError as e:
                        with lock:
                            errors[type(e).__name__] += 1
                        continue
                    with lock:
                        counts[pid] += 1

            started = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - started
        finally:
            serve.terminate()
            serve.wait(60)
    total = sum(counts.values())
    print("%d connections over %d workers in %.1fs (%d failed: %s)"
          % (total, args.workers, elapsed, sum(errors.values()), dict(errors)))
    for i, (pid, n) in enumerate(sorted(counts.items())):
        print("  worker pid %d: %6d  %5.1f%%" % (pid, n, 100.0 * n / total))
    ideal = total / float(args.workers)
    print("largest deviation from an even share: %.1f%%"
          % (100.0 * max(abs(n - ideal) for n in counts.values()) / ideal))


if __name__ == "__main__":
    main()
