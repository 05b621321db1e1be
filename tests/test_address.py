"""
fastreactor.address against twisted.internet.address: same reprs, same
equality; plus immutability, hashing and pickling.
"""

import copy
import os
import pickle

import pytest

from fastreactor import address

taddress = pytest.importorskip("twisted.internet.address")

CASES = [
    ("IPv4Address", ("TCP", "127.0.0.1", 8080)),
    ("IPv4Address", ("UDP", "10.0.0.1", 0)),
    ("IPv6Address", ("TCP", "::1", 80)),
    ("IPv6Address", ("UDP", "fe80::1", 5353, 7, 2)),
    ("IPv6Address", ("TCP", "fe80::1", 1, 0, "eth0")),
    ("HostnameAddress", (b"example.com", 443)),
    ("UNIXAddress", ("/tmp/some.sock",)),
    ("UNIXAddress", (b"/tmp/bytes.sock",)),
    ("UNIXAddress", (b"\0abstract",)),
    ("UNIXAddress", (None,)),
]


@pytest.mark.parametrize("name,args", CASES)
def test_repr_matches_twisted(name, args):
    ours = getattr(address, name)(*args)
    theirs = getattr(taddress, name)(*args)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name,args", CASES)
def test_fields_match_twisted(name, args):
    ours = getattr(address, name)(*args)
    theirs = getattr(taddress, name)(*args)
    for field in ("type", "host", "port", "flowInfo", "scopeID", "hostname", "name"):
        assert getattr(ours, field, "absent") == getattr(theirs, field, "absent"), field


def test_repr_exact():
    assert repr(address.IPv4Address("TCP", "127.0.0.1", 8080)) == \
        "IPv4Address(type='TCP', host='127.0.0.1', port=8080)"
    assert repr(address.IPv6Address("TCP", "::1", 8080)) == \
        "IPv6Address(type='TCP', host='::1', port=8080, flowInfo=0, scopeID=0)"


@pytest.mark.parametrize("cls", ["IPv4Address", "IPv6Address"])
@pytest.mark.parametrize("bad", ["tcp", "SCTP", None, b"TCP"])
def test_bad_type(cls, bad):
    with pytest.raises(ValueError):
        getattr(taddress, cls)(bad, "h", 1)
    with pytest.raises(ValueError):
        getattr(address, cls)(bad, "h", 1)


PAIRS = [
    (("IPv4Address", "TCP", "1.2.3.4", 1), ("IPv4Address", "TCP", "1.2.3.4", 1)),
    (("IPv4Address", "TCP", "1.2.3.4", 1), ("IPv4Address", "TCP", "1.2.3.4", 2)),
    (("IPv4Address", "TCP", "1.2.3.4", 1), ("IPv4Address", "UDP", "1.2.3.4", 1)),
    (("IPv4Address", "TCP", "1.2.3.4", 1), ("IPv6Address", "TCP", "1.2.3.4", 1)),
    (("IPv6Address", "TCP", "::1", 1), ("IPv6Address", "TCP", "::1", 1, 0, 0)),
    (("IPv6Address", "TCP", "::1", 1), ("IPv6Address", "TCP", "::1", 1, 3)),
    (("HostnameAddress", b"a", 1), ("HostnameAddress", b"a", 1)),
    (("HostnameAddress", b"a", 1), ("HostnameAddress", b"b", 1)),
    (("UNIXAddress", "/x"), ("UNIXAddress", b"/x")),
    (("UNIXAddress", "/x"), ("UNIXAddress", "/y")),
    (("UNIXAddress", None), ("UNIXAddress", None)),
]


@pytest.mark.parametrize("a,b", PAIRS)
def test_equality_matches_twisted(a, b):
    def make(module, spec):
        return getattr(module, spec[0])(*spec[1:])

    ours = (make(address, a), make(address, b))
    theirs = (make(taddress, a), make(taddress, b))
    assert (ours[0] == ours[1]) == (theirs[0] == theirs[1])
    assert (ours[0] != ours[1]) == (theirs[0] != theirs[1])
    if ours[0] == ours[1]:
        assert hash(ours[0]) == hash(ours[1])


def test_not_equal_to_tuples_or_twisted():
    a = address.IPv4Address("TCP", "1.2.3.4", 5)
    assert a != ("TCP", "1.2.3.4", 5)
    assert a != taddress.IPv4Address("TCP", "1.2.3.4", 5)


def test_ordering_like_twisted():
    specs = [("TCP", "1.2.3.4", 9), ("TCP", "1.2.3.4", 1), ("TCP", "0.0.0.0", 5), ("UDP", "0", 0)]
    ours = sorted(address.IPv4Address(*s) for s in specs)
    theirs = sorted(taddress.IPv4Address(*s) for s in specs)
    assert [repr(x) for x in ours] == [repr(x) for x in theirs]
    with pytest.raises(TypeError):
        address.IPv4Address("TCP", "a", 1) < address.IPv6Address("TCP", "a", 1)


def test_unix_same_file(tmp_path):
    target = tmp_path / "sock"
    target.write_text("")
    link = tmp_path / "link"
    os.symlink(target, link)
    a, b = address.UNIXAddress(str(target)), address.UNIXAddress(str(link))
    assert a == b
    assert hash(a) == hash(b)
    assert (taddress.UNIXAddress(str(target)) == taddress.UNIXAddress(str(link))) is True


def test_immutable_and_slotted():
    for addr in (address.IPv4Address("TCP", "h", 1), address.IPv6Address("TCP", "h", 1),
                 address.HostnameAddress(b"h", 1), address.UNIXAddress("/x")):
        with pytest.raises(AttributeError):
            addr.port = 2
        with pytest.raises(AttributeError):
            addr.extra = 1
        assert not hasattr(addr, "__dict__")


@pytest.mark.parametrize("name,args", CASES)
def test_pickle_and_copy(name, args):
    a = getattr(address, name)(*args)
    for b in (pickle.loads(pickle.dumps(a)), copy.copy(a), copy.deepcopy(a)):
        assert b == a and repr(b) == repr(a) and type(b) is type(a)


def test_usable_as_dict_keys():
    seen = {address.IPv4Address("TCP", "127.0.0.1", 1): "x"}
    assert seen[address.IPv4Address("TCP", "127.0.0.1", 1)] == "x"


def test_docstrings():
    for name in address.__all__:
        assert getattr(address, name).__doc__
