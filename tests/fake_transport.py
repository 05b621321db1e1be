"""A transport stand-in for unit tests of protocols (framing receivers, policies) that need no
reactor: it records what is written and how often loseConnection was called."""


class FakeTransport:
    """Records `write`/`writeSequence` data in `written` (one entry a call) and counts
    `loseConnection` calls in `lost` (setting `disconnecting`); the producer methods do nothing."""

    disconnecting = False

    def __init__(self):
        self.written = []
        self.lost = 0

    def write(self, data):
        self.written.append(data)

    def writeSequence(self, seq):
        self.written.append(b"".join(seq))

    def loseConnection(self):
        self.lost += 1
        self.disconnecting = True

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


def connect(protocol):
    """`protocol`, connected to a fresh FakeTransport."""
    protocol.makeConnection(FakeTransport())
    return protocol
