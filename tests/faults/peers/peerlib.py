"""What every peer script shares: choosing its reactor, talking to the test, counting resources.

A peer reports to the test with one JSON object per line on stdout (`emit("name", key=value)`),
and takes commands as JSON lines on stdin (`on_commands(face, handler)`; a thread reads them and
hands each to the reactor thread with `callFromThread`). An exception in a peer is reported as an
`error` event, which fails the test with its traceback. When stdin closes (the test is gone) the
peer exits.
"""
import json
import os
import resource
import sys
import threading
import traceback

NATIVE = "native"
TWISTED_FACE = "twisted-face"
TWISTED = "twisted"


class Face:
    """The reactor a peer runs and the modules of that face: `protocol`, `error`, `policies`.

    `name` is one of NATIVE (fastreactor's own classes), TWISTED_FACE (Twisted's classes on
    fastreactor's engine) or TWISTED (Twisted's EPollReactor, the oracle); each takes a poller
    after a colon (`native:poll`; for TWISTED, `twisted:poll` is Twisted's PollReactor), epoll by
    default.
    """

    def __init__(self, name, poller="epoll"):
        name, _, chosen = name.partition(":")
        poller = chosen or poller
        self.name = name
        if name == NATIVE:
            os.environ["FASTREACTOR_POLLER"] = poller
            import fastreactor
            from fastreactor import error, policies, protocol
            self.reactor = fastreactor.reactor
        elif name == TWISTED_FACE:
            import fastreactor.twisted
            self.reactor = fastreactor.twisted.install(poller)
            from twisted.internet import error, protocol
            from twisted.protocols import policies
        elif name == TWISTED:
            # Twisted's reactor for that poller: EPollReactor (the default), PollReactor or
            # SelectReactor (`twisted:poll`, `twisted:select`).
            if poller == "epoll":
                from twisted.internet import epollreactor as chosen_reactor
            elif poller == "poll":
                from twisted.internet import pollreactor as chosen_reactor
            elif poller == "select":
                from twisted.internet import selectreactor as chosen_reactor
            else:
                raise ValueError("Twisted has no %r reactor here" % (poller,))
            chosen_reactor.install()
            from twisted.internet import error, protocol, reactor
            from twisted.protocols import policies
            self.reactor = reactor
        else:
            raise ValueError("unknown reactor %r" % (name,))
        self.protocol = protocol
        self.error = error
        self.policies = policies

    def run(self):
        """Run the reactor until stopped; an `error` event if it raises."""
        self.reactor.run(installSignalHandlers=False)


TLS = os.environ.get("FAULTS_TLS")
"""`CERT:KEY` (PEM files) to run a peer's connections over TLS (listenSSL and connectSSL: on the
native face with `fastreactor.ssl` contexts and the engine's TLS layer, on the Twisted faces with
Twisted's `ssl` module; the client does not verify the test certificate); unset for plain TCP."""


def is_unix(address):
    """Whether `address` names a UNIX socket (a path) rather than an IP address."""
    return address.startswith("/")


def listen(face, port, factory, backlog=50, interface=""):
    """listenTCP, or listenSSL with the test certificate when TLS is set; listenUNIX when
    `interface` is a path (`port` is then ignored)."""
    if is_unix(interface):
        return face.reactor.listenUNIX(interface, factory, backlog=backlog)
    if TLS and face.name == NATIVE:
        from fastreactor import ssl
        context = ssl.serverContext(*TLS.split(":"))
        return face.reactor.listenSSL(port, factory, context, backlog=backlog, interface=interface)
    if TLS:
        from twisted.internet import ssl
        cert, key = TLS.split(":")
        with open(cert) as c, open(key) as k:
            options = ssl.PrivateCertificate.loadPEM(c.read() + k.read()).options()
        return face.reactor.listenSSL(port, factory, options, backlog=backlog, interface=interface)
    return face.reactor.listenTCP(port, factory, backlog=backlog, interface=interface)


def connect(face, host, port, factory, timeout=30):
    """connectTCP, or connectSSL (no certificate verification) when TLS is set."""
    if TLS and face.name == NATIVE:
        from fastreactor import ssl
        return face.reactor.connectSSL(host, port, factory, ssl.clientContext(verify=False),
                                       timeout=timeout)
    if TLS:
        from twisted.internet import ssl
        return face.reactor.connectSSL(host, port, factory, ssl.CertificateOptions(),
                                       timeout=timeout)
    return face.reactor.connectTCP(host, port, factory, timeout=timeout)


def listening_at(port):
    """What a client needs to reach a listening port: its TCP port number, or a UNIX path."""
    host = port.getHost()
    if hasattr(host, "port"):
        return host.port
    return os.fsdecode(host.name)     # UNIXAddress.name is bytes on both faces, as in Twisted


def stream_socket(address, port):
    """A new, unconnected stream socket for `address` (AF_UNIX for a path, else AF_INET) and the
    target to `connect()` it to."""
    import socket
    if is_unix(address):
        return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), address
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM), (address, int(port))


def tcp_transport(transport):
    """The TCP transport itself: under a TLS wrapper (a protocol wrapper with `wrappedProtocol`,
    Twisted's TLS), the one it wraps; socket options and `bufferSize` go there. The native face's
    TLS is a layer inside its TCP transport: that transport itself."""
    if hasattr(transport, "wrappedProtocol"):
        return transport.transport
    return transport


def client_socket(address, port, timeout=10):
    """A connected blocking socket (plain peers; AF_UNIX when `address` is a path); TLS-wrapped,
    handshake done, when TLS is set."""
    sock, target = stream_socket(address, port)
    sock.settimeout(timeout)
    sock.connect(target)
    if TLS:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock)
    return sock


def emit(event, **fields):
    """Report one event to the test."""
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def report_error(context=""):
    """Report the exception being handled as an `error` event (the test fails on it)."""
    emit("error", error="%s%s" % (context and context + ": ", traceback.format_exc()))


def guarded(func):
    """`func` with any exception it raises reported as an `error` event."""
    def call(*args, **kw):
        try:
            return func(*args, **kw)
        except Exception:
            report_error(getattr(func, "__name__", "callback"))
    return call


def on_commands(face, handler):
    """Hand each command line from stdin (a dict) to `handler` in the reactor thread; exit the
    process when stdin closes."""
    def reader():
        for line in sys.stdin:
            line = line.strip()
            if line:
                face.reactor.callFromThread(guarded(handler), json.loads(line))
        os._exit(0)

    threading.Thread(target=reader, daemon=True).start()


def fd_count():
    """How many descriptors this process has open (found with fstat, which needs no descriptor
    of its own, so it works when the process has run out of them)."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    count = 0
    for fd in range(limit):
        try:
            os.fstat(fd)
        except OSError:
            continue
        count += 1
    return count


def rss_kib():
    """This process's resident set size in KiB (from /proc/self/status); -1 if it cannot be read
    (no descriptor left to open it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def set_nofile(limit):
    """Lower this process's soft RLIMIT_NOFILE to `limit` descriptors."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def reason_name(reason):
    """The class name of a Failure's exception (the same on every face)."""
    return type(reason.value).__name__
