"""Connection-lifecycle scenarios shared by every stream kind's differential test
(tests/test_tcp_lifecycle.py, tests/test_unix_lifecycle.py): traced factories and protocols,
the comparison with Twisted's epoll reactor, and the scenarios that only differ by how a kind
listens and connects (a `StreamKind` subclass says that; its `scenarios()` are the shared ones).
The traced classes themselves are recording.py's `recording_classes`, re-exported here."""
from differential import compare as compare_per_actor
from faces import Boom, by_actor as split_by_actor, native_face, reason_name
from recording import recording_classes
from tracing import run_traced

__all__ = ["StreamKind", "actor", "by_actor", "compare", "fast_face", "recording_classes"]

# A native-face fastreactor on `poller`: what the lifecycle tests compare with Twisted.
fast_face = native_face


def actor(entry):
    """Who an entry belongs to: 'client' (the client factory and its protocols, which run one after
    the other), 'serverF' (the server factory), 'server#N' (one server connection), or 'scenario'."""
    name = entry if isinstance(entry, str) else entry[0]
    head = name.split(".", 1)[0]
    if head in ("client", "clientF"):
        return "client"
    return head if "." in name else "scenario"


def by_actor(trace):
    """`trace` split per actor (see `actor`)."""
    return split_by_actor(trace, actor)


def compare(scenario, poller, timeout=5.0, face=None):
    """Run on Twisted and on `face` (default the native face on `poller`); each actor's sequence
    (see `actor`) must be identical (and so must the set of actors). Returns fastreactor's trace."""
    return compare_per_actor(scenario, face or fast_face(poller), actor, timeout)


class StreamKind:
    """One stream socket kind as the shared scenarios see it. A subclass provides `listen(reactor,
    factory)` (start listening, return the address to connect to), `connect(reactor, address,
    factory)` (return the connector) and `address_name` (the class name of the addresses
    buildProtocol gets). `scenarios()` maps a scenario name to a callable(reactor, face, trace,
    done) for run_traced/compare."""

    address_name = None

    def listen(self, reactor, factory):
        raise NotImplementedError

    def connect(self, reactor, address, factory):
        raise NotImplementedError

    def serve(self, reactor, SF, CF):
        """Listen with a fresh SF() and connect a fresh CF() to it; returns the connector."""
        return self.connect(reactor, self.listen(reactor, SF()), CF())

    def scenarios(self):
        names = ["echo_and_close", "server_build_none", "client_build_none", "server_closes",
                 "server_aborts", "client_aborts", "data_received_raises",
                 "connection_made_raises", "reconnect", "write_after_lose", "half_close"]
        return {name: getattr(self, "scenario_" + name) for name in names}

    def scenario_echo_and_close(self, reactor, face, trace, done):
        CF, SF = recording_classes(face, trace, {
            "client.connectionMade": lambda p: p.transport.write(b"hello"),
            "server.dataReceived": lambda p, data: p.transport.write(data),
            "client.dataReceived": lambda p, data: p.transport.loseConnection(),
            "clientF.stopFactory": lambda f: done(),
        })
        self.serve(reactor, SF, CF)

    def scenario_server_build_none(self, reactor, face, trace, done):
        CF, SF = recording_classes(face, trace, {
            "serverF.buildProtocol": lambda f, addr: None,
            "clientF.stopFactory": lambda f: done(),
        })
        self.serve(reactor, SF, CF)

    def scenario_client_build_none(self, reactor, face, trace, done):
        CF, SF = recording_classes(face, trace, {
            "clientF.buildProtocol": lambda f, addr: None,
            "clientF.stopFactory": lambda f: done(),
        })
        self.serve(reactor, SF, CF)

    def scenario_server_closes(self, reactor, face, trace, done):
        CF, SF = recording_classes(face, trace, {
            "server.connectionMade": lambda p: (p.transport.write(b"bye"),
                                                p.transport.loseConnection()),
            "clientF.stopFactory": lambda f: done(),
        })
        self.serve(reactor, SF, CF)

    def scenario_server_aborts(self, reactor, face, trace, done):
        CF, SF = recording_classes(face, trace, {
            "client.connectionMade": lambda p: p.transport.write(b"x"),
            "server.dataReceived": lambda p, data: p.transport.abortConnection(),
            "clientF.stopFactory": lambda f: done(),
        })
        self.serve(reactor, SF, CF)

    def scenario_client_aborts(self, reactor, face, trace, done):
        CF, SF = recording_classes(face, trace, {
            "client.connectionMade": lambda p: (p.transport.write(b"dropped"),
                                                p.transport.abortConnection()),
            "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
        })
        self.serve(reactor, SF, CF)

    def scenario_data_received_raises(self, reactor, face, trace, done):
        def explode(p, data):
            raise Boom("from dataReceived")

        CF, SF = recording_classes(face, trace, {
            "client.connectionMade": lambda p: p.transport.write(b"x"),
            "server.dataReceived": explode,
            "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
        })
        self.serve(reactor, SF, CF)

    def scenario_connection_made_raises(self, reactor, face, trace, done):
        def explode(p):
            raise Boom("from connectionMade")

        # A server's connectionMade raising: Twisted logs it and leaves the connection open.
        CF, SF = recording_classes(face, trace, {
            "server.connectionMade": explode,
            "client.connectionMade": lambda p: p.transport.write(b"still open?"),
            "server.dataReceived": lambda p, data: p.transport.loseConnection(),
            "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
        })
        self.serve(reactor, SF, CF)

    def scenario_reconnect(self, reactor, face, trace, done):
        attempts = []

        def lost(f, connector, reason):
            attempts.append(1)
            if len(attempts) < 3:
                connector.connect()

        CF, SF = recording_classes(face, trace, {
            "client.connectionMade": lambda p: p.transport.loseConnection(),
            "clientF.clientConnectionLost": lost,
            "clientF.stopFactory": lambda f: done(),
        })
        self.serve(reactor, SF, CF)

    def scenario_write_after_lose(self, reactor, face, trace, done):
        """Twisted sends what is written after loseConnection but before the close happens."""
        CF, SF = recording_classes(face, trace, {
            "server.connectionMade": lambda p: (p.transport.write(b"a"),
                                                p.transport.loseConnection(),
                                                p.transport.write(b"b")),
            "server.connectionLost": lambda p, reason: p.transport.write(b"ignored"),
            "clientF.stopFactory": lambda f: done(),
        })
        self.serve(reactor, SF, CF)

    def scenario_half_close(self, reactor, face, trace, done):
        """The client shuts its write side; a half-closeable server answers, then closes."""
        from zope.interface import implementer
        from twisted.internet.interfaces import IHalfCloseableProtocol

        class HalfServer(face.protocol.Protocol):
            def dataReceived(self, data):
                trace.append(("server.dataReceived", data))

            def readConnectionLost(self):
                trace.append("server.readConnectionLost")
                self.transport.write(b"after-eof")
                self.transport.loseConnection()

            def connectionLost(self, reason):
                trace.append(("server.connectionLost", reason_name(reason)))

        if face.name == "twisted":
            HalfServer = implementer(IHalfCloseableProtocol)(HalfServer)
        CF, _ = recording_classes(face, trace, {
            "client.connectionMade": lambda p: (p.transport.write(b"req"),
                                                p.transport.loseWriteConnection()),
            "clientF.stopFactory": lambda f: done(),
        })
        address = self.listen(reactor, face.protocol.Factory.forProtocol(HalfServer))
        self.connect(reactor, address, CF())

    def check_echo_trace(self, poller):
        """Pin the echo scenario's sequence itself (not only the equality with Twisted), with
        this kind's address class on both sides."""
        trace = run_traced(fast_face(poller), self.scenario_echo_and_close)
        assert by_actor(trace)["client"] == [
            "clientF.doStart", "clientF.startFactory", "clientF.startedConnecting",
            ("clientF.buildProtocol", self.address_name), "client.makeConnection",
            "client.connectionMade", ("client.dataReceived", b"hello"),
            ("client.connectionLost", "ConnectionDone"),
            ("clientF.clientConnectionLost", "ConnectionDone"), "clientF.doStop",
            "clientF.stopFactory",
        ]
        assert ("serverF.buildProtocol", self.address_name) in trace
