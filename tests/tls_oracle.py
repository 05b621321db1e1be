"""Twisted's TLS as the oracle of the TLS differential tests: an EPollReactor whose TLS layer
schedules on it, and Twisted's contexts (`CertificateOptions`) made from the test certificates
of tls_certs.py. Importing it skips the importing module where Twisted's TLS cannot run."""
import pytest

pytest.importorskip("cryptography", reason="test certificates are made with the cryptography package")
pytest.importorskip("OpenSSL", reason="Twisted's TLS (the oracle) needs pyOpenSSL (the test extra, twisted[tls])")
pytest.importorskip("service_identity", reason="Twisted's optionsForClientTLS needs service_identity")

from twisted.internet import epollreactor  # noqa: E402
from twisted.internet import ssl as twisted_ssl  # noqa: E402
from twisted.protocols import tls as twisted_tls  # noqa: E402


def read_pem(path):
    """The bytes of the PEM file at `path`."""
    with open(path, "rb") as f:
        return f.read()


def use_reactor_for_tls(reactor):
    """Point Twisted's TLSMemoryBIOProtocol at `reactor`: it batches small writes with
    callLater(0) on the global reactor (`_get_default_clock`, patched by Twisted's own tests too),
    which is not the one a differential test runs. Returns `reactor`."""
    twisted_tls._get_default_clock = lambda: reactor
    return reactor


def epoll_reactor():
    """A new Twisted EPollReactor, with Twisted's TLS scheduling on it."""
    return use_reactor_for_tls(epollreactor.EPollReactor())


def server_options(certs, which="server"):
    """Twisted server options for the certificate and key `certs.<which>` (a (cert, key) pair)."""
    cert, key = getattr(certs, which)
    return twisted_ssl.PrivateCertificate.loadPEM(read_pem(cert) + read_pem(key)).options()


def client_options(certs, host="localhost", **kwargs):
    """`optionsForClientTLS(host, ...)` trusting the test CA; `kwargs` go to it as they are
    (`acceptableProtocols`, for one)."""
    ca = twisted_ssl.Certificate.loadPEM(read_pem(certs.ca))
    return twisted_ssl.optionsForClientTLS(host, trustRoot=ca, **kwargs)
