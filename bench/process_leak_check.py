"""Spawn and reap many children and check that nothing is left behind: no zombie, no descriptor,
no watched handle. (tests/test_process.py runs the same check with 500 children.)

    python bench/process_leak_check.py [--count 10000] [--parallel 10] [--poller epoll] [--pty]
"""
import argparse
import os
import sys
import time

import fastreactor
from fastreactor.protocol import ProcessProtocol


def zombies_of_mine():
    mine = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == mine and fields[0] == "Z":
                found.append(int(pid))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--poller", default=None)
    parser.add_argument("--pty", action="store_true", help="use usePTY=True (the fork+exec path)")
    args = parser.parse_args()
    reactor = fastreactor.Reactor(args.poller)
    fds_before = sorted(os.listdir("/proc/self/fd"))
    state = {"started": 0, "ended": 0, "bad": 0}

    class P(ProcessProtocol):
        def processEnded(self, reason):
            state["ended"] += 1
            if reason.value.exitCode != 0:
                state["bad"] += 1
            if state["started"] < args.count:
                start()
            elif state["ended"] == args.count:
                reactor.stop()

    def start():
        state["started"] += 1
        reactor.spawnProcess(P(), "/bin/true", ["true"], usePTY=args.pty)

    for _ in range(min(args.parallel, args.count)):
        start()
    t0 = time.perf_counter()
    reactor.run(installSignalHandlers=False)
    elapsed = time.perf_counter() - t0
    fds_after = sorted(os.listdir("/proc/self/fd"))
    zombies = zombies_of_mine()
    print("%d children (%d at once, %s) in %.1fs: %.0f/s; non-zero exits %d; zombies %d; "
          "descriptors before %d after %d; handles watched %d"
          % (state["ended"], args.parallel, "pty" if args.pty else "pipes", elapsed,
             state["ended"] / elapsed, state["bad"], len(zombies), len(fds_before), len(fds_after),
             reactor._handleCount()))
    ok = (state["ended"] == args.count and not state["bad"] and not zombies
          and fds_before == fds_after and reactor._handleCount() == 1)
    print("OK" if ok else "LEAK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
