"""Multicast (listenMulticast), run inside a network namespace this module makes, so that no
multicast or IGMP/MLD packet ever reaches the host's interfaces: the host's `lo` has no MULTICAST
flag and its default route is a real interface.

In the namespace: `lo` is up with MULTICAST on and 224.0.0.0/4 routed to it; IPv6 multicast does
not loop back on `lo`, so a veth pair whose two ends both stay in the namespace carries ff00::/8.
Each test runs a child Python in the namespace (`ip netns exec`) and checks what it reports.
"""
import itertools
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

_names = itertools.count()


def _ip(*args, netns=None):
    argv = ["ip"] + (["netns", "exec", netns, "ip"] if netns else []) + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def netns():
    """The name of a fresh network namespace with multicast routed as described above."""
    name = "frudp-%d-%d" % (os.getpid(), next(_names))
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        pytest.skip("cannot create a network namespace (ip netns add: %s); multicast is only "
                    "tested inside one, never on the host's interfaces" % (made.stderr.strip(),))
    try:
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"],
                       capture_output=True, timeout=30)
        for args in (("link", "set", "lo", "multicast", "on"), ("link", "set", "lo", "up"),
                     ("route", "add", "224.0.0.0/4", "dev", "lo"),
                     ("link", "add", "frv0", "type", "veth", "peer", "name", "frv1"),
                     ("link", "set", "frv0", "up"), ("link", "set", "frv1", "up"),
                     ("-6", "route", "add", "ff00::/8", "dev", "frv0", "table", "local", "metric", "1")):
            result = _ip(*args, netns=name)
            if result.returncode != 0:
                pytest.skip("cannot set up the namespace (ip %s: %s)" % (" ".join(args), result.stderr.strip()))
        # IPv6 cannot send from a link-local address still in duplicate address detection
        # (EADDRNOTAVAIL): wait until none is tentative.
        deadline = time.monotonic() + 10
        while _ip("-6", "addr", "show", "tentative", netns=name).stdout.strip():
            if time.monotonic() > deadline:
                pytest.skip("the namespace's IPv6 addresses stay tentative")
            time.sleep(0.1)
        links = _ip("-o", "link", netns=name).stdout
        assert sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines()) == \
            ["frv0", "frv1", "lo"], links
        yield name
    finally:
        _ip("netns", "del", name)


def run_in(netns, argv, tmp_path, timeout=120):
    """Run `argv` in the namespace from a directory outside the source tree (so the child
    imports the installed fastreactor)."""
    return subprocess.run(["ip", "netns", "exec", netns] + argv, capture_output=True, text=True,
                          timeout=timeout, cwd=str(tmp_path))


NATIVE_SCENARIO = textwrap.dedent("""
    import json, socket, sys
    import fastreactor
    from fastreactor import error
    from fastreactor.protocol import DatagramProtocol

    family, group, poller = sys.argv[1], sys.argv[2], sys.argv[3]
    interface = "::" if family == "6" else ""
    r = fastreactor.Reactor(poller)
    out = {}

    class Member(DatagramProtocol):
        noisy = False
        def __init__(self, name):
            self.name = name
        def datagramReceived(self, data, addr):
            out.setdefault(self.name, []).append(data.decode())

    a = r.listenMulticast(0, Member("a"), interface=interface, listenMultiple=True)
    number = a.getHost().port
    b = r.listenMulticast(number, Member("b"), interface=interface, listenMultiple=True)
    sender = r.listenMulticast(0, Member("sender"), interface=interface)
    out["ttl"] = sender.getTTL()
    sender.setTTL(1 if family == "4" else 2)
    out["ttl after"] = sender.getTTL()
    out["loopback"] = sender.getLoopbackMode()
    sender.setLoopbackMode(0)
    out["loopback after"] = sender.getLoopbackMode()
    sender.setLoopbackMode(1)
    if family == "4":
        sender.setOutgoingInterface("127.0.0.1")
        out["outgoing"] = sender.getOutgoingInterface()

    def fail(f):
        out["error"] = repr(f.value)
        r.stop()

    def step1(_):
        sender.write(b"both", (group, number))
        r.callLater(0.3, step2)

    def step2():
        # Linux delivers a group's datagrams to every socket bound to the port once any socket
        # joined it (IP_MULTICAST_ALL), so leaving shows only when both have left.
        gatherResults([a.leaveGroup(group), b.leaveGroup(group)]).addCallbacks(step3, fail)

    def step3(_):
        sender.write(b"after leaving", (group, number))
        r.callLater(0.3, step4)

    def step4():
        bad = a.joinGroup("127.0.0.1" if family == "6" else "::1")
        bad.addCallbacks(lambda _: out.update(bad="joined?"),
                         lambda f: out.update(bad=type(f.value).__name__))
        r.stop()

    from fastreactor.defer import gatherResults
    gatherResults([a.joinGroup(group), b.joinGroup(group)]).addCallbacks(step1, fail)
    r.callLater(10, r.stop)
    r.run(installSignalHandlers=False)
    print(json.dumps(out))
""")


@pytest.mark.parametrize("family,group", [("4", "228.0.0.7"), ("6", "ff03::7")])
def test_native_group_membership(netns, tmp_path, poller, family, group):
    script = tmp_path / "scenario.py"
    script.write_text(NATIVE_SCENARIO)
    result = run_in(netns, [sys.executable, str(script), family, group, poller], tmp_path, 60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in out, out
    assert out["a"] == ["both"] and out["b"] == ["both"], out
    assert out["ttl after"] == (1 if family == "4" else 2)
    assert out["loopback"] is True and out["loopback after"] is False
    assert out["bad"] == "MulticastJoinError"
    if family == "4":
        assert out["outgoing"] == "127.0.0.1"


TWISTED_SUITES = ["twisted.test.test_udp"]     # the whole module, its multicast tests included


def test_twisted_multicast_suites_pass_in_the_namespace(netns, tmp_path):
    """`trial --reactor=fastreactor twisted.test.test_udp`, run in the namespace because of its
    multicast tests (the conformance module leaves those out for this reason). On Twisted's epoll reactor they pass here too, except that
    MulticastTests.test_loopback fails now and then there (it says itself that it is a recipe for a
    flaky test), so that run is not part of this test."""
    pytest.importorskip("twisted")
    result = run_in(netns, [sys.executable, "-m", "twisted.trial", "--temp-directory",
                            str(tmp_path / "_trial_temp"), "--reactor=fastreactor"]
                    + TWISTED_SUITES, tmp_path, 300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "PASSED" in result.stdout
    assert "successes=26" in result.stdout, result.stdout[-500:]     # and 1 skip (IPv6 TTL)
