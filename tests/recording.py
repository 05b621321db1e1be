"""Traced factories and protocols for the differential tests: every callback Twisted's programming
model makes is appended to a trace, then handed to the scenario's own action, so that one
scenario runs unchanged on Twisted's reactor and on fastreactor's faces and the traces compare."""
from faces import reason_name


def recording_classes(face, trace, on=None, number_clients=False, trace_start_stop=True):
    """A ClientFactory class and a server Factory class (`face.protocol`'s) whose protocols and
    factories trace every callback to the list `trace`.

    Entries are "client.connectionMade", ("server#0.dataReceived", data),
    ("clientF.buildProtocol", address class name), ("client.connectionLost", reason name), ...
    Server connections are tagged `server#N` (the N-th built); client connections `client`, or
    `client#N` with `number_clients`. Without `trace_start_stop` the factories' startFactory and
    stopFactory are left as the base classes have them (not traced).

    `on` maps a callback name ("client.connectionMade", "serverF.buildProtocol", ...) to an
    action(obj, *args) run right after the callback is traced and before the base class's own
    behaviour (a protocol's makeConnection, a factory's buildProtocol): an exception it raises
    leaves the callback. For "clientF.buildProtocol" and "serverF.buildProtocol" what the action
    returns is the protocol (or None), in place of the base class's.
    """
    on = on or {}
    P = face.protocol

    def hook(name, obj, *args):
        action = on.get(name)
        if action is not None:
            action(obj, *args)

    counter = {"client": 0, "server": 0}

    def make_protocol(side):
        class Recorded(P.Protocol):
            def __init__(self):
                # Server connections are independent actors: tag them so traces can be compared
                # per connection (the interleaving of two connections is not part of the contract).
                numbered = side == "server" or number_clients
                self.tag = "%s#%d" % (side, counter[side]) if numbered else side
                counter[side] += 1

            def makeConnection(self, transport):
                trace.append(self.tag + ".makeConnection")
                hook(side + ".makeConnection", self, transport)
                P.Protocol.makeConnection(self, transport)

            def connectionMade(self):
                trace.append(self.tag + ".connectionMade")
                hook(side + ".connectionMade", self)

            def dataReceived(self, data):
                trace.append((self.tag + ".dataReceived", data))
                hook(side + ".dataReceived", self, data)

            def connectionLost(self, reason):
                trace.append((self.tag + ".connectionLost", reason_name(reason)))
                hook(side + ".connectionLost", self, reason)

        return Recorded

    def make_factory(side, base):
        class RecordedFactory(base):
            protocol = make_protocol(side)
            noisy = False

            def doStart(self):
                trace.append(side + "F.doStart")
                base.doStart(self)

            def doStop(self):
                trace.append(side + "F.doStop")
                base.doStop(self)

            if trace_start_stop:
                def startFactory(self):
                    trace.append(side + "F.startFactory")

                def stopFactory(self):
                    trace.append(side + "F.stopFactory")
                    hook(side + "F.stopFactory", self)

            def buildProtocol(self, addr):
                trace.append((side + "F.buildProtocol", type(addr).__name__))
                action = on.get(side + "F.buildProtocol")
                if action is not None:
                    return action(self, addr)
                return base.buildProtocol(self, addr)

            def startedConnecting(self, connector):
                trace.append(side + "F.startedConnecting")
                hook(side + "F.startedConnecting", self, connector)

            def clientConnectionFailed(self, connector, reason):
                trace.append((side + "F.clientConnectionFailed", reason_name(reason)))
                hook(side + "F.clientConnectionFailed", self, connector, reason)

            def clientConnectionLost(self, connector, reason):
                trace.append((side + "F.clientConnectionLost", reason_name(reason)))
                hook(side + "F.clientConnectionLost", self, connector, reason)

        return RecordedFactory

    return make_factory("client", P.ClientFactory), make_factory("server", P.Factory)
