"""Connects to an address whose SYNs vanish (a black hole), on the reactor named by argv[1].

argv: FACE ADDRESS. Runs three scenarios one after another and reports each:
- `order`: one connectTCP with timeout=0.5; every factory callback with its time since the call;
- `backoff`: a ReconnectingClientFactory (initialDelay 0.2, factor 2, maxDelay 0.5, no jitter,
  maxRetries 3) with timeout=0.3 per attempt; each attempt's start and failure times;
- `leak`: 30 attempts in a row with timeout=0.03, each started from the previous failure;
  descriptors, delayed calls and live connecting transports before and after (the
  transports counted once with the cyclic garbage collector off, once after a collection).
"""
import gc
import sys
import time
import weakref

from peerlib import Face, connect, emit, fd_count, guarded, reason_name

face = Face(sys.argv[1])
ADDRESS = sys.argv[2]
PORT = 80
reactor = face.reactor


def order(then):
    t0 = time.monotonic()
    trace = []

    def note(*what):
        trace.append(list(what) + [round(time.monotonic() - t0, 3)])

    class Client(face.protocol.ClientFactory):
        def startFactory(self):
            note("startFactory")

        def startedConnecting(self, connector):
            note("startedConnecting", connector.state)

        def buildProtocol(self, addr):
            note("buildProtocol")

        def clientConnectionFailed(self, connector, reason):
            note("clientConnectionFailed", reason_name(reason), reason.getErrorMessage(),
                 connector.state)

        def clientConnectionLost(self, connector, reason):
            note("clientConnectionLost", reason_name(reason))

        def stopFactory(self):
            note("stopFactory")
            emit("order", trace=trace)
            reactor.callLater(0, then)

    connect(face, ADDRESS, PORT, Client(), timeout=0.5)


def backoff(then):
    t0 = time.monotonic()
    trace = []

    class Backoff(face.protocol.ReconnectingClientFactory):
        initialDelay = delay = 0.2
        factor = 2.0
        maxDelay = 0.5
        jitter = 0
        maxRetries = 3
        noisy = False

        def startedConnecting(self, connector):
            trace.append(["start", round(time.monotonic() - t0, 3)])

        def clientConnectionFailed(self, connector, reason):
            trace.append(["failed", reason_name(reason), round(time.monotonic() - t0, 3)])
            face.protocol.ReconnectingClientFactory.clientConnectionFailed(self, connector, reason)

        def stopFactory(self):
            # Twisted stops the factory between attempts too; only the last stop ends it.
            if self.retries > self.maxRetries:
                trace.append(["abandoned", round(time.monotonic() - t0, 3)])
                emit("backoff", trace=trace, delayed_calls=len(reactor.getDelayedCalls()))
                reactor.callLater(0, then)

    factory = Backoff()
    factory.clock = reactor
    connect(face, ADDRESS, PORT, factory, timeout=0.3)


def leak(then):
    attempts = 30
    state = {"n": 0, "refs": []}
    before = {}

    class Again(face.protocol.ClientFactory):
        noisy = False

        def startedConnecting(self, connector):
            state["refs"].append(weakref.ref(connector.transport))

        @guarded
        def clientConnectionFailed(self, connector, reason):
            state["n"] += 1
            if reason_name(reason) != "TimeoutError":
                emit("error", error="attempt %d failed with %s" % (state["n"], reason))
            if state["n"] < attempts:
                connector.connect()
            else:
                reactor.callLater(0, finish)

    def finish():
        live_without_gc = sum(1 for r in state["refs"] if r() is not None)
        gc.enable()
        gc.collect()
        emit("leak", live_without_gc=live_without_gc, attempts=state["n"],
             fds_before=before["fds"], fds_after=fd_count(),
             calls_before=before["calls"], calls_after=len(reactor.getDelayedCalls()),
             live_transports=sum(1 for r in state["refs"] if r() is not None))
        reactor.callLater(0, then)

    # A warm-up attempt first, so lazily made descriptors (resolver, waker) are not counted.
    def measured():
        gc.collect()
        before["fds"] = fd_count()
        before["calls"] = len(reactor.getDelayedCalls())
        gc.disable()  # transports must be freed by reference counting alone (no cycles)
        connect(face, ADDRESS, PORT, Again(), timeout=0.03)

    class Warm(face.protocol.ClientFactory):
        noisy = False

        def clientConnectionFailed(self, connector, reason):
            reactor.callLater(0, measured)

    connect(face, ADDRESS, PORT, Warm(), timeout=0.03)


def main():
    steps = [order, backoff, leak]

    def next_step():
        if steps:
            guarded(steps.pop(0))(next_step)
        else:
            emit("done")
            reactor.stop()

    reactor.callWhenRunning(next_step)
    face.run()


main()
