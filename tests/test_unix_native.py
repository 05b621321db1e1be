"""UNIX stream sockets on the native face, on every poller: listenUNIX/connectUNIX arguments and
errors, mode, abstract names, the wantPID/checkPID lock file and stale sockets, adoption of AF_UNIX
sockets, peer credentials, and descriptor passing (order, byte offsets, overrun, no leaks)."""
import gc
import logging
import os
import socket
import stat
import sys
import tempfile

import pytest

from conftest import run_until
from fastreactor import error
from fastreactor.protocol import ClientFactory, Factory, Protocol
from unix_helpers import Collect, CollectFDs, Keeping, identity, send_with_fds, socket_path

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="abstract-namespace names exist only on Linux")


def open_fds():
    """The number of descriptors this process has open (Linux /proc, else /dev/fd), after a
    collection: garbage left by earlier tests (pipes, sockets) could otherwise be freed between
    two counts and make them differ."""
    gc.collect()
    where = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    return len(os.listdir(where))


def connect_pair(reactor, server_protocol, client_protocol, path=None):
    """Listen on a new path, connect; returns (server protocol, client protocol, port) once both
    are connected."""
    path = path or socket_path()
    servers = []
    port = reactor.listenUNIX(path, Keeping(server_protocol, servers))
    client = client_protocol()
    reactor.connectUNIX(path, ClientFactory.forProtocol(lambda: client))
    run_until(reactor, lambda: servers and servers[0].transport is not None and client.transport is not None)
    return servers[0], client, port


# ---- arguments, errors, the socket file ----------------------------------------------------------

def test_listen_sets_mode_and_removes_file_when_stopped(reactor):
    path = socket_path()
    port = reactor.listenUNIX(path, Factory.forProtocol(Protocol), mode=0o600)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert port.getHost().name == os.fsencode(path)
    assert repr(port) == "<Port of Factory on %r>" % (path,)
    d = port.stopListening()
    fired = []
    d.addCallback(fired.append)
    run_until(reactor, lambda: fired)
    assert not os.path.exists(path)
    assert repr(port) == "<Port of Factory (not listening)>"


def test_path_in_use_by_a_live_listener_is_cannot_listen(reactor):
    path = socket_path()
    reactor.listenUNIX(path, Factory.forProtocol(Protocol))
    with pytest.raises(error.CannotListenError) as info:
        reactor.listenUNIX(path, Factory.forProtocol(Protocol))
    assert "Address already in use" in str(info.value)
    assert os.path.exists(path)     # the live listener's file is left alone


def test_missing_directory_is_cannot_listen(reactor):
    path = os.path.join(tempfile.mkdtemp(), "no", "such", "dir")
    with pytest.raises(error.CannotListenError):
        reactor.listenUNIX(path, Factory.forProtocol(Protocol))


@pytest.mark.parametrize("bad, exc", [("x" * 200, ValueError), ("", ValueError),
                                      ("a\0b", ValueError), (42, TypeError)])
def test_bad_address_fails_at_the_call(reactor, bad, exc):
    with pytest.raises(exc):
        reactor.listenUNIX(bad, Factory.forProtocol(Protocol))
    with pytest.raises(exc):
        reactor.connectUNIX(bad, ClientFactory.forProtocol(Protocol))


def test_too_long_path_names_the_limit(reactor):
    with pytest.raises(ValueError, match="limited to 1[0-9][0-9] bytes"):
        reactor.listenUNIX("/tmp/" + "x" * 150, Factory.forProtocol(Protocol))


def test_bad_backlog_mode_timeout(reactor):
    with pytest.raises(ValueError):
        reactor.listenUNIX(socket_path(), Factory.forProtocol(Protocol), backlog=-1)
    with pytest.raises(ValueError):
        reactor.listenUNIX(socket_path(), Factory.forProtocol(Protocol), mode="rw")
    with pytest.raises(ValueError):
        reactor.connectUNIX(socket_path(), ClientFactory.forProtocol(Protocol), timeout=-1)


def test_factory_lacking_methods_is_refused(reactor):
    class Bare:
        pass
    with pytest.raises(TypeError, match="buildProtocol"):
        reactor.listenUNIX(socket_path(), Bare())
    with pytest.raises(TypeError, match="clientConnectionFailed"):
        reactor.connectUNIX(socket_path(), Bare())


def test_addresses_and_echo(reactor):
    server, client, port = connect_pair(reactor, Collect, Collect)
    path = port.getHost().name
    assert server.transport.getHost().name == path
    assert server.transport.getPeer().name is None      # the client's socket is unnamed
    assert client.transport.getPeer().name == path
    assert client.transport.getHost().name is None
    client.transport.write(b"ping")
    run_until(reactor, lambda: server.data() == b"ping")
    server.transport.write(b"pong" * 50000)
    run_until(reactor, lambda: client.data() == b"pong" * 50000)
    client.transport.loseConnection()
    run_until(reactor, lambda: server.reason is not None)
    assert server.reason.check(error.ConnectionDone)


@linux_only
def test_abstract_names(reactor):
    name = b"\0fastreactor-test-%d" % os.getpid()
    server, client, port = connect_pair(reactor, Collect, Collect, path=name)
    assert port.getHost().name == name
    assert client.transport.getPeer().name == name
    client.transport.write(b"abstract")
    run_until(reactor, lambda: server.data() == b"abstract")
    d = port.stopListening()
    fired = []
    d.addCallback(fired.append)
    run_until(reactor, lambda: fired)
    # The name is free again (no file to remove, nothing left bound).
    s = socket.socket(socket.AF_UNIX)
    s.bind(name)
    s.close()


@linux_only
def test_abstract_name_as_str_and_wantPID_is_ignored(reactor):
    name = "\0fastreactor-str-%d" % os.getpid()
    port = reactor.listenUNIX(name, Factory.forProtocol(Protocol), wantPID=True)
    assert port.getHost().name == os.fsencode(name)
    assert port.lockFile is None


# ---- wantPID / checkPID / stale sockets ----------------------------------------------------------

def test_wantPID_takes_and_releases_the_lock(reactor):
    path = socket_path()
    port = reactor.listenUNIX(path, Factory.forProtocol(Protocol), wantPID=True)
    lock = path + ".lock"
    assert os.readlink(lock) == str(os.getpid())
    # The same process cannot take it twice: CannotListenError, and the first listener is intact.
    with pytest.raises(error.CannotListenError, match="Cannot acquire lock"):
        reactor.listenUNIX(path, Factory.forProtocol(Protocol), wantPID=True)
    assert os.path.lexists(lock) and os.path.exists(path)
    fired = []
    port.stopListening().addCallback(fired.append)
    run_until(reactor, lambda: fired)
    assert not os.path.lexists(lock) and not os.path.exists(path)


def dead_pid():
    """A process id that no longer exists."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_wantPID_removes_a_stale_socket_of_a_dead_process(reactor):
    path = socket_path()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()                                   # the file stays: a crashed server's leftover
    os.symlink(str(dead_pid()), path + ".lock")
    # Without wantPID the leftover file is in the way, as in Twisted.
    with pytest.raises(error.CannotListenError):
        reactor.listenUNIX(path, Factory.forProtocol(Protocol))
    port = reactor.listenUNIX(path, Factory.forProtocol(Protocol), wantPID=True)
    assert os.readlink(path + ".lock") == str(os.getpid())
    assert port.connected
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)                                 # the new listener answers on the path
    c.close()


def test_wantPID_never_removes_a_file_that_is_not_a_socket(reactor):
    path = socket_path()
    with open(path, "w") as f:
        f.write("precious")
    os.symlink(str(dead_pid()), path + ".lock")
    with pytest.raises(error.CannotListenError):
        reactor.listenUNIX(path, Factory.forProtocol(Protocol), wantPID=True)
    with open(path) as f:
        assert f.read() == "precious"
    assert not os.path.lexists(path + ".lock")      # released after the failure


class Outcome(ClientFactory):
    protocol = Protocol

    def __init__(self):
        self.failed = None
        self.made = False

    def clientConnectionFailed(self, connector, reason):
        self.failed = reason

    def buildProtocol(self, addr):
        self.made = True
        return Protocol()


def test_checkPID_refuses_without_a_live_lock(reactor):
    path = socket_path()
    reactor.listenUNIX(path, Factory.forProtocol(Protocol))     # no wantPID: no lock file
    f = Outcome()
    reactor.connectUNIX(path, f, checkPID=True)
    run_until(reactor, lambda: f.failed is not None)
    assert f.failed.check(error.BadFileError)
    os.symlink(str(dead_pid()), path + ".lock")                 # a dead owner's lock
    f = Outcome()
    reactor.connectUNIX(path, f, checkPID=True)
    run_until(reactor, lambda: f.failed is not None)
    assert f.failed.check(error.BadFileError)


def test_checkPID_connects_when_the_lock_is_held(reactor):
    path = socket_path()
    reactor.listenUNIX(path, Factory.forProtocol(Protocol), wantPID=True)
    f = Outcome()
    reactor.connectUNIX(path, f, checkPID=True)
    run_until(reactor, lambda: f.made)


# ---- adoption ---------------------------------------------------------------------------------------

def test_adopt_unix_listening_socket(reactor):
    path = socket_path()
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(5)
    s.setblocking(False)
    servers = []
    factory = Factory.forProtocol(Collect)
    original = factory.buildProtocol

    def build(addr):
        p = original(addr)
        servers.append(p)
        return p
    factory.buildProtocol = build
    port = reactor.adoptStreamPort(s.fileno(), socket.AF_UNIX, factory)
    s.close()
    assert port.getHost().name == os.fsencode(path)
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    c.sendall(b"adopted")
    run_until(reactor, lambda: servers and servers[0].data() == b"adopted")
    c.close()


def test_adopt_unix_connection(reactor):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setblocking(False)
    transport = reactor.adoptStreamConnection(a.fileno(), socket.AF_UNIX, Factory.forProtocol(CollectFDs))
    a.close()
    assert transport is not None
    assert transport.getPeerCredentials() == (os.getpid(), os.getuid(), os.getgid())
    b.sendall(b"over the pair")
    run_until(reactor, lambda: transport.protocol.data() == b"over the pair")
    transport.write(b"back")
    reactor.iterate(0)              # the write goes out before the loop polls
    b.settimeout(5)
    assert b.recv(100) == b"back"
    b.close()
    run_until(reactor, lambda: transport.protocol is None)


def test_adopt_refuses_a_datagram_unix_socket(reactor):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.setblocking(False)
    before = open_fds()
    with pytest.raises(ValueError, match="SOCK_STREAM"):
        reactor.adoptStreamConnection(a.fileno(), socket.AF_UNIX, Factory.forProtocol(Protocol))
    assert open_fds() == before
    a.close()
    b.close()


# ---- peer credentials -------------------------------------------------------------------------------

def test_peer_credentials_on_both_sides(reactor):
    server, client, port = connect_pair(reactor, Collect, Collect)
    me = (os.getpid(), os.getuid(), os.getgid())
    if sys.platform.startswith("linux") or sys.platform == "darwin":
        assert server.transport.getPeerCredentials() == me
        assert client.transport.getPeerCredentials() == me
    else:
        assert server.transport.getPeerCredentials()[1:] == me[1:]
    client.transport.loseConnection()
    run_until(reactor, lambda: client.transport.fileno() < 0)
    with pytest.raises(OSError):
        client.transport.getPeerCredentials()


def test_peer_credentials_of_another_process(reactor):
    path = socket_path()
    servers = []
    factory = Factory.forProtocol(Collect)
    original = factory.buildProtocol
    factory.buildProtocol = lambda addr: servers.append(original(addr)) or servers[-1]
    reactor.listenUNIX(path, factory)
    pid = os.fork()
    if pid == 0:
        try:
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            c.sendall(b"hi")
            c.recv(1)                               # until the parent closes
        finally:
            os._exit(0)
    try:
        run_until(reactor, lambda: servers and servers[0].data() == b"hi")
        assert servers[0].transport.getPeerCredentials()[0] in (pid, None)
        assert servers[0].transport.getPeerCredentials()[1:] == (os.getuid(), os.getgid())
    finally:
        if servers:
            servers[0].transport.loseConnection()
        reactor.iterate(0)
        reactor.iterate(0)
        os.waitpid(pid, 0)


# ---- descriptor passing ---------------------------------------------------------------------------

def temp_files(n):
    files = [tempfile.TemporaryFile() for _ in range(n)]
    return files


def test_descriptors_arrive_in_order_before_their_bytes(reactor):
    server, client, port = connect_pair(reactor, CollectFDs, Collect)
    files = temp_files(3)
    for f in files:
        client.transport.sendFileDescriptor(f.fileno())
    client.transport.write(b"abc")
    run_until(reactor, lambda: server.data() == b"abc")
    fds = server.fds()
    assert [identity(e[1]) for e in fds] == [identity(f.fileno()) for f in files]
    assert all(e[1] not in [f.fileno() for f in files] for e in fds)     # copies, not the same numbers
    assert server.events[0][0] == "fd"
    for e in fds:
        assert os.get_inheritable(e[1]) is False        # close-on-exec
        os.close(e[1])
    for f in files:
        f.close()


def test_each_descriptor_travels_with_its_byte(reactor):
    """Descriptors interleaved with large writes arrive with the read that holds their byte."""
    server, client, port = connect_pair(reactor, CollectFDs, Collect)
    files = temp_files(8)
    offsets = []
    total = 0
    for i, f in enumerate(files):
        chunk = bytes([65 + i]) * (30000 * (i + 1))
        client.transport.sendFileDescriptor(f.fileno())
        offsets.append(total)
        client.transport.write(chunk)
        total += len(chunk)
    run_until(reactor, lambda: server.received == total)
    events = server.events
    seen = []
    for index, event in enumerate(events):
        if event[0] != "fd":
            continue
        following = next(e for e in events[index:] if e[0] == "data")
        seen.append((identity(event[1]), event[2], event[2] + len(following[1])))
        os.close(event[1])
    assert [s[0] for s in seen] == [identity(f.fileno()) for f in files]
    for (ident, start, end), offset in zip(seen, offsets):
        assert start <= offset < end, (start, offset, end)
    assert server.data() == b"".join(bytes([65 + i]) * (30000 * (i + 1)) for i in range(8))
    for f in files:
        f.close()


def test_more_descriptors_than_bytes_is_overrun(reactor, caplog):
    server, client, port = connect_pair(reactor, CollectFDs, Collect)
    f = tempfile.TemporaryFile()
    client.transport.sendFileDescriptor(f.fileno())
    client.transport.sendFileDescriptor(f.fileno())
    client.transport.write(b"x")                    # one byte for two descriptors
    run_until(reactor, lambda: client.reason is not None)
    assert client.reason.check(error.FileDescriptorOverrun)
    run_until(reactor, lambda: server.reason is not None)
    for e in server.events:
        if e[0] == "fd":
            os.close(e[1])
    f.close()


def test_descriptor_without_any_write_is_overrun_even_with_a_pending_close(reactor):
    server, client, port = connect_pair(reactor, CollectFDs, Collect)
    f = tempfile.TemporaryFile()
    client.transport.sendFileDescriptor(f.fileno())
    client.transport.loseConnection()
    run_until(reactor, lambda: client.reason is not None)
    assert client.reason.check(error.FileDescriptorOverrun)
    f.close()


def test_descriptors_to_a_protocol_that_does_not_take_them_are_closed(reactor, caplog):
    server, client, port = connect_pair(reactor, Collect, Collect)
    probe_a, probe_b = socket.socketpair()
    client.transport.sendFileDescriptor(probe_a.fileno())
    client.transport.write(b"junk")
    with caplog.at_level(logging.INFO, logger="fastreactor"):
        run_until(reactor, lambda: server.data() == b"junk")
    probe_a.close()
    # If the server kept a copy, probe_b would not see EOF.
    probe_b.setblocking(False)
    assert probe_b.recv(10) == b""
    assert any("does not take file descriptors" in r.getMessage() for r in caplog.records)
    probe_b.close()


def test_descriptor_passing_leaks_nothing(reactor):
    server, client, port = connect_pair(reactor, Collect, Collect)   # receiver refuses them
    f = tempfile.TemporaryFile()
    reactor.iterate(0)
    gc.collect()                    # descriptors of earlier tests' garbage go now, not during
    before = open_fds()
    for _ in range(200):
        client.transport.sendFileDescriptor(f.fileno())
        client.transport.write(b"y")
    run_until(reactor, lambda: server.received == 200)
    assert open_fds() == before
    f.close()


def test_file_descriptor_received_raising_closes_the_rest_and_loses_the_connection(reactor, caplog):
    class Raises(CollectFDs):
        def fileDescriptorReceived(self, fd):
            self.events.append(("fd", fd, self.received))
            raise RuntimeError("no thanks")

    server, client, port = connect_pair(reactor, Raises, Collect)
    a, b = socket.socketpair()
    # Two descriptors in one message: the raw sendmsg puts both in one control message.
    raw = socket.socket(fileno=os.dup(client.transport.fileno()))
    send_with_fds(raw, b"zz", [a.fileno(), a.fileno()])
    raw.detach()
    run_until(reactor, lambda: server.reason is not None)
    assert server.reason.check(RuntimeError)
    taken = [e[1] for e in server.events if e[0] == "fd"]
    assert len(taken) == 1                          # the first was handed over (now the protocol's)
    os.close(taken[0])
    a.close()
    b.setblocking(False)
    assert b.recv(10) == b""                        # the second was closed, not leaked
    b.close()
    assert any("fileDescriptorReceived" in r.getMessage() for r in caplog.records)


def test_many_descriptors_pause_a_streaming_producer(reactor):
    server, client, port = connect_pair(reactor, CollectFDs, Collect)
    server.transport.pauseProducing()               # the peer does not read: the kernel fills up
    events = []

    class Producer:
        def pauseProducing(self):
            events.append("pause")

        def resumeProducing(self):
            events.append("resume")

        def stopProducing(self):
            events.append("stop")

    f = tempfile.TemporaryFile()
    client.transport.registerProducer(Producer(), True)
    for _ in range(2000):
        if events:
            break
        client.transport.sendFileDescriptor(f.fileno())
        client.transport.write(b"z")
        reactor.iterate(0)
    assert events == ["pause"]
    client.transport.abortConnection()
    server.transport.abortConnection()
    run_until(reactor, lambda: server.reason is not None and client.reason is not None)
    f.close()


def test_send_file_descriptor_argument_errors(reactor):
    server, client, port = connect_pair(reactor, CollectFDs, Collect)
    with pytest.raises(TypeError):
        client.transport.sendFileDescriptor("3")
    with pytest.raises(ValueError):
        client.transport.sendFileDescriptor(-1)
    client.transport.write(b"ok")
    run_until(reactor, lambda: server.data() == b"ok")


def test_closed_descriptor_loses_the_connection(reactor):
    server, client, port = connect_pair(reactor, CollectFDs, Collect)
    f = tempfile.TemporaryFile()
    fd = os.dup(f.fileno())
    os.close(fd)                                    # closed before it could be sent: EBADF
    client.transport.sendFileDescriptor(fd)
    client.transport.write(b"x")
    run_until(reactor, lambda: client.reason is not None)
    assert client.reason.check(error.ConnectionLost)
    f.close()


# ---- memory ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["lose", "abort", "descriptor"])
def test_connection_objects_are_freed_without_the_garbage_collector(reactor, how):
    """No reference cycles per UNIX connection: transport, protocols, factory and connector are
    freed by reference counting alone (also with descriptors queued when it is aborted)."""
    import weakref
    path = socket_path()
    reactor.listenUNIX(path, Factory.forProtocol(Collect))
    refs = {}
    done = []
    f = tempfile.TemporaryFile()

    class Client(Protocol):
        def connectionMade(self):
            refs["protocol"] = weakref.ref(self)
            refs["transport"] = weakref.ref(self.transport)
            if how == "descriptor":
                self.transport.sendFileDescriptor(f.fileno())
                self.transport.abortConnection()
            elif how == "abort":
                self.transport.abortConnection()
            else:
                self.transport.write(b"bye")
                self.transport.loseConnection()

    class CF(ClientFactory):
        protocol = Client

        def clientConnectionLost(self, connector, reason):
            done.append(reason)

    gc.disable()
    try:
        factory = CF()
        refs["factory"] = weakref.ref(factory)
        connector = reactor.connectUNIX(path, factory)
        refs["connector"] = weakref.ref(connector)
        del factory, connector
        run_until(reactor, lambda: done)
        for _ in range(3):
            reactor.iterate(0)
        done.clear()
        alive = [name for name, ref in refs.items() if ref() is not None]
        assert alive == []
    finally:
        gc.enable()
        f.close()


def test_full_backlog_waits_without_spinning_then_connects_or_times_out(reactor):
    """A UNIX listener with a full backlog makes connect() say EAGAIN (it does not wait in the
    kernel as TCP does): the attempt retries without busy-looping, connects once the listener
    accepts, and otherwise fails with TimeoutError."""
    import time
    path = socket_path()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(0)
    fillers = []
    while True:
        c = socket.socket(socket.AF_UNIX)
        c.setblocking(False)
        fillers.append(c)
        if c.connect_ex(path) != 0:
            break
    f = Outcome()
    reactor.connectUNIX(path, f, timeout=0.6)
    cpu = time.process_time()
    run_until(reactor, lambda: f.failed is not None)
    assert f.failed.check(error.TimeoutError)
    assert time.process_time() - cpu < 0.3          # mostly asleep, not spinning for 0.6 s
    f = Outcome()
    reactor.connectUNIX(path, f, timeout=5)
    for _ in range(5):
        reactor.iterate(0.02)
    assert not f.made and f.failed is None
    listener.setblocking(False)
    accepted = [listener.accept()[0]]               # room in the backlog again
    run_until(reactor, lambda: f.made)
    for s in fillers + accepted + [listener]:
        s.close()
