"""Fixtures of the fault tests (see faultnet.py): each test that takes `link` gets two fresh
network namespaces joined by a veth pair, removed afterwards however the test ended."""
import os
import sys

import pytest

# Appended, not put first: `from conftest import ...` in tests/ must keep finding tests/conftest.py.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))

from faultnet import Link, Local, namespaces_unavailable, remove_stale_namespaces  # noqa: E402


@pytest.fixture(scope="session")
def _netns_session():
    why = namespaces_unavailable()
    if why:
        pytest.skip(why)
    remove_stale_namespaces()


@pytest.fixture
def link(_netns_session):
    """A fresh `Link` (two namespaces and a veth pair), removed after the test however it ends."""
    made = Link()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    """`CERT:KEY` of a self-signed test certificate, for peers run over TLS (FAULTS_TLS)."""
    pytest.importorskip("OpenSSL", reason="pyOpenSSL (the test extra, twisted[tls]) runs TLS peers")
    from faultnet import make_certificate
    return make_certificate(str(tmp_path_factory.mktemp("faults-tls")))


@pytest.fixture
def local():
    """A fresh `Local` (peers on this host, UNIX sockets in a private directory), cleaned up
    after the test however it ends. Needs neither root nor namespaces."""
    made = Local()
    try:
        yield made
    finally:
        made.close()
