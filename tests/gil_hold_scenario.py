"""A native thread entering Python while a lone reactor waits, run in a fresh interpreter by
tests/test_wait_alone_holds_gil_briefly.py, so that the reactor's thread really is the only Python
thread (earlier tests leave thread-pool threads behind).

Prints one JSON object: the number of Python threads when the wait began, and, from the start of
the wait, when the native thread entered Python and when the wait returned (seconds).

Usage: python gil_hold_scenario.py LIBRARY POLLER WAIT(-1: none) BUSY(0|1)
"""
import ctypes
import json
import socket
import sys
import threading
import time

import fastreactor
from fastreactor.protocol import Factory, Protocol

DELAY = 0.2     # the native thread enters Python this long after the wait began

CALLBACK = ctypes.CFUNCTYPE(None)


class Echo(Protocol):
    received = 0

    def dataReceived(self, data):
        Echo.received += len(data)
        self.transport.write(data)


def busy_iterations(reactor):
    """200 waits that end at once, each with a message to echo."""
    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    for i in range(200):
        peer.sendall(b"x")
        deadline = time.monotonic() + 10
        while Echo.received < i + 1:
            if time.monotonic() > deadline:
                raise SystemExit("no echo")
            reactor.iterate(0.01)
        assert peer.recv(1) == b"x"
    return port, peer


def main():
    library, poller, wait, busy = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1"
    native = ctypes.CDLL(library)
    native.call_from_native_thread.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    reactor = fastreactor.Reactor(poller)
    held = busy_iterations(reactor) if busy else None
    entered = []

    def from_c():
        entered.append(time.monotonic())
        reactor.callFromThread(lambda: None)

    callback = CALLBACK(from_c)     # kept alive until the native thread has called it
    threads = threading.active_count()
    began = time.monotonic()
    assert native.call_from_native_thread(ctypes.cast(callback, ctypes.c_void_p), int(DELAY * 1e6)) == 0
    reactor.iterate(wait)
    while not entered and time.monotonic() - began < DELAY:
        reactor.iterate(wait)   # cut short before the thread came (a signal): wait again
    returned = time.monotonic() - began
    deadline = time.monotonic() + 10
    while not native.native_thread_finished() and time.monotonic() < deadline:
        time.sleep(0.01)
    print(json.dumps({"threads": threads, "entered": entered[0] - began if entered else None,
                      "returned": returned}))
    if held is not None:
        held[1].close()
        held[0].stopListening()
    reactor.close()


if __name__ == "__main__":
    main()
