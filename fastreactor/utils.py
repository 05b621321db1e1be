"""Run a program and collect what it says, as a Deferred (Twisted's twisted.internet.utils):
getProcessOutput, getProcessValue, getProcessOutputAndValue."""
import io

from fastreactor.defer import Deferred
from fastreactor.failure import Failure
from fastreactor.protocol import ProcessProtocol

__all__ = ["getProcessOutput", "getProcessValue", "getProcessOutputAndValue"]


def _spawn(makeProtocol, executable, args, env, path, reactor):
    # As Twisted's _callProtocolWithDeferred: spawnProcess's own errors are raised to the caller.
    if reactor is None:
        from fastreactor import reactor
    d = Deferred()
    reactor.spawnProcess(makeProtocol(d), executable, (executable,) + tuple(args), env, path)
    return d


class _UnexpectedErrorOutput(IOError):
    """Standard error data was received where it was not expected (getProcessOutput without
    errortoo): `processEnded` is a Deferred firing when the process ends."""

    def __init__(self, text, processEnded):
        IOError.__init__(self, "got stderr: %r" % (text,))
        self.processEnded = processEnded


class _BackRelay(ProcessProtocol):
    onProcessEnded = None

    def __init__(self, deferred, errortoo=False):
        self.deferred = deferred
        self.s = io.BytesIO()
        if errortoo:
            self.errReceived = self.s.write
        else:
            self.errReceived = self._errReceivedUnexpected

    def _errReceivedUnexpected(self, text):
        if self.deferred is not None:
            self.onProcessEnded = Deferred()
            d, self.deferred = self.deferred, None
            d.errback(Failure(_UnexpectedErrorOutput(text, self.onProcessEnded)))
            self.transport.loseConnection()

    def outReceived(self, data):
        self.s.write(data)

    def processEnded(self, reason):
        if self.deferred is not None:
            self.deferred.callback(self.s.getvalue())
        elif self.onProcessEnded is not None:
            self.onProcessEnded.errback(reason)


def getProcessOutput(executable, args=(), env={}, path=None, reactor=None, errortoo=0):
    """A Deferred firing with everything `executable` writes to stdout (and to stderr, with
    `errortoo`). Without `errortoo`, output on stderr fails the Deferred with an IOError (whose
    `processEnded` Deferred fires when the process ends)."""
    return _spawn(lambda d: _BackRelay(d, errortoo=errortoo), executable, args, env, path, reactor)


class _ValueGetter(ProcessProtocol):
    def __init__(self, deferred):
        self.deferred = deferred

    def processEnded(self, reason):
        self.deferred.callback(reason.value.exitCode)


def getProcessValue(executable, args=(), env={}, path=None, reactor=None):
    """A Deferred firing with `executable`'s exit code (None if a signal ended it)."""
    return _spawn(_ValueGetter, executable, args, env, path, reactor)


class _EverythingGetter(ProcessProtocol):
    def __init__(self, deferred, stdinBytes=None):
        self.deferred = deferred
        self.outBuf = io.BytesIO()
        self.errBuf = io.BytesIO()
        self.outReceived = self.outBuf.write
        self.errReceived = self.errBuf.write
        self.stdinBytes = stdinBytes

    def connectionMade(self):
        if self.stdinBytes is not None:
            self.transport.writeToChild(0, self.stdinBytes)
            self.transport.closeStdin()

    def processEnded(self, reason):
        out = self.outBuf.getvalue()
        err = self.errBuf.getvalue()
        e = reason.value
        code = e.exitCode
        if e.signal:
            self.deferred.errback((out, err, e.signal))
        else:
            self.deferred.callback((out, err, code))


def getProcessOutputAndValue(executable, args=(), env={}, path=None, reactor=None, stdinBytes=None):
    """A Deferred firing with (stdout, stderr, exit code) of `executable`; if a signal ended it,
    failing with (stdout, stderr, signal number) instead, as Twisted does. `stdinBytes`, if
    given, is written to its stdin before stdin is closed."""
    return _spawn(lambda d: _EverythingGetter(d, stdinBytes), executable, args, env, path, reactor)
