# Child processes: spawning without Python in the child (src/fr_spawn.h), PipeStream (the pipe I/O
# layer under the shared StreamTransport, for a child's stdin, stdout, stderr and other childFDs,
# and a pseudo-terminal's master), and ExitWatcher (a child's exit seen by the poller).
import signal as _signal
import threading as _threading

from cpython.bytes cimport PyBytes_AS_STRING
from libc.stdlib cimport malloc, free


cdef extern from "fr_spawn.h" nogil:
    ctypedef int pid_t
    ctypedef unsigned int uid_t
    ctypedef unsigned int gid_t
    ctypedef struct fr_spawn_req:
        const char *file
        char **candidates
        int ncandidates
        char **argv
        char **envp
        const char *cwd
        const int *child_fds
        const int *parent_fds
        int nfds
        const int *close_fds
        int nclose
        int has_uid, has_gid
        uid_t uid
        gid_t gid
        const gid_t *groups
        int ngroups
        int tty_fd
        int tty_master
        int use_fork
        int open_max
    int FR_SPAWN_CLOSEFROM, FR_SPAWN_CHDIR, FR_SPAWN_CLOEXEC_DEFAULT
    int fr_spawn(const fr_spawn_req *r, pid_t *pid, int *stage, int *child_err)
    int fr_exit_descriptor(pid_t pid)
    int fr_set_nonblocking(int fd)
    pid_t waitpid(pid_t pid, int *status, int options)
    ssize_t writev(int fd, const iovec *vec, int count)
    int WNOHANG, ECHILD, ESRCH
    pid_t getpid()

cdef enum:
    PIPE_READ = 1
    PIPE_WRITE = 2
    PIPE_BOTH = 3

SPAWN_CAN_CHDIR = bool(FR_SPAWN_CHDIR)
SPAWN_CLOSES_ALL = bool(FR_SPAWN_CLOSEFROM or FR_SPAWN_CLOEXEC_DEFAULT)
_STAGES = ("", "dup2", "setsid", "TIOCSCTTY", "chdir", "setgroups", "setgid", "setuid", "exec",
           "pipe", "fork", "posix_spawn")


cdef char **string_array(list items) except NULL:
    """A NULL-terminated char* array over the bytes objects of `items` (which must outlive it)."""
    cdef Py_ssize_t i, n = len(items)
    cdef char **array = <char **>malloc(sizeof(char *) * (n + 1))
    if array == NULL:
        raise MemoryError()
    for i in range(n):
        array[i] = PyBytes_AS_STRING(items[i])
    array[n] = NULL
    return array


def spawn_child(bytes file, list candidates, list argv, list envp, bytes cwd, list mapping,
                uid, gid, list groups, int tty_fd, int tty_master, bint use_fork, list close_fds,
                int open_max):
    """Start a child; return (pid, None) once its exec has succeeded.

    `file` is run with `argv` (bytes) and `envp` (bytes "NAME=value"; None: this process's
    environment) in `cwd` (None: ours). `mapping` lists (child_fd, parent_fd): the child gets a
    duplicate of each parent_fd as child_fd, and no other descriptor (`close_fds` lists inherited
    descriptors to close where the platform cannot close everything else by itself). posix_spawnp
    searches PATH for `file`; with `use_fork` (uid/gid, a controlling terminal `tty_fd`, or a `cwd`
    posix_spawn cannot change to), fork+exec tries each of `candidates` instead, running no Python
    in the child. Raises OSError (errno, message naming the failed step, the executable) when the
    child cannot be started; nothing is left behind then. With fork+exec, a child that cannot
    exec (or chdir, setuid...) behaves as Twisted's forked child does: it writes why to its
    stderr and exits with 1; this returns (pid, that OSError) for it.
    """
    cdef fr_spawn_req req
    cdef pid_t pid = 0
    cdef int stage = 0, err, i, child_err = 0
    cdef int n = len(mapping)
    cdef int *child_fds = <int *>malloc(sizeof(int) * (n + 1))
    cdef int *parent_fds = <int *>malloc(sizeof(int) * (n + 1))
    cdef int *closing = <int *>malloc(sizeof(int) * (len(close_fds) + 1))
    cdef gid_t *group_ids = NULL
    cdef char **c_argv = NULL
    cdef char **c_envp = NULL
    cdef char **c_candidates = NULL
    memset(&req, 0, sizeof(req))
    try:
        if child_fds == NULL or parent_fds == NULL or closing == NULL:
            raise MemoryError()
        for i in range(n):
            child_fds[i] = mapping[i][0]
            parent_fds[i] = mapping[i][1]
        for i in range(len(close_fds)):
            closing[i] = close_fds[i]
        c_argv = string_array(argv)
        c_candidates = string_array(candidates)
        if envp is not None:
            c_envp = string_array(envp)
        if groups is not None:
            group_ids = <gid_t *>malloc(sizeof(gid_t) * (len(groups) + 1))
            if group_ids == NULL:
                raise MemoryError()
            for i in range(len(groups)):
                group_ids[i] = groups[i]
            req.groups = group_ids
            req.ngroups = len(groups)
        req.file = PyBytes_AS_STRING(file)
        req.candidates = c_candidates
        req.ncandidates = len(candidates)
        req.argv = c_argv
        req.envp = c_envp
        req.cwd = PyBytes_AS_STRING(cwd) if cwd is not None else NULL
        req.child_fds = child_fds
        req.parent_fds = parent_fds
        req.nfds = n
        req.close_fds = closing
        req.nclose = len(close_fds)
        if uid is not None:
            req.has_uid = 1
            req.uid = uid
        if gid is not None:
            req.has_gid = 1
            req.gid = gid
        req.tty_fd = tty_fd
        req.tty_master = tty_master
        req.use_fork = use_fork
        req.open_max = open_max
        with nogil:
            err = fr_spawn(&req, &pid, &stage, &child_err)
        if err:
            raise OSError(err, "%s failed: %s" % (_STAGES[stage] if 0 <= stage < len(_STAGES) else "spawn",
                                                  os.strerror(err)), os.fsdecode(file))
        if child_err:
            return pid, OSError(child_err, "%s failed: %s" % (_STAGES[stage] if 0 <= stage < len(_STAGES) else "exec",
                                                              os.strerror(child_err)), os.fsdecode(file))
        return pid, None
    finally:
        free(child_fds)
        free(parent_fds)
        free(closing)
        free(group_ids)
        free(c_argv)
        free(c_envp)
        free(c_candidates)


cdef class PipeStream(StreamTransport):
    """One of a child's pipes (or a pseudo-terminal's master) under the shared StreamTransport.

    PipeStream(loop, fd, mode, childFD) owns `fd` (made non-blocking); `mode` is 1 (the parent
    reads: a child's stdout, stderr or another 'r' childFD), 2 (the parent writes: stdin or a 'w'
    childFD) or 3 (both: a pseudo-terminal). Its `protocol` is the process's router for this
    descriptor, whose dataReceived/connectionLost become the process protocol's
    childDataReceived(childFD, data) and childConnectionLost(childFD). A write-only pipe is
    watched for readability too: on a pipe's write end that means the reader has gone (the
    child closed it or exited), and the pipe is lost, as Twisted's ProcessWriter does.
    """

    def __init__(self, Loop loop, int fd, int mode, int childFD):
        StreamTransport.__init__(self, loop, fd)
        if mode not in (PIPE_READ, PIPE_WRITE, PIPE_BOTH):
            raise ValueError("mode must be 1, 2 or 3")
        self.mode = mode
        self.childFD = childFD
        fr_set_nonblocking(fd)

    def __dealloc__(self):
        # Only for a pipe whose loop was discarded while it was open.
        if self.fd >= 0:
            close(self.fd)

    def __repr__(self):
        return "<%s childFD=%d fd=%d connected=%d>" % (type(self).__name__, self.childFD, self.fd,
                                                        self.connected)

    def _start(self, router):
        """Start reading (or watching for the reader to go) on behalf of `router`."""
        self.protocol = router
        self.half_closeable = False
        self.start_reading()

    cdef ssize_t recv_into(self, char *buf, size_t size):
        if self.mode == PIPE_WRITE:
            fr_set_errno(EPIPE)     # readable write end: the reader has gone
            return -1
        return read(self.fd, buf, size)

    cdef object on_readable(self):
        # The end of a pipe (EOF, EIO on a terminal, or a write end whose reader has gone) is
        # handled after the other events of this poll, as the child's exit is: what the child
        # wrote to its other pipes before closing this one reaches the protocol first, whatever
        # order the poller reports the batch in.
        cdef ssize_t n
        cdef object data = None
        if self.mode == PIPE_WRITE:
            # Nothing was read, so errno is whatever an earlier call left there: set it, or a
            # stale EINTR/EAGAIN (the poll wait's spurious EINTR after an io_uring ring was
            # closed, or a signal's) would read as "try again" and the level-triggered report
            # would spin the loop.
            n = -1
            fr_set_errno(EPIPE)
        else:
            data = self.read_some(&n)
        if n > 0:
            self.deliver(data)
        elif n == 0 or (errno != EAGAIN and errno != EWOULDBLOCK and errno != EINTR):
            self.stop_reading()
            self.end_pending = True
            self.loop.callLater(0, self._ended, n == 0)
        return None

    def _ended(self, bint clean):
        if self.write_errno:
            clean = False
        self.lose(self.loop.api.Failure(self.loop.api.CONNECTION_DONE if clean else self.loop.api.CONNECTION_LOST))

    def resumeProducing(self):
        """Resume reading (IPushProducer), unless the pipe has ended."""
        if not self.end_pending:
            StreamTransport.resumeProducing(self)

    cdef ssize_t send_some(self, iovec *vec, int count) except -2:
        if count == 1:
            return write(self.fd, vec[0].iov_base, vec[0].iov_len)
        return writev(self.fd, vec, count)

    cdef int shut_write(self) except -1:
        # A pipe has no half-close: the child reads EOF once the write end is closed.
        if self.mode == PIPE_WRITE:
            self.close_descriptor(False)
        return 0

    def loseConnection(self):
        """Close this pipe: a write end once what was written is sent; a read end at once, with
        childConnectionLost on the next iteration (Twisted's ProcessReader.loseConnection)."""
        if self.mode != PIPE_READ:
            StreamTransport.loseConnection(self)
            return
        if not self.connected or self.disconnecting or self.aborting:
            return
        self.disconnecting = 1
        self.stop_reading()
        self.loop.callLater(0, self._readEndClosed)

    def _readEndClosed(self):
        self.lose(self.loop.api.Failure(self.loop.api.CONNECTION_DONE))

    def write(self, data):
        """Queue `data` (bytes) for the child (ignored on a read-only pipe's closing or closed
        end); TypeError for anything but bytes."""
        if self.mode == PIPE_READ:
            if not isinstance(data, bytes):
                raise TypeError("Data must be bytes")
            return
        StreamTransport.write(self, data)

    def logPrefix(self):
        protocol = self.protocol
        return protocol.logPrefix() if protocol is not None else type(self).__name__


# ---- exit watching -------------------------------------------------------------------------------

SIGCHLD_RECHECK = 0.5                  # seconds between reap attempts in the SIGCHLD fallback
cdef str forced_exit_watch = None      # tests: force "sigchld" where pidfd works
cdef dict sigchld_watchers = {}        # pid -> ExitWatcher, for the SIGCHLD fallback
cdef object sigchld_lock = _threading.Lock()
cdef bint sigchld_installed = False


def _force_exit_watch(how):
    """Tests only: None (the best the platform has) or "sigchld" (the fallback, through a
    SIGCHLD handler, as where neither pidfd nor kqueue exists)."""
    global forced_exit_watch
    if how not in (None, "sigchld"):
        raise ValueError(how)
    forced_exit_watch = how


def exit_watch_method():
    """How child exits are watched here: "pidfd", "kqueue" or "sigchld"."""
    if forced_exit_watch is not None:
        return forced_exit_watch
    if FR_HAVE_EPOLL or not FR_HAVE_KQUEUE:
        return "pidfd" if _pidfd_works() else "sigchld"
    return "kqueue"


cdef int pidfd_state = -1


cdef bint _pidfd_works():
    global pidfd_state
    cdef int fd
    if pidfd_state < 0:
        fd = fr_exit_descriptor(getpid())
        if fd >= 0:
            close(fd)
            pidfd_state = 1
        else:
            pidfd_state = 0
    return pidfd_state == 1


def _on_sigchld(signum, frame):
    # Runs in the main thread between two system calls: ask each watcher's loop to try reaping.
    with sigchld_lock:
        watchers = list(sigchld_watchers.values())
    for watcher in watchers:
        try:
            (<ExitWatcher>watcher).loop.callFromThread(watcher.reap)
        except Exception:
            pass


cdef int install_sigchld() except -1:
    global sigchld_installed
    if sigchld_installed:
        return 0
    if _threading.current_thread() is not _threading.main_thread():
        raise RuntimeError("spawnProcess needs a SIGCHLD handler on this platform, which only the "
                           "main thread can install")
    _signal.signal(_signal.SIGCHLD, _on_sigchld)
    _signal.siginterrupt(_signal.SIGCHLD, False)
    sigchld_installed = True
    return 0


cdef class ExitWatcher(Waker):
    """Watches one child for its exit and reaps it: process._reaped(status) is called once, with
    the raw wait status (None if somebody else reaped the child first).

    On Linux >= 5.3 a pidfd in the poller; on BSD/macOS a kqueue holding the child's NOTE_EXIT
    event (itself readable in any poller); elsewhere a SIGCHLD handler that asks the loop to try
    reaping. With a pidfd or kqueue no signal handler is installed. It is one of the loop's
    internal descriptors (a Waker): not in getReaders() or removeAll(), as Twisted's SIGCHLD
    waker is not. ExitWatcher(loop, pid, process) starts watching at once; a child that has
    already exited is reaped on the next iteration. The reap runs after the other events of
    the poll that reported the exit (so output already in the pipes comes first).
    """

    def __cinit__(self, *args, **kwargs):
        self.write_fd = -1

    def __init__(self, Loop loop, int pid, process):
        cdef int fd
        self.loop = loop
        self.pid = pid
        self.process = process
        how = exit_watch_method()
        if how != "sigchld":
            fd = fr_exit_descriptor(pid)
            if fd >= 0:
                self.fd = fd
                self.how = how
                loop.set_interest(self, EV_READ)
                return
            if errno != ESRCH and errno != ENOSYS:
                raise OSError(errno, "cannot watch child %d: %s" % (pid, os.strerror(errno)))
            if errno == ESRCH:
                # Already a zombie (kqueue refuses to watch it): reap it on the next iteration.
                self.how = how
                loop.callLater(0, self.reap)
                return
        self.how = "sigchld"
        install_sigchld()
        with sigchld_lock:
            sigchld_watchers[pid] = self
        loop.callLater(0, self.reap)    # it may have exited before the handler was there
        # A SIGCHLD that lands between the loop's signal check and its poll (with no wake-up
        # descriptor set) would wait for the next event: look again now and then, too.
        self.recheck = loop.callLater(SIGCHLD_RECHECK, self._recheck)

    def __repr__(self):
        return "<ExitWatcher pid=%d via %s fd=%d>" % (self.pid, self.how, self.fd)

    def close(self):
        """Stop watching without reaping (the loop is being closed)."""
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1
        with sigchld_lock:
            if sigchld_watchers.get(self.pid) is self:
                del sigchld_watchers[self.pid]

    cdef object on_readable(self):
        # Reap once this poll's other events are handled: what the child wrote just before it
        # exited is then delivered before processExited, whichever poller orders the batch
        # (epoll happens to report the pipe first; poll and select go by descriptor number).
        self.loop.set_interest(self, 0)
        self.loop.callLater(0, self._reapOrRearm)

    def _reapOrRearm(self):
        if not self.reap() and self.fd >= 0:
            self.loop.set_interest(self, EV_READ)

    cdef int stop_watching(self) except -1:
        if self.fd >= 0:
            self.loop.forget(self, True)
        if self.recheck is not None:
            if self.recheck.active():
                self.recheck.cancel()
            self.recheck = None
        self.close()
        return 0

    def reap(self):
        """Reap the child if it has exited (never blocks): True once it is reaped."""
        cdef int status = 0
        cdef pid_t got
        if self.process is None:
            return True
        while True:
            got = waitpid(self.pid, &status, WNOHANG)
            if got >= 0 or errno != EINTR:
                break
        if got == 0:
            return False
        self.stop_watching()
        process = self.process
        self.process = None
        if got < 0:
            if errno != ECHILD:
                raise OSError(errno, "waitpid(%d) failed" % self.pid)
            process._reaped(None)       # reaped by someone else: its status is lost
        else:
            process._reaped(status)
        return True

    def _recheck(self):
        self.recheck = None
        if not self.reap():
            self.recheck = self.loop.callLater(SIGCHLD_RECHECK, self._recheck)

    def logPrefix(self):
        """The process protocol's class name (log lines of its exit callbacks carry it)."""
        process = self.process
        proto = getattr(process, "proto", None) if process is not None else None
        return type(proto).__name__ if proto is not None else "Process"

    def _pidfd(self):
        """The descriptor watched (pidfd or kqueue), -1 for the SIGCHLD fallback or once reaped."""
        return self.fd


def _reset_sigchld_for_tests():
    """Tests only: forget that the SIGCHLD handler was installed (after a test put back the
    previous handler)."""
    global sigchld_installed
    sigchld_installed = False
    with sigchld_lock:
        sigchld_watchers.clear()
