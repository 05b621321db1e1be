"""Endpoints: where to listen or connect, as objects or as Twisted's description strings.

`serverFromString(reactor, "tcp:8000:interface=127.0.0.1")` returns an endpoint whose
`listen(factory)` returns a Deferred firing with the listening port;
`clientFromString(reactor, "tcp:host=example.com:port=80")` returns one whose
`connect(factory)` returns a Deferred firing with the connected protocol.

The string syntax is Twisted's: a type, then `:`-separated arguments, positional or
`name=value`; a backslash escapes the next character (`\\:` for a colon inside a value, see
`quoteStringArgument`). Server types:

- `tcp:PORT[:interface=IP][:backlog=N]`, `tcp6:PORT[:interface=IP6][:backlog=N]`
- `unix:PATH[:mode=OCTAL][:lockfile=0|1][:backlog=N]`
- `ssl:PORT[:privateKey=KEY.pem][:certKey=CERT.pem][:interface=IP][:backlog=N]
  [:extraCertChain=CHAIN.pem][:dhParameters=FILE][:sslmethod=...]`

Client types:

- `tcp:HOST:PORT` or `tcp:host=HOST:port=PORT[:timeout=S][:bindAddress=IP]`
- `unix:PATH` or `unix:path=PATH[:timeout=S][:lockfile=0|1]`
- `ssl:HOST:PORT[:certKey=..][:privateKey=..][:caCertsDir=DIR][:hostname=NAME]`
- `tls:HOST:PORT[:timeout=S][:bindAddress=IP][:certificate=..][:privateKey=..]
  [:trustRoots=DIR_OR_FILE]` (verifies the server's certificate for HOST)

A string that does not parse raises `EndpointStringError` (a ValueError) naming the part at
fault. On the native face, TLS contexts are the standard library's `ssl.SSLContext`, built when
the string is parsed (so a missing key file is reported then); on the Twisted face
(`fastreactor.twisted`), `ssl:` and `tls:` strings are handed to Twisted's own parser, whose
pyOpenSSL contexts that face's listenSSL/connectSSL take. UNIX and TLS endpoints call the reactor's `listenUNIX`,
`connectUNIX`, `listenSSL` and `connectSSL`; on a reactor without one, `listen`/`connect` fail
with `MissingReactorMethod` naming it.
"""
import os
import ssl as _stdlib_ssl

from fastreactor.internet import MissingReactorMethod

__all__ = [
    "EndpointStringError", "serverFromString", "clientFromString", "quoteStringArgument",
    "TCP4ServerEndpoint", "TCP6ServerEndpoint", "TCP4ClientEndpoint", "TCP6ClientEndpoint",
    "UNIXServerEndpoint", "UNIXClientEndpoint", "SSL4ServerEndpoint", "SSL4ClientEndpoint",
    "TLSClientEndpoint", "AdoptedStreamServerEndpoint",
]


class EndpointStringError(ValueError):
    """An endpoint description string that cannot be parsed; the message names the part."""


# ---- Deferreds of the reactor's face ---------------------------------------------------------


def _api(reactor):
    """The reactor's type bundle (Twisted's Deferred/Failure on the Twisted face), else the
    native face's."""
    api = getattr(reactor, "_api", None)
    if api is not None:
        return api
    from fastreactor._native import native_api
    return native_api


def _execute(reactor, f, *args, **kwargs):
    """`f(*args, **kwargs)` as a fired Deferred of the reactor's face (failed if it raised)."""
    api = _api(reactor)
    try:
        result = f(*args, **kwargs)
    except BaseException:
        d = api.Deferred()
        d.errback(api.Failure())
        return d
    return api.succeed(result)


def _method(reactor, name, endpoint):
    method = getattr(reactor, name, None)
    if not callable(method):
        raise MissingReactorMethod(
            "%s needs reactor.%s(), which %r does not have (this transport is not available on "
            "this reactor)" % (type(endpoint).__name__, name, reactor))
    return method


# ---- server endpoints ------------------------------------------------------------------------


class _TCPServerEndpoint:
    def __init__(self, reactor, port, backlog=50, interface=""):
        self._reactor = reactor
        self._port = port
        self._backlog = backlog
        self._interface = interface

    def listen(self, protocolFactory):
        """Listen with `protocolFactory`: a Deferred firing with the port (failing with
        CannotListenError if it cannot bind)."""
        return _execute(self._reactor, self._reactor.listenTCP, self._port, protocolFactory,
                        backlog=self._backlog, interface=self._interface)

    def __repr__(self):
        return "<%s %s:%s>" % (type(self).__name__, self._interface or "*", self._port)


class TCP4ServerEndpoint(_TCPServerEndpoint):
    """Listen on TCP `port` of IPv4 `interface` ('' = all) with `backlog`."""


class TCP6ServerEndpoint(_TCPServerEndpoint):
    """Listen on TCP `port` of IPv6 `interface` ('::' = all) with `backlog`."""

    def __init__(self, reactor, port, backlog=50, interface="::"):
        _TCPServerEndpoint.__init__(self, reactor, port, backlog, interface)


class UNIXServerEndpoint:
    """Listen on the UNIX socket at `address` (reactor.listenUNIX), file `mode`, with a lock
    file next to it if `wantPID`."""

    def __init__(self, reactor, address, backlog=50, mode=0o666, wantPID=0):
        self._reactor = reactor
        self._address = address
        self._backlog = backlog
        self._mode = mode
        self._wantPID = wantPID

    def listen(self, protocolFactory):
        """A Deferred firing with the listening port."""
        return _execute(self._reactor, lambda: _method(self._reactor, "listenUNIX", self)(
            self._address, protocolFactory, backlog=self._backlog, mode=self._mode,
            wantPID=self._wantPID))


class SSL4ServerEndpoint:
    """Listen for TLS on TCP `port` of `interface` with `sslContextFactory` (an
    `ssl.SSLContext` from `serverFromString`, or whatever the reactor's listenSSL takes)."""

    def __init__(self, reactor, port, sslContextFactory, backlog=50, interface=""):
        self._reactor = reactor
        self._port = port
        self._sslContextFactory = sslContextFactory
        self._backlog = backlog
        self._interface = interface

    def listen(self, protocolFactory):
        """A Deferred firing with the listening port."""
        return _execute(self._reactor, lambda: _method(self._reactor, "listenSSL", self)(
            self._port, protocolFactory, contextFactory=self._sslContextFactory,
            backlog=self._backlog, interface=self._interface))


class AdoptedStreamServerEndpoint:
    """Listen on a socket that is already bound and listening (`fileno`, `addressFamily`),
    through reactor.adoptStreamPort; it can listen only once (the descriptor is closed after
    adoption, as Twisted does)."""

    def __init__(self, reactor, fileno, addressFamily):
        self.reactor = reactor
        self.fileno = fileno
        self.addressFamily = addressFamily
        self._used = False

    def listen(self, factory):
        """A Deferred firing with the port; AlreadyListened-like ValueError the second time."""
        if self._used:
            return _execute(self.reactor, _raise, ValueError(
                "AdoptedStreamServerEndpoint can listen only once (descriptor %d)" % self.fileno))
        self._used = True

        def adopt():
            port = self.reactor.adoptStreamPort(self.fileno, self.addressFamily, factory)
            os.close(self.fileno)
            return port

        return _execute(self.reactor, adopt)


def _raise(exc):
    raise exc


# ---- client endpoints ------------------------------------------------------------------------


class _WrappingProtocol:
    """Stands between a client transport and the user's protocol so that the endpoint's
    Deferred fires with the user's protocol once it is connected (after its connectionMade)."""

    def __init__(self, connectedDeferred, wrappedProtocol):
        self._connectedDeferred = connectedDeferred
        self._wrappedProtocol = wrappedProtocol

    def makeConnection(self, transport):
        self.transport = transport
        self.connected = 1
        self._wrappedProtocol.makeConnection(transport)
        d, self._connectedDeferred = self._connectedDeferred, None
        if d is not None:
            d.callback(self._wrappedProtocol)

    def dataReceived(self, data):
        return self._wrappedProtocol.dataReceived(data)

    def connectionLost(self, reason):
        self.connected = 0
        return self._wrappedProtocol.connectionLost(reason)

    def logPrefix(self):
        prefix = getattr(self._wrappedProtocol, "logPrefix", None)
        return prefix() if callable(prefix) else type(self._wrappedProtocol).__name__

    def __getattr__(self, name):
        # readConnectionLost/writeConnectionLost (half-close), getPeerCertificate, etc.
        return getattr(self._wrappedProtocol, name)


class _WrappingFactory:
    """A client factory whose `_onConnection` Deferred fires with the protocol that
    `wrappedFactory.buildProtocol` built, once connected, or fails with the connection error;
    cancelling it stops the connection attempt."""

    def __init__(self, reactor, wrappedFactory):
        self._wrappedFactory = wrappedFactory
        self._connector = None
        self._onConnection = _api(reactor).Deferred(self._cancel)
        self._api = _api(reactor)

    def _cancel(self, d):
        if self._connector is not None:
            self._connector.stopConnecting()

    def doStart(self):
        self._wrappedFactory.doStart()

    def doStop(self):
        self._wrappedFactory.doStop()

    def startedConnecting(self, connector):
        self._connector = connector

    def buildProtocol(self, addr):
        try:
            proto = self._wrappedFactory.buildProtocol(addr)
            if proto is None:
                raise self._api.ConnectError(string="buildProtocol returned None for %r" % (addr,))
        except BaseException:
            self._fail(self._api.Failure())
            return None
        return _WrappingProtocol(self._onConnection, proto)

    def clientConnectionFailed(self, connector, reason):
        self._fail(reason)

    def clientConnectionLost(self, connector, reason):
        pass

    def _fail(self, reason):
        d = self._onConnection
        if not d.called:
            d.errback(reason)


class _ClientEndpoint:
    _connectMethod = None

    def connect(self, protocolFactory):
        """Connect with `protocolFactory`: a Deferred firing with its protocol once connected
        (after connectionMade), or failing with the reason (ConnectionRefusedError, ...)."""
        api = _api(self._reactor)
        try:
            wf = _WrappingFactory(self._reactor, protocolFactory)
            self._connect(wf)
            return wf._onConnection
        except BaseException:
            d = api.Deferred()
            d.errback(api.Failure())
            return d


class TCP4ClientEndpoint(_ClientEndpoint):
    """Connect over TCP to `host`:`port` with `timeout` and an optional `bindAddress`."""

    def __init__(self, reactor, host, port, timeout=30, bindAddress=None):
        self._reactor = reactor
        self._host = host
        self._port = port
        self._timeout = timeout
        self._bindAddress = bindAddress

    def _connect(self, wf):
        self._reactor.connectTCP(self._host, self._port, wf, timeout=self._timeout,
                                 bindAddress=self._bindAddress)

    def __repr__(self):
        return "<%s %s:%s>" % (type(self).__name__, self._host, self._port)


class TCP6ClientEndpoint(TCP4ClientEndpoint):
    """Connect over TCP to an IPv6 `host`:`port`."""


class UNIXClientEndpoint(_ClientEndpoint):
    """Connect to the UNIX socket at `path` (reactor.connectUNIX)."""

    def __init__(self, reactor, path, timeout=30, checkPID=0):
        self._reactor = reactor
        self._path = path
        self._timeout = timeout
        self._checkPID = checkPID

    def _connect(self, wf):
        _method(self._reactor, "connectUNIX", self)(self._path, wf, timeout=self._timeout,
                                                     checkPID=self._checkPID)


class SSL4ClientEndpoint(_ClientEndpoint):
    """Connect with TLS to `host`:`port` using `sslContextFactory` (reactor.connectSSL)."""

    def __init__(self, reactor, host, port, sslContextFactory, timeout=30, bindAddress=None):
        self._reactor = reactor
        self._host = host
        self._port = port
        self._sslContextFactory = sslContextFactory
        self._timeout = timeout
        self._bindAddress = bindAddress

    def _connect(self, wf):
        _method(self._reactor, "connectSSL", self)(
            self._host, self._port, wf, self._sslContextFactory, timeout=self._timeout,
            bindAddress=self._bindAddress)


class TLSClientEndpoint(SSL4ClientEndpoint):
    """`tls:` client: TLS to `host`:`port`, verifying the server's certificate for `host`
    (the context has `check_hostname` on; the reactor's connectSSL is told the host name)."""


# ---- the string syntax -----------------------------------------------------------------------

_OP, _STRING = range(2)


def _tokenize(description):
    """Yield (_STRING, text) and (_OP, ':' or '=') tokens; after '=' only ':' is an operator
    (so a value may contain '='), and a backslash takes the next character literally."""
    current = ""
    ops = ":="
    chars = iter(description)
    for c in chars:
        if c in ops:
            yield _STRING, current
            yield _OP, c
            current = ""
            ops = ":=" if c == ":" else ":"
        elif c == "\\":
            try:
                current += next(chars)
            except StopIteration:
                raise EndpointStringError(
                    "endpoint description %r ends with a lone backslash (escape a backslash as "
                    "'\\\\')" % (description,)) from None
        else:
            current += c
    yield _STRING, current


def _parse(description):
    """(args, kwargs) of a description: ':'-separated parts without '=' are positional,
    `name=value` parts are keywords (the last of a repeated name wins, as in Twisted)."""
    if isinstance(description, bytes):
        try:
            description = description.decode("utf-8")
        except UnicodeDecodeError as e:
            raise EndpointStringError("endpoint description is not UTF-8: %s" % (e,)) from None
    if not isinstance(description, str):
        raise TypeError("an endpoint description is a str, not %s" % (type(description).__name__,))
    args, kw = [], {}

    def add(sofar):
        if len(sofar) == 1:
            args.append(sofar[0])
        else:
            kw[sofar[0]] = sofar[1]

    sofar = ()
    for kind, value in _tokenize(description):
        if kind is _STRING:
            sofar += (value,)
        elif value == ":":
            add(sofar)
            sofar = ()
    add(sofar)
    return args, kw


def quoteStringArgument(argument):
    """`argument` escaped for use inside a description (backslashes and colons)."""
    return argument.replace("\\", "\\\\").replace(":", "\\:")


def _int(value, part, description, base=10):
    try:
        return int(value, base)
    except (TypeError, ValueError):
        raise EndpointStringError("%s must be %s in %r, not %r"
                                  % (part, "an octal number" if base == 8 else "an integer",
                                     description, value)) from None


def _port(value, part, description):
    port = _int(value, part, description)
    if not 0 <= port <= 65535:
        raise EndpointStringError("%s must be in 0..65535 in %r, not %d" % (part, description, port))
    return port


def _bool01(value, part, description):
    return bool(_int(value, part, description))


def _take(kind, description, args, kw, positional, keywords):
    """Match parts to names: `positional` names in order (each may also come as a keyword),
    `keywords` the other allowed names. Returns a dict; errors name the part."""
    values = {}
    if len(args) > len(positional):
        raise EndpointStringError(
            "%s endpoint %r: unexpected positional part %r (takes %s)"
            % (kind, description, args[len(positional)], ", ".join(positional) or "none"))
    for name, value in zip(positional, args):
        values[name] = value
    for name, value in kw.items():
        if name not in positional and name not in keywords:
            raise EndpointStringError(
                "%s endpoint %r: unknown parameter %r (known: %s)"
                % (kind, description, name, ", ".join(list(positional) + list(keywords))))
        if name in values:
            raise EndpointStringError("%s endpoint %r: %s given twice"
                                      % (kind, description, name))
        values[name] = value
    return values


def _require(kind, description, values, name):
    if name not in values or values[name] == "":
        raise EndpointStringError("%s endpoint %r: missing %s" % (kind, description, name))
    return values[name]


def _server_context(description, privateKey, certKey, extraCertChain, dhParameters, sslmethod):
    """An ssl.SSLContext for a server from PEM files (certKey defaults to privateKey, which
    then holds both, as in Twisted)."""
    if sslmethod is not None:
        raise EndpointStringError(
            "ssl endpoint %r: sslmethod=%s is not supported (the standard library's TLS "
            "negotiates the best version; drop sslmethod)" % (description, sslmethod))
    ctx = _stdlib_ssl.SSLContext(_stdlib_ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(certKey or privateKey, privateKey)
        if extraCertChain is not None:
            # The chain goes after the leaf: load leaf + chain as one certificate file.
            with open(certKey or privateKey, "rb") as leaf, open(extraCertChain, "rb") as chain:
                combined = leaf.read() + b"\n" + chain.read()
            if b"-----BEGIN CERTIFICATE-----" not in combined.split(b"-----END", 1)[1]:
                raise EndpointStringError(
                    "ssl endpoint %r: extraCertChain file %r holds no certificate in PEM format"
                    % (description, extraCertChain))
            import tempfile
            with tempfile.NamedTemporaryFile(suffix=".pem") as tmp:
                tmp.write(combined)
                tmp.flush()
                ctx.load_cert_chain(tmp.name, privateKey)
        if dhParameters is not None:
            ctx.load_dh_params(dhParameters)
    except (OSError, _stdlib_ssl.SSLError) as e:
        raise EndpointStringError("ssl endpoint %r: cannot load the key/certificate "
                                  "(privateKey=%s certKey=%s): %s"
                                  % (description, privateKey, certKey or privateKey, e)) from None
    return ctx


def _client_context(description, kind, hostname, certificate, privateKey, trustRoots):
    ctx = _stdlib_ssl.SSLContext(_stdlib_ssl.PROTOCOL_TLS_CLIENT)
    try:
        if trustRoots is None:
            ctx.load_default_certs()
        elif os.path.isdir(trustRoots):
            ctx.load_verify_locations(capath=trustRoots)
            for name in sorted(os.listdir(trustRoots)):
                if name.endswith(".pem"):
                    ctx.load_verify_locations(cafile=os.path.join(trustRoots, name))
        else:
            ctx.load_verify_locations(cafile=trustRoots)
        if certificate is not None or privateKey is not None:
            ctx.load_cert_chain(certificate or privateKey, privateKey)
    except (OSError, _stdlib_ssl.SSLError) as e:
        raise EndpointStringError("%s endpoint %r: cannot load certificates: %s"
                                  % (kind, description, e)) from None
    if hostname is None:
        ctx.check_hostname = False
    return ctx


def _server_tcp(reactor, description, args, kw, cls, default_interface):
    # Positional order is Twisted's parser signature: tcp:PORT:INTERFACE:BACKLOG.
    v = _take("tcp", description, args, kw, ["port", "interface", "backlog"], [])
    port = _port(_require("tcp", description, v, "port"), "port", description)
    backlog = _int(v.get("backlog", "50"), "backlog", description)
    return cls(reactor, port, backlog, v.get("interface", default_interface))


def _server_unix(reactor, description, args, kw):
    v = _take("unix", description, args, kw, ["address", "mode", "backlog", "lockfile"], [])
    address = _require("unix", description, v, "address")
    return UNIXServerEndpoint(reactor, address,
                              backlog=_int(v.get("backlog", "50"), "backlog", description),
                              mode=_int(v.get("mode", "666"), "mode", description, base=8),
                              wantPID=_bool01(v.get("lockfile", "1"), "lockfile", description))


def _twisted_face(reactor):
    """True for a reactor of the Twisted face (its Deferreds are Twisted's), whose listenSSL/
    connectSSL take Twisted's (pyOpenSSL) context factories rather than an ssl.SSLContext."""
    api = getattr(reactor, "_api", None)
    return api is not None and getattr(api.Deferred, "__module__", "").startswith("twisted.")


def _server_ssl(reactor, description, args, kw):
    if _twisted_face(reactor):
        # Twisted's own parser builds the CertificateOptions its listenSSL takes.
        from twisted.internet.endpoints import serverFromString as twistedServerFromString
        return twistedServerFromString(reactor, description)
    v = _take("ssl", description, args, kw,
              ["port", "privateKey", "certKey", "sslmethod", "interface", "backlog",
               "extraCertChain", "dhParameters"], [])
    port = _port(_require("ssl", description, v, "port"), "port", description)
    backlog = _int(v.get("backlog", "50"), "backlog", description)
    ctx = _server_context(description, v.get("privateKey", "server.pem"), v.get("certKey"),
                          v.get("extraCertChain"), v.get("dhParameters"), v.get("sslmethod"))
    return SSL4ServerEndpoint(reactor, port, ctx, backlog, v.get("interface", ""))


_SERVER_TYPES = {
    "tcp": lambda r, d, a, k: _server_tcp(r, d, a, k, TCP4ServerEndpoint, ""),
    "tcp6": lambda r, d, a, k: _server_tcp(r, d, a, k, TCP6ServerEndpoint, "::"),
    "unix": _server_unix,
    "ssl": _server_ssl,
}


def serverFromString(reactor, description):
    """A server endpoint on `reactor` from a description such as "tcp:8000:interface=127.0.0.1",
    "unix:/run/app.sock:mode=660:lockfile=1" or "ssl:8443:privateKey=key.pem:certKey=cert.pem"
    (see the module docstring). EndpointStringError naming the part if it does not parse."""
    args, kw = _parse(description)
    kind = args[0] if args else ""     # case-sensitive, as Twisted's server types are
    if not kind:
        raise EndpointStringError("endpoint description %r has no type (start it with one of %s)"
                                  % (description, ", ".join(t + ":" for t in _SERVER_TYPES)))
    if kind not in _SERVER_TYPES:
        raise EndpointStringError("unknown server endpoint type %r in %r (known: %s)"
                                  % (args[0], description, ", ".join(_SERVER_TYPES)))
    return _SERVER_TYPES[kind](reactor, description, args[1:], kw)


def _client_tcp_values(kind, description, args, kw, extra):
    if len(args) == 1 and "host" in kw:
        # "tcp:host=h:80": Twisted takes the lone positional part as the port.
        v = _take(kind, description, args, kw, ["port"], ["host", "timeout", "bindAddress"] + extra)
    else:
        v = _take(kind, description, args, kw, ["host", "port"],
                  ["timeout", "bindAddress"] + extra)
    host = _require(kind, description, v, "host")
    port = _port(_require(kind, description, v, "port"), "port", description)
    timeout = _int(v.get("timeout", "30"), "timeout", description)
    bindAddress = (v["bindAddress"], 0) if "bindAddress" in v else None
    return v, host, port, timeout, bindAddress


def _client_tcp(reactor, description, args, kw):
    v, host, port, timeout, bindAddress = _client_tcp_values("tcp", description, args, kw, [])
    return TCP4ClientEndpoint(reactor, host, port, timeout, bindAddress)


def _client_unix(reactor, description, args, kw):
    v = _take("unix", description, args, kw, ["path"], ["timeout", "lockfile"])
    path = _require("unix", description, v, "path")
    return UNIXClientEndpoint(reactor, path,
                              timeout=_int(v.get("timeout", "30"), "timeout", description),
                              checkPID=_bool01(v.get("lockfile", "0"), "lockfile", description))


def _client_ssl(reactor, description, args, kw):
    if _twisted_face(reactor):
        from twisted.internet.endpoints import clientFromString as twistedClientFromString
        return twistedClientFromString(reactor, description)
    v, host, port, timeout, bindAddress = _client_tcp_values(
        "ssl", description, args, kw, ["certKey", "privateKey", "caCertsDir", "hostname"])
    ctx = _client_context(description, "ssl", v.get("hostname"), v.get("certKey"),
                          v.get("privateKey"), v.get("caCertsDir"))
    return SSL4ClientEndpoint(reactor, host, port, ctx, timeout, bindAddress)


def _client_tls(reactor, description, args, kw):
    if _twisted_face(reactor):
        from twisted.internet.endpoints import clientFromString as twistedClientFromString
        return twistedClientFromString(reactor, description)
    v, host, port, timeout, bindAddress = _client_tcp_values(
        "tls", description, args, kw, ["certificate", "privateKey", "trustRoots"])
    ctx = _client_context(description, "tls", host, v.get("certificate"), v.get("privateKey"),
                          v.get("trustRoots"))
    endpoint = TLSClientEndpoint(reactor, host, port, ctx, timeout, bindAddress)
    endpoint._hostname = host
    return endpoint


_CLIENT_TYPES = {
    "tcp": _client_tcp,
    "unix": _client_unix,
    "ssl": _client_ssl,
    "tls": _client_tls,
}


def clientFromString(reactor, description):
    """A client endpoint on `reactor` from a description such as "tcp:host=example.com:port=80",
    "tcp:example.com:80", "unix:path=/run/app.sock" or "tls:example.com:443" (see the module
    docstring). EndpointStringError naming the part if it does not parse."""
    args, kw = _parse(description)
    kind = args[0].lower() if args else ""
    if not kind:
        raise EndpointStringError("endpoint description %r has no type (start it with one of %s)"
                                  % (description, ", ".join(t + ":" for t in _CLIENT_TYPES)))
    if kind not in _CLIENT_TYPES:
        raise EndpointStringError("unknown client endpoint type %r in %r (known: %s)"
                                  % (args[0], description, ", ".join(_CLIENT_TYPES)))
    return _CLIENT_TYPES[kind](reactor, description, args[1:], kw)


def connectProtocol(endpoint, protocol):
    """Connect `endpoint` with a factory that returns `protocol` itself; a Deferred firing with
    it once connected."""
    from fastreactor.protocol import Factory

    class OneShotFactory(Factory):
        def buildProtocol(self, addr):
            return protocol

    return endpoint.connect(OneShotFactory())

