"""TLS contexts for listenSSL, connectSSL and startTLS, secure by default.

`serverContext` loads a certificate chain and its key; `clientContext` verifies the server's
certificate chain (against the system's CAs, or the ones given) and its host name, unless told
not to. Both refuse renegotiation and anything older than TLS 1.2, and take an optional list of
ALPN protocols (the agreed one is `transport.negotiatedProtocol`).
"""
import ssl

__all__ = ["serverContext", "clientContext"]


def _common(context, alpn, minimumVersion):
    context.minimum_version = minimumVersion
    context.options |= ssl.OP_NO_RENEGOTIATION
    if alpn:
        context.set_alpn_protocols([p.decode("ascii") if isinstance(p, bytes) else p for p in alpn])
    return context


def serverContext(certificate, privateKey=None, *, password=None, alpn=None, clientCA=None,
                  requireClientCertificate=False, minimumVersion=ssl.TLSVersion.TLSv1_2):
    """An ssl.SSLContext for a TLS server: `certificate` is a PEM file with the certificate
    (and its chain), `privateKey` the key's PEM file (None: it is in `certificate`), `password`
    the key's password if it is encrypted. `clientCA` (a PEM file of CAs) asks clients for a
    certificate and verifies it; `requireClientCertificate` makes one mandatory. Raises the
    ssl module's errors (OSError, ssl.SSLError) for unreadable or mismatched files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, privateKey, password)
    if clientCA is not None:
        context.load_verify_locations(cafile=clientCA)
        context.verify_mode = ssl.CERT_REQUIRED if requireClientCertificate else ssl.CERT_OPTIONAL
    elif requireClientCertificate:
        raise ValueError("requireClientCertificate needs clientCA (the CAs to verify it with)")
    return _common(context, alpn, minimumVersion)


def clientContext(cafile=None, *, cadata=None, verify=True, alpn=None, certificate=None,
                  privateKey=None, password=None, minimumVersion=ssl.TLSVersion.TLSv1_2):
    """An ssl.SSLContext for a TLS client that verifies the server's certificate chain (against
    `cafile`/`cadata` if given, else the system's CAs) and that it is for the host name given to
    connectSSL (or startTLS's serverHostname). `verify=False` turns both checks off: only for
    tests or peers authenticated otherwise. `certificate`/`privateKey` present a client
    certificate."""
    context = ssl.create_default_context(cafile=cafile, cadata=cadata)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        context.load_cert_chain(certificate, privateKey, password)
    return _common(context, alpn, minimumVersion)
