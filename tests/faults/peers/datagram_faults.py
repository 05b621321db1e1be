"""Datagram ports under local faults, on the reactor named by argv[1]; argv[2] the scenario,
argv[3] a private directory (for UNIX sockets). Each scenario emits one event with what it saw.

- `emfile`: a UDP echo port on 127.0.0.1 (`listening`, port), then every descriptor used up
  (RLIMIT_NOFILE lowered to 256, /dev/null opened until EMFILE); listenUDP then fails: `exhausted`
  (error: the exception's class name, message, fds free). The established port still echoes (the
  test sends to it). On `free`, the filler descriptors are closed and listenUDP tried again:
  `recovered` (port).
- `refused`: a UDP port connected to 127.0.0.1:P where nothing listens; 2,000 datagrams written,
  100 every 10 ms, each answered by an ICMP port unreachable: `stormed` (refused: how often
  `connectionRefused` ran, write_errors: exceptions write() raised, connected). Then a socket
  binds P, sends the port one datagram and waits for one written by the port: `after`
  (received, reply).
- `unixfull`: a UNIX datagram socket that never reads (bound in the directory), and two ports
  writing to it until it is full and beyond: one from listenUNIXDatagram (write(data, path)),
  one from connectUNIXDatagram (write(data)); 2,000 datagrams each, 200 per reactor turn, while
  a 5 ms ticker measures the largest gap between its calls. `full` (per port: written, dropped
  (write returned None), errors (exception names), droppedDatagrams where the port counts it;
  the largest gap, seconds). Then the receiver drains and each port writes once more: `drained`
  (per port what write() returned, and how many the receiver got).
"""
import os
import socket
import sys
import time

from peerlib import Face, emit, fd_count, guarded, on_commands, set_nofile

face = Face(sys.argv[1])
SCENARIO, DIRECTORY = sys.argv[2], sys.argv[3]
reactor = face.reactor


class Echo(face.protocol.DatagramProtocol):
    noisy = False

    def datagramReceived(self, data, addr):
        self.transport.write(data, addr)


class Counting(face.protocol.DatagramProtocol):
    """Counts connectionRefused; keeps what it receives."""
    noisy = False

    def __init__(self):
        self.refused = 0
        self.received = []

    def datagramReceived(self, data, addr=None):
        self.received.append(data)

    def connectionRefused(self):
        self.refused += 1


class ConnectedCounting(face.protocol.ConnectedDatagramProtocol):
    """For connectUNIXDatagram (Twisted insists on a ConnectedDatagramProtocol)."""
    noisy = False

    def datagramReceived(self, data):
        pass


def emfile():
    set_nofile(256)
    port = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
    fillers = []
    while True:
        try:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    try:
        extra = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
        error, message = None, "listenUDP succeeded at EMFILE (port %s)" % extra.getHost().port
    except Exception as e:
        error, message = type(e).__name__, str(e)
    emit("exhausted", port=port.getHost().port, error=error, message=message, fds=fd_count())

    def command(cmd):
        if cmd["cmd"] == "free":
            for fd in fillers:
                os.close(fd)
            del fillers[:]
            again = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
            emit("recovered", port=again.getHost().port)

    on_commands(face, command)


def refused():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    closed = probe.getsockname()[1]
    probe.close()
    proto = Counting()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    port.connect("127.0.0.1", closed)
    state = {"sent": 0, "errors": []}

    @guarded
    def storm():
        for _ in range(100):
            try:
                port.write(b"anyone there? %d" % state["sent"])
            except Exception as e:
                state["errors"].append(type(e).__name__)
            state["sent"] += 1
        if state["sent"] < 2000:
            reactor.callLater(0.01, storm)
        else:
            reactor.callLater(0.1, finish)

    @guarded
    def finish():
        emit("stormed", sent=state["sent"], refused=proto.refused,
             write_errors=state["errors"][:5], write_error_count=len(state["errors"]),
             connected=bool(getattr(port, "connected", True)))
        # The port still serves: its peer now exists, and traffic flows both ways.
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", closed))
        peer.settimeout(3)
        peer.sendto(b"hello", ("127.0.0.1", port.getHost().port))
        port.write(b"reply")
        try:
            reply = peer.recv(100).decode()
        except socket.timeout:
            reply = None
        peer.close()
        reactor.callLater(0.2, lambda: emit("after", received=[d.decode() for d in proto.received],
                                            reply=reply))

    storm()


def unixfull():
    target = os.path.join(DIRECTORY, "full.sock")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(target)
    listening = reactor.listenUNIXDatagram(os.path.join(DIRECTORY, "sender.sock"), Counting())
    connected = reactor.connectUNIXDatagram(target, ConnectedCounting())
    ports = {"listening": (listening, lambda d: listening.write(d, target)),
             "connected": (connected, lambda d: connected.write(d))}
    tally = {name: {"written": 0, "dropped": 0, "errors": []} for name in ports}
    ticks = {"last": time.monotonic(), "gap": 0.0, "on": True}

    def tick():
        now = time.monotonic()
        ticks["gap"] = max(ticks["gap"], now - ticks["last"])
        ticks["last"] = now
        if ticks["on"]:
            reactor.callLater(0.005, tick)

    @guarded
    def storm(left):
        for name, (port, write) in ports.items():
            for _ in range(200):
                try:
                    result = write(b"x" * 512)
                except Exception as e:
                    tally[name]["errors"].append(type(e).__name__)
                    continue
                if result is None:
                    tally[name]["dropped"] += 1
                else:
                    tally[name]["written"] += 1
        if left > 1:
            reactor.callLater(0, storm, left - 1)
        else:
            reactor.callLater(0.05, report)

    @guarded
    def report():
        ticks["on"] = False
        for name, (port, write) in ports.items():
            errors = tally[name]["errors"]
            tally[name].update(errors=sorted(set(errors)), error_count=len(errors),
                               droppedDatagrams=getattr(port, "droppedDatagrams", None))
        emit("full", ports=tally, gap=ticks["gap"])
        sink.setblocking(False)
        drained = 0
        while True:
            try:
                sink.recv(4096)
            except BlockingIOError:
                break
            drained += 1
        results = {}
        for name, (port, write) in ports.items():
            results[name] = write(b"after")
        sink.settimeout(2)
        got = 0
        for _ in results:
            try:
                if sink.recv(4096) == b"after":
                    got += 1
            except socket.timeout:
                break
        emit("drained", drained=drained, results=results, received=got)

    tick()
    storm(10)


reactor.callWhenRunning(guarded({"emfile": emfile, "refused": refused,
                                 "unixfull": unixfull}[SCENARIO]))
face.run()
