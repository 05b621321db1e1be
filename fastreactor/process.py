"""Child processes: the transports `reactor.spawnProcess` returns (Twisted's Process and
PTYProcess), on the engine's PipeStream (one per pipe) and ExitWatcher (the child's exit, seen
through a pidfd or kqueue by the poller).

The callbacks follow Twisted's order: `makeConnection` once the child runs; `childDataReceived`
for each chunk a pipe yields; `childConnectionLost(childFD)` as each pipe closes;
`processExited(reason)` when the child has been reaped; `processEnded(reason)` once, after the
exit and after every pipe has closed. `reason` is a Failure of ProcessDone (exit code 0) or
ProcessTerminated(exitCode, signal, status).
"""
import errno
import os
import signal

from fastreactor import _core

__all__ = ["Process", "PTYProcess", "check_spawn_arguments"]

_NAMED_SIGNALS = ("HUP", "STOP", "INT", "KILL", "TERM")
PIPE_READ, PIPE_WRITE, PIPE_BOTH = 1, 2, 3
_PROTOCOL_METHODS = ("makeConnection", "childDataReceived", "childConnectionLost",
                     "processExited", "processEnded")


def _to_bytes(value, what):
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str) or hasattr(value, "__fspath__"):
        data = os.fsencode(value)
        if not isinstance(data, bytes):
            raise TypeError("spawnProcess: %s must be str or bytes, not %s" % (what, type(value).__name__))
    else:
        raise TypeError("spawnProcess: %s must be str or bytes, not %s" % (what, type(value).__name__))
    if b"\0" in data:
        raise ValueError("spawnProcess: %s contains a NUL byte: %r" % (what, value))
    return data


def _environment(env):
    """`env` as a list of b"NAME=value" (None: the parent's environment)."""
    if env is None:
        return None
    if not hasattr(env, "keys"):
        raise TypeError("spawnProcess: env must be a mapping or None, not %s" % (type(env).__name__,))
    entries = []
    for name in env.keys():
        key = _to_bytes(name, "env name %r" % (name,))
        if not key or b"=" in key:
            raise ValueError("spawnProcess: illegal environment variable name %r" % (name,))
        entries.append(key + b"=" + _to_bytes(env[name], "env[%r]" % (name,)))
    return entries


def _check_child_fds(childFDs):
    if not isinstance(childFDs, dict):
        raise TypeError("spawnProcess: childFDs must be a dict or None, not %s" % (type(childFDs).__name__,))
    for child, target in childFDs.items():
        if type(child) is not int or child < 0:
            raise ValueError("spawnProcess: childFDs keys must be child descriptor numbers (ints >= 0), "
                             "not %r" % (child,))
        if target not in ("r", "w") and (type(target) is not int or target < 0):
            raise ValueError("spawnProcess: childFDs[%d] must be 'r', 'w' or a parent descriptor number, "
                             "not %r" % (child, target))


def check_spawn_arguments(processProtocol, executable, args, env, path, uid, gid, childFDs):
    """Validate spawnProcess's arguments; return (executable, argv, envp, path) as bytes.

    TypeError or ValueError, naming the argument, for what the child could not be given: a
    non-str/bytes executable, argument or environment entry, a NUL byte, an illegal variable name,
    empty args, a bad childFDs mapping, a non-int uid/gid, a protocol lacking a process-protocol
    method."""
    if processProtocol is not None:
        missing = [m for m in _PROTOCOL_METHODS if not callable(getattr(processProtocol, m, None))]
        if missing:
            raise TypeError("spawnProcess: %r is not a process protocol (it lacks %s)"
                            % (processProtocol, ", ".join(missing)))
    exe = _to_bytes(executable, "executable")
    if not isinstance(args, (list, tuple)):
        raise TypeError("spawnProcess: args must be a list or tuple, not %s" % (type(args).__name__,))
    if not args:
        raise ValueError("spawnProcess: args must not be empty (args[0] is the program's name)")
    argv = [_to_bytes(a, "args[%d]" % i) for i, a in enumerate(args)]
    envp = _environment(env)
    cwd = None if path is None else _to_bytes(path, "path")
    for name, value in (("uid", uid), ("gid", gid)):
        if value is not None and (type(value) is not int or value < 0):
            raise TypeError("spawnProcess: %s must be None or an int >= 0, not %r" % (name, value))
    if childFDs is not None:
        _check_child_fds(childFDs)
    return exe, argv, envp, cwd


def _candidates(exe):
    if b"/" in exe:
        return [exe]
    return [os.path.join(os.fsencode(d) or b".", exe) for d in os.get_exec_path()]


def _inherited_fds(above):
    """Descriptors above `above` that an exec would keep (not close-on-exec): what posix_spawn
    must close where it cannot close everything else by itself."""
    import fcntl
    try:
        names = os.listdir("/dev/fd")
    except OSError:
        names = [str(fd) for fd in range(_open_max())]
    kept = []
    for name in names:
        fd = int(name)
        if fd <= above:
            continue
        try:
            if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                kept.append(fd)
        except OSError:
            pass
    return kept


def _open_max():
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if 0 < soft < 1 << 20:
            return soft
    except (ImportError, OSError, ValueError):
        pass
    return 65536


def _groups_for(uid, gid):
    """The supplementary groups of `uid` (with `gid`), resolved here so the child needs no NSS."""
    if uid is None:
        return None
    try:
        import pwd
        name = pwd.getpwuid(uid).pw_name
        return os.getgrouplist(name, gid if gid is not None else pwd.getpwuid(uid).pw_gid)
    except (KeyError, OSError, ImportError):
        return [gid] if gid is not None else None


def _start(reactor, exe, argv, envp, cwd, mapping, uid, gid, tty=-1, master=-1):
    use_fork = (uid is not None or gid is not None or tty >= 0
                or getattr(reactor, "_neverUseSpawn", False)
                or (cwd is not None and not _core.SPAWN_CAN_CHDIR
                    and os.path.abspath(cwd) != os.path.abspath(b".")))
    max_child = max([c for c, _ in mapping], default=-1)
    close_fds = [] if (use_fork or _core.SPAWN_CLOSES_ALL) else _inherited_fds(max_child)
    if uid is not None or gid is not None:
        # As Twisted: the missing one of uid/gid is our effective one.
        if uid is None:
            uid = os.geteuid()
        if gid is None:
            gid = os.getegid()
    try:
        return _core.spawn_child(exe, _candidates(exe) if use_fork else [], argv, envp, cwd, mapping,
                                 uid, gid, _groups_for(uid, gid), tty, master, use_fork, close_fds,
                                 _open_max())
    except OSError as e:
        if not use_fork and cwd is not None and not os.path.isdir(cwd):
            # posix_spawn reports a failed chdir as its exec failing: name the directory.
            raise OSError(e.errno, "chdir failed: %s" % (os.strerror(e.errno),), os.fsdecode(cwd)) from None
        raise


class _PipeRouter:
    """The `protocol` of one of a process's PipeStreams: turns its dataReceived/connectionLost
    into the process protocol's childDataReceived(childFD, data)/childConnectionLost(childFD)."""

    __slots__ = ("process", "childFD")

    def __init__(self, process, childFD):
        self.process = process
        self.childFD = childFD

    def dataReceived(self, data):
        self.process.proto.childDataReceived(self.childFD, data)

    def connectionLost(self, reason):
        self.process.childConnectionLost(self.childFD, reason)

    def logPrefix(self):
        proto = self.process.proto
        return type(proto).__name__ if proto is not None else "Process"

    def __repr__(self):
        return "<childFD %d of %r (protocol %s)>" % (self.childFD, self.process, _core.safe_repr(self.process.proto))


class _PTYRouter(_PipeRouter):
    """The pseudo-terminal's master: everything the child writes is childFD 1; its close counts
    as one of the two ends processEnded waits for (the other is the exit)."""

    __slots__ = ()

    def connectionLost(self, reason):
        self.process._ptyLost(reason)


class _BaseProcess:
    """What Process and PTYProcess share: the exit, signals, and the processEnded rule.

    `_execError` is the OSError a fork+exec child reported before exiting with 1 (as Twisted's,
    such a child also says why on its stderr), None otherwise."""

    pid = None
    status = None
    lostProcess = 0
    proto = None
    _watcher = None
    _reason = None
    _execError = None
    # pid -> process of the children not yet reaped, where a face keeps one (the Twisted face
    # shares twisted.internet.process.reapProcessHandlers, which Twisted's own code and tests
    # look at); None natively.
    _reapRegistry = None

    def _begin(self, reactor, proto, pid):
        """The child runs: watch its exit, then call makeConnection (errors logged)."""
        self.pid = pid
        self.status = -1
        try:
            self._watcher = _core.ExitWatcher(reactor, pid, self)
        except BaseException:
            self._abandonPipes()
            self._killAndReap(pid)
            raise
        if self._reapRegistry is not None and self._watcher is not None:
            self._reapRegistry[pid] = self
        if proto is not None:
            try:
                proto.makeConnection(self)
            except Exception:
                self._reactor._api.logError("Unhandled error in makeConnection of %s" % (_core.safe_repr(proto),))

    @staticmethod
    def _killAndReap(pid):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass

    def _reaped(self, status):
        """The ExitWatcher reaped the child with wait status `status` (None: lost to another
        reaper): processExited now, processEnded once every pipe has closed too."""
        api = self._reactor._api
        if self._reapRegistry is not None and self._reapRegistry.get(self.pid) is self:
            del self._reapRegistry[self.pid]
        self.status = status
        self.lostProcess += 1
        self.pid = None
        self._watcher = None
        self._reason = self._getReason(status)
        if self.proto is not None:
            try:
                self.proto.processExited(api.Failure(self._reason))
            except Exception:
                api.logError("Unhandled error while calling processExited of %s" % (_core.safe_repr(self.proto),))
        self.maybeCallProcessEnded()

    def _getReason(self, status):
        api = self._reactor._api
        if status is None:
            return api.ProcessTerminated(None, None, None)
        exitCode = sig = None
        if os.WIFEXITED(status):
            exitCode = os.WEXITSTATUS(status)
        else:
            sig = os.WTERMSIG(status)
        if exitCode or sig:
            return api.ProcessTerminated(exitCode, sig, status)
        return api.ProcessDone(status)

    def _endNow(self):
        if self.proto is not None and self._reason is not None:
            api = self._reactor._api
            proto = self.proto
            self.proto = None
            try:
                proto.processEnded(api.Failure(self._reason))
            except Exception:
                api.logError("Unhandled error while calling processEnded of %s" % (_core.safe_repr(proto),))

    def signalProcess(self, signalID):
        """Send `signalID` ('HUP', 'STOP', 'INT', 'KILL', 'TERM' or a signal number) to the
        child; ProcessExitedAlready once it has been reaped."""
        if signalID in _NAMED_SIGNALS:
            signalID = getattr(signal, "SIG%s" % (signalID,))
        if self.pid is None:
            raise self._reactor._api.ProcessExitedAlready()
        try:
            os.kill(self.pid, signalID)
        except OSError as e:
            if e.errno == errno.ESRCH:
                raise self._reactor._api.ProcessExitedAlready() from None
            raise

    def reapProcess(self):
        """Reap the child now if it has exited (never blocks)."""
        if self._watcher is not None:
            self._watcher.reap()

    def getHost(self):
        raise NotImplementedError()

    def getPeer(self):
        raise NotImplementedError()

    def __repr__(self):
        return "<%s pid=%s status=%s>" % (type(self).__name__, self.pid, self.status)


class Process(_BaseProcess):
    """A child process with pipes (Twisted's IProcessTransport).

    `pid` (None once reaped), `status` (the wait status once reaped), `pipes` (childFD ->
    PipeStream, for the pipes still open). Writes go to the child's stdin (childFD 0) and are
    dropped if there is none; `writeToChild(fd, data)` writes to any 'w' childFD (KeyError for
    another). `closeChildFD(fd)` (and closeStdin/closeStdout/closeStderr) closes one pipe;
    `loseConnection()` closes stdin, stderr and stdout. pauseProducing/resumeProducing stop and
    restart reading every pipe the parent reads; a producer registered on it feeds stdin.
    """

    def __init__(self, reactor, executable, args, environment, path, proto, uid=None, gid=None,
                 childFDs=None):
        exe, argv, envp, cwd = check_spawn_arguments(proto, executable, args, environment, path,
                                                     uid, gid, childFDs)
        self._reactor = reactor
        self.proto = proto
        self.pipes = {}
        if childFDs is None:
            childFDs = {0: "w", 1: "r", 2: "r"}
        if proto is None and ("r" in childFDs.values() or "w" in childFDs.values()):
            raise ValueError("spawnProcess: a process with pipes ('r' or 'w' childFDs) needs a protocol")
        opened = []
        mapping = []
        ours = []
        try:
            for childFD, target in childFDs.items():
                if target == "r" or target == "w":
                    r, w = os.pipe()        # close-on-exec (non-inheritable)
                    opened += (r, w)
                    if target == "r":
                        mapping.append((childFD, w))
                        ours.append((childFD, r, PIPE_READ))
                    else:
                        mapping.append((childFD, r))
                        ours.append((childFD, w, PIPE_WRITE))
                else:
                    mapping.append((childFD, target))
            pid, self._execError = _start(reactor, exe, argv, envp, cwd, mapping, uid, gid)
        except BaseException:
            for fd in opened:
                os.close(fd)
            raise
        kept = {fd for _, fd, _ in ours}
        for fd in opened:
            if fd not in kept:
                os.close(fd)        # the child's ends
        try:
            for childFD, fd, mode in ours:
                self.pipes[childFD] = _core.PipeStream(reactor, fd, mode, childFD)
            for childFD, pipe in list(self.pipes.items()):
                pipe._start(_PipeRouter(self, childFD))
        except BaseException:
            # E.g. a descriptor the poller cannot watch (select and FD_SETSIZE): undo everything.
            wrapped = {pipe.fileno() for pipe in self.pipes.values()}
            self._abandonPipes()
            for _, fd, _ in ours:
                if fd not in wrapped:
                    os.close(fd)
            self._killAndReap(pid)
            raise
        self._begin(reactor, proto, pid)

    def _abandonPipes(self):
        """Close every pipe without telling the protocol (spawning failed half-way)."""
        for pipe in self.pipes.values():
            pipe.protocol = None
            pipe.connectionLost(self._reactor._api.Failure(self._reactor._api.ConnectionDone()))
        self.pipes = {}

    def childConnectionLost(self, childFD, reason):
        """A pipe has closed (called by its router): tell the protocol, maybe end."""
        del self.pipes[childFD]
        if self.proto is not None:
            try:
                self.proto.childConnectionLost(childFD)
            except Exception:
                self._reactor._api.logError("Unhandled error in childConnectionLost of %s"
                                            % (_core.safe_repr(self.proto),))
        self.maybeCallProcessEnded()

    def maybeCallProcessEnded(self):
        """processEnded once the child is reaped and every pipe has closed; with every pipe
        closed and no exit seen yet, try reaping now (as Twisted does)."""
        if self.pipes:
            return
        if not self.lostProcess:
            self.reapProcess()
            return
        self._endNow()

    def writeToChild(self, childFD, data):
        """Write `data` to the child's `childFD` (a 'w' pipe; KeyError for another)."""
        self.pipes[childFD].write(data)

    def closeChildFD(self, childFD):
        """Close our end of the pipe to `childFD` (no-op if there is none, or it is closed)."""
        if childFD in self.pipes:
            self.pipes[childFD].loseConnection()

    def closeStdin(self):
        """Close the child's stdin once what was written is sent: it reads EOF."""
        self.closeChildFD(0)

    def closeStdout(self):
        self.closeChildFD(1)

    def closeStderr(self):
        self.closeChildFD(2)

    def loseConnection(self):
        """Close stdin, stderr and stdout."""
        self.closeStdin()
        self.closeStderr()
        self.closeStdout()

    def write(self, data):
        """Write `data` (bytes) to the child's stdin; dropped if it has none."""
        if 0 in self.pipes:
            self.pipes[0].write(data)

    def writeSequence(self, seq):
        """Write each bytes of `seq` to the child's stdin; dropped if it has none."""
        if 0 in self.pipes:
            self.pipes[0].writeSequence(seq)

    def registerProducer(self, producer, streaming):
        """Feed stdin from `producer` (stopped at once if there is no stdin)."""
        if 0 in self.pipes:
            self.pipes[0].registerProducer(producer, streaming)
        else:
            producer.stopProducing()

    def unregisterProducer(self):
        if 0 in self.pipes:
            self.pipes[0].unregisterProducer()

    def pauseProducing(self):
        """Stop reading the child's output pipes."""
        for pipe in self.pipes.values():
            if pipe.mode == PIPE_READ:
                pipe.pauseProducing()

    def resumeProducing(self):
        """Read the child's output pipes again."""
        for pipe in self.pipes.values():
            if pipe.mode == PIPE_READ:
                pipe.resumeProducing()


class PTYProcess(_BaseProcess):
    """A child process on a pseudo-terminal (usePTY): its stdin, stdout and stderr are the
    terminal, whose output arrives as childDataReceived(1, data). As in Twisted there is no
    childConnectionLost; processEnded follows both the exit and the terminal's close.
    closeStdin/closeStdout/closeStderr do nothing; closeChildFD and writeToChild raise
    NotImplementedError; loseConnection closes the terminal once what was written is sent.
    `usePTY` may be (masterfd, slavefd, ttyname) to use a terminal the caller opened.
    """

    def __init__(self, reactor, executable, args, environment, path, proto, uid=None, gid=None,
                 usePTY=None):
        exe, argv, envp, cwd = check_spawn_arguments(proto, executable, args, environment, path,
                                                     uid, gid, None)
        self._reactor = reactor
        self.proto = proto
        if isinstance(usePTY, (tuple, list)):
            masterfd, slavefd, _ = usePTY
            own = False
        else:
            masterfd, slavefd = os.openpty()
            own = True
        try:
            pid, self._execError = _start(reactor, exe, argv, envp, cwd, [(0, slavefd), (1, slavefd), (2, slavefd)],
                         uid, gid, tty=slavefd, master=masterfd)
        except BaseException:
            if own:
                os.close(masterfd)
                os.close(slavefd)
            raise
        os.close(slavefd)
        self.fd = masterfd
        try:
            self._pipe = _core.PipeStream(reactor, masterfd, PIPE_BOTH, 1)
        except BaseException:
            os.close(masterfd)
            self._killAndReap(pid)
            raise
        try:
            self._pipe._start(_PTYRouter(self, 1))
        except BaseException:
            self._abandonPipes()
            self._killAndReap(pid)
            raise
        self._begin(reactor, proto, pid)

    def _abandonPipes(self):
        """Close the terminal without telling the protocol (spawning failed half-way)."""
        self._pipe.protocol = None
        self._pipe.connectionLost(self._reactor._api.Failure(self._reactor._api.ConnectionDone()))

    def _ptyLost(self, reason):
        self.lostProcess += 1
        self.maybeCallProcessEnded()

    def maybeCallProcessEnded(self):
        if self.lostProcess == 2:
            self._endNow()

    def fileno(self):
        """The master's descriptor (-1 once closed)."""
        return self._pipe.fileno()

    def write(self, data):
        """Write `data` (bytes) to the terminal."""
        self._pipe.write(data)

    def writeSequence(self, seq):
        self._pipe.writeSequence(seq)

    def loseConnection(self):
        """Close the terminal once what was written is sent."""
        self._pipe.loseConnection()

    def closeStdin(self):
        pass

    def closeStdout(self):
        pass

    def closeStderr(self):
        pass

    def closeChildFD(self, descriptor):
        raise NotImplementedError()

    def writeToChild(self, childFD, data):
        raise NotImplementedError()

    def registerProducer(self, producer, streaming):
        self._pipe.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self._pipe.unregisterProducer()

    def pauseProducing(self):
        self._pipe.pauseProducing()

    def resumeProducing(self):
        self._pipe.resumeProducing()

    def stopProducing(self):
        self._pipe.loseConnection()
