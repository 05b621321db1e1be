"""Framing protocols: lines, netstrings and length-prefixed strings, as in twisted.protocols.basic.

A stream arrives in chunks of any size; these protocols cut it into messages and call one method
per message. What they deliver, write and close is the same as Twisted's classes for any chunking
of any input; the splitting runs in the compiled core (`fastreactor._core`), so a chunk holding
many messages, or a long message arriving a byte at a time, costs time linear in its size.

Every receiver refuses an oversize message as soon as it is known to be too long (`MAX_LENGTH`
bytes without a delimiter, or a length prefix over `MAX_LENGTH`) without buffering it; by
default the connection is then closed.
"""
import logging
import math
from struct import calcsize, pack

from fastreactor import _core, defer, protocol

__all__ = [
    "LineReceiver", "LineOnlyReceiver", "NetstringReceiver", "IntNStringReceiver",
    "Int8StringReceiver", "Int16StringReceiver", "Int32StringReceiver", "StringTooLongError",
    "NetstringParseError", "IncompleteNetstring", "StatefulStringProtocol", "FileSender",
]

_logger = logging.getLogger("fastreactor")

DEBUG = 0


def _formatNetstring(data):
    """`data` (bytes) as a netstring: `b"<length>:<data>,"`."""
    return b"".join([str(len(data)).encode("ascii"), b":", data, b","])


class NetstringParseError(ValueError):
    """The incoming data is not in valid netstring format."""


class IncompleteNetstring(Exception):
    """Not enough data to complete a netstring."""


class StringTooLongError(AssertionError):
    """Raised when trying to send a string too long for a length-prefixed protocol."""


class _PauseableMixin:
    """pauseProducing/resumeProducing/stopProducing that also stop delivering buffered messages
    while paused (the receiver checks `paused` between messages)."""

    paused = False

    def pauseProducing(self):
        """Stop delivering messages and stop reading from the transport."""
        self.paused = True
        self.transport.pauseProducing()

    def resumeProducing(self):
        """Resume reading, then deliver what was buffered while paused."""
        self.paused = False
        self.transport.resumeProducing()
        self.dataReceived(b"")

    def stopProducing(self):
        """Stop delivering messages and stop the transport (it closes the connection)."""
        self.paused = True
        self.transport.stopProducing()


class LineReceiver(protocol.Protocol, _PauseableMixin):
    """A protocol that receives lines and/or raw data, depending on mode.

    In line mode (the default) each line, delimiter removed, is passed to `lineReceived`; in raw
    mode each chunk goes to `rawDataReceived`. `setRawMode` and `setLineMode` switch between them,
    also from inside a callback: the rest of the current chunk is then delivered in the new mode.
    Pausing (`pauseProducing`) from a callback stops delivery until `resumeProducing`.

    `delimiter`: the line ending, `b"\\r\\n"` by default.
    `MAX_LENGTH`: the longest line accepted (16384): a longer line, or that many bytes
        without a delimiter, calls `lineLengthExceeded`, which closes the connection by default.
    """

    line_mode = 1
    delimiter = b"\r\n"
    MAX_LENGTH = 16384
    _splitter = None

    def _lines(self):
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = _core.LineSplitter()
        return splitter

    @property
    def _buffer(self):
        """The buffered, unprocessed bytes (Twisted's attribute, kept for compatibility)."""
        return b"" if self._splitter is None else self._splitter.getvalue()

    @_buffer.setter
    def _buffer(self, value):
        self._lines().replace(value)

    def clearLineBuffer(self):
        """Clear buffered data and return all of it (bytes)."""
        return b"" if self._splitter is None else self._splitter.clear()

    def dataReceived(self, data):
        """Translate bytes into calls to lineReceived (or rawDataReceived, in raw mode).

        Returns what Twisted's does: a true value returned by a callback, or the result of
        lineLengthExceeded."""
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = _core.LineSplitter()
        return splitter.receive(self, data)

    def setLineMode(self, extra=b""):
        """Switch to line mode. From rawDataReceived, `extra` (unhandled bytes) is parsed for
        lines; do not pass `extra` from lineReceived."""
        self.line_mode = 1
        if extra:
            return self.dataReceived(extra)

    def setRawMode(self):
        """Switch to raw mode: further data goes to rawDataReceived."""
        self.line_mode = 0

    def rawDataReceived(self, data):
        """Override this to handle raw data (in raw mode)."""
        raise NotImplementedError

    def lineReceived(self, line):
        """Override this to handle each line (bytes, delimiter removed)."""
        raise NotImplementedError

    def sendLine(self, line):
        """Write `line` followed by the delimiter to the transport."""
        return self.transport.write(line + self.delimiter)

    def lineLengthExceeded(self, line):
        """Called when a line longer than MAX_LENGTH arrives, or MAX_LENGTH bytes arrive without
        a delimiter; `line` is what was buffered (the long line and possibly more, or only the
        start of the long line), and the buffer is now empty. Closes the connection by default."""
        return self.transport.loseConnection()


class LineOnlyReceiver(protocol.Protocol):
    """A protocol that receives only lines: LineReceiver without raw mode or pausing.

    Each chunk is split on the delimiter at once; lines after one that made the transport
    disconnect are ignored. A line longer than MAX_LENGTH, or an unterminated tail longer than
    MAX_LENGTH, calls `lineLengthExceeded` (closing the connection by default); such a tail is
    dropped rather than kept (Twisted keeps it).

    `delimiter`: the line ending, `b"\\r\\n"` by default.
    `MAX_LENGTH`: the longest line accepted (16384).
    """

    delimiter = b"\r\n"
    MAX_LENGTH = 16384
    _splitter = None

    @property
    def _buffer(self):
        """The buffered, unterminated bytes (Twisted's attribute, kept for compatibility)."""
        return b"" if self._splitter is None else self._splitter.getvalue()

    @_buffer.setter
    def _buffer(self, value):
        if self._splitter is None:
            self._splitter = _core.LineSplitter()
        self._splitter.replace(value)

    def dataReceived(self, data):
        """Translate bytes into calls to lineReceived."""
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = _core.LineSplitter()
        return splitter.receive_lines(self, data)

    def lineReceived(self, line):
        """Override this to handle each line (bytes, delimiter removed)."""
        raise NotImplementedError

    def sendLine(self, line):
        """Write `line` and the delimiter to the transport (one writeSequence call)."""
        return self.transport.writeSequence((line, self.delimiter))

    def lineLengthExceeded(self, line):
        """Called with a line (or unterminated tail) longer than MAX_LENGTH; closes the
        connection by default."""
        return self.transport.loseConnection()


class NetstringReceiver(protocol.Protocol):
    """A protocol that sends and receives netstrings (`b"<length>:<data>,"`, see
    http://cr.yp.to/proto/netstrings.txt).

    Each complete netstring's data is passed to `stringReceived`. Malformed input (no length, a
    leading zero, a missing comma) or a length over MAX_LENGTH closes the connection
    (`loseConnection`) and sets `brokenPeer`; a length is refused as soon as its digits show it is
    too long, before any payload is buffered.

    `MAX_LENGTH`: the longest netstring accepted (99999).
    """

    MAX_LENGTH = 99999
    brokenPeer = 0
    _splitter = None

    _MISSING_LENGTH = "The received netstring does not start with a length specification."
    _OVERFLOW = ("The length specification of the received netstring cannot be represented in "
                 "Python - it causes an OverflowError!")
    _TOO_LONG = "The received netstring is longer than the maximum %s specified by self.MAX_LENGTH"
    _MISSING_COMMA = "The received netstring is not terminated by a comma."

    def makeConnection(self, transport):
        """Reset the parser, then connect as Protocol.makeConnection does."""
        protocol.Protocol.makeConnection(self, transport)
        self._splitter = _core.NetstringSplitter()
        self.brokenPeer = 0

    def sendString(self, string):
        """Write `string` (bytes) to the transport as a netstring."""
        self.transport.write(_formatNetstring(string))

    def dataReceived(self, data):
        """Deliver each complete netstring in `data` (and what was buffered) to stringReceived;
        close the connection on malformed input."""
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = _core.NetstringSplitter()
        try:
            malformed = splitter.receive(self, data)
        except IncompleteNetstring:
            return
        except NetstringParseError:
            self._handleParseError()
            return
        if malformed:
            self._handleParseError()

    def stringReceived(self, string):
        """Override this to handle each netstring's data (bytes)."""
        raise NotImplementedError()

    def _maxLengthSize(self):
        """The most digits a length within MAX_LENGTH may have."""
        return math.ceil(math.log10(self.MAX_LENGTH)) + 1

    def _handleParseError(self):
        """Close the connection and set brokenPeer."""
        self.transport.loseConnection()
        self.brokenPeer = 1


class IntNStringReceiver(protocol.Protocol, _PauseableMixin):
    """Base class for length-prefixed protocols: each string is sent after its length, packed
    with `structFormat` (`prefixLength` bytes).

    Each complete string is passed to `stringReceived` (not while paused). A prefix over
    MAX_LENGTH calls `lengthLimitExceeded(length)` as soon as the prefix arrives, without
    buffering the string; it closes the connection by default.

    `MAX_LENGTH`: the longest string accepted (99999).
    `structFormat`: the struct format of the prefix; define it in subclasses.
    `prefixLength`: `struct.calcsize(structFormat)`.
    """

    MAX_LENGTH = 99999
    _splitter = None

    def stringReceived(self, string):
        """Override this to handle each string (bytes, prefix removed)."""
        raise NotImplementedError

    def lengthLimitExceeded(self, length):
        """Called with a received length prefix greater than MAX_LENGTH; closes the connection
        by default."""
        self.transport.loseConnection()

    def dataReceived(self, data):
        """Convert length-prefixed strings into calls to stringReceived."""
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = _core.LengthPrefixSplitter()
        splitter.receive(self, data)

    @property
    def _unprocessed(self):
        """The buffered, unprocessed bytes (Twisted's attribute, read-only here)."""
        return b"" if self._splitter is None else self._splitter.getvalue()

    def sendString(self, string):
        """Write `string` (bytes) with its length prefix to the transport.

        Raises `StringTooLongError`: if `string` has 2 ** (8 * prefixLength) bytes or more."""
        if len(string) >= 2 ** (8 * self.prefixLength):
            raise StringTooLongError(
                "Try to send %s bytes whereas maximum is %s"
                % (len(string), 2 ** (8 * self.prefixLength)))
        self.transport.write(pack(self.structFormat, len(string)) + string)


class Int32StringReceiver(IntNStringReceiver):
    """Strings prefixed by their length as 4 bytes, network byte order."""

    structFormat = "!I"
    prefixLength = calcsize(structFormat)


class Int16StringReceiver(IntNStringReceiver):
    """Strings prefixed by their length as 2 bytes, network byte order."""

    structFormat = "!H"
    prefixLength = calcsize(structFormat)


class Int8StringReceiver(IntNStringReceiver):
    """Strings prefixed by their length as 1 byte."""

    structFormat = "!B"
    prefixLength = calcsize(structFormat)


class StatefulStringProtocol:
    """A mixin for string protocols (Int32StringReceiver, NetstringReceiver) that sends each
    string to `proto_<state>`; the method returns the next state. The state `"done"` closes
    the connection.

    `state`: the current state, `"init"` at first.
    """

    state = "init"

    def stringReceived(self, string):
        """Call `proto_<state>(string)` and move to the state it returns."""
        try:
            handler = getattr(self, "proto_" + self.state)
        except AttributeError:
            _logger.info("callback %s not found", self.state)
        else:
            self.state = handler(string)
            if self.state == "done":
                self.transport.loseConnection()


class FileSender:
    """A pull producer that writes a file's contents to a consumer (e.g. a transport).

    `beginFileTransfer(file, consumer, transform=None)` registers itself with the consumer and
    returns a Deferred fired with the last byte sent once the whole file is written (or errbacked
    if the consumer stops it).
    """

    CHUNK_SIZE = 2 ** 14

    lastSent = ""
    deferred = None

    def beginFileTransfer(self, file, consumer, transform=None):
        """Start sending `file` to `consumer`, passing each chunk through `transform` if given."""
        self.file = file
        self.consumer = consumer
        self.transform = transform
        self.deferred = deferred = defer.Deferred()
        self.consumer.registerProducer(self, False)
        return deferred

    def resumeProducing(self):
        """Write the next chunk; at the end, unregister and fire the Deferred."""
        chunk = ""
        if self.file:
            chunk = self.file.read(self.CHUNK_SIZE)
        if not chunk:
            self.file = None
            self.consumer.unregisterProducer()
            if self.deferred:
                self.deferred.callback(self.lastSent)
                self.deferred = None
            return
        if self.transform:
            chunk = self.transform(chunk)
        self.consumer.write(chunk)
        self.lastSent = chunk[-1:]

    def pauseProducing(self):
        """Nothing to do: a pull producer only writes when asked."""

    def stopProducing(self):
        """Errback the Deferred: the consumer will take no more."""
        if self.deferred:
            self.deferred.errback(Exception("Consumer asked us to stop producing"))
            self.deferred = None
