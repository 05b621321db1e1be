"""Connect/echo/close cycles against a fastreactor TCP server, run in a fresh interpreter by
tests/test_tcp_memory.py so that only these cycles count: no heap left by earlier tests, no
descriptors they hold (which would push select past FD_SETSIZE), no test harness keeping log
records. Prints one JSON object: RSS samples (KiB), connections made and lost by the server,
connections still counted open, and the number of error log records.

Usage: python memory_cycles.py POLLER TOTAL BATCH
"""
import gc
import json
import logging
import socket
import sys
import time

import fastreactor
from fastreactor import protocol


class Echo(protocol.Protocol):
    made = 0
    lost = 0

    def connectionMade(self):
        Echo.made += 1

    def dataReceived(self, data):
        self.transport.write(data)

    def connectionLost(self, reason):
        Echo.lost += 1


class CountErrors(logging.Handler):
    """Counts error records and drops them (keeping them would itself grow the heap)."""
    count = 0
    first = None

    def emit(self, record):
        CountErrors.count += 1
        if CountErrors.first is None:
            CountErrors.first = self.format(record)


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def settle(reactor, limit=10.0):
    """Iterate until the server has seen every close the clients made, then collect garbage:
    connections still open at a sample would count their buffers as growth."""
    deadline = time.monotonic() + limit
    while (Echo.lost < Echo.made or reactor.stats()["connections_open"]) \
            and time.monotonic() < deadline:
        reactor.iterate(0.01)
    gc.collect()


def main(poller, total, batch):
    logging.getLogger().addHandler(CountErrors(logging.ERROR))
    reactor = fastreactor.Reactor(poller)
    factory = protocol.Factory.forProtocol(Echo)
    factory.noisy = False
    port = reactor.listenTCP(0, factory, interface="127.0.0.1", backlog=1024)
    address = ("127.0.0.1", port.getHost().port)
    samples = []
    rounds = total // batch
    for i in range(rounds):
        clients = []
        for _ in range(batch):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(address)
            clients.append(c)
        reactor.iterate(0)
        for c in clients:
            try:
                c.send(b"x")
            except OSError:
                pass
        reactor.iterate(0)
        reactor.iterate(0)
        for c in clients:
            c.close()
        reactor.iterate(0)
        reactor.iterate(0)
        if i == rounds // 4:
            settle(reactor)
            samples.append(rss_kib())
    # Connections still in the accept queue are accepted here, so every one is counted.
    deadline = time.monotonic() + 30
    while Echo.made < rounds * batch and time.monotonic() < deadline:
        reactor.iterate(0.01)
    settle(reactor)
    samples.append(rss_kib())
    json.dump({"samples": samples, "made": Echo.made, "lost": Echo.lost,
               "open": reactor.stats()["connections_open"], "errors": CountErrors.count,
               "first_error": CountErrors.first, "cycles": rounds * batch}, sys.stdout)
    port.stopListening()
    reactor.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
