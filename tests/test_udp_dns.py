"""A real program on the datagram transport: a twisted.names DNS server running on FastReactor
(UDP and TCP) answers a twisted.names client that runs on Twisted's own epoll reactor in another
process."""
import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("twisted.names")

from twisted.internet.error import CannotListenError  # noqa: E402
from twisted.names import dns, hosts, server  # noqa: E402

from fastreactor.twisted import FastReactor  # noqa: E402

CLIENT = textwrap.dedent("""
    import json, sys
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import defer, reactor
    from twisted.names import client, dns, error

    port = int(sys.argv[1])
    resolver = client.Resolver(servers=[("127.0.0.1", port)], reactor=reactor)
    out = {}

    def answers(result):
        return sorted(record.payload.dottedQuad() for record in result[0]
                      if record.type == dns.A)

    @defer.inlineCallbacks
    def main():
        try:
            out["udp"] = answers((yield resolver.lookupAddress("www.example.test")))
            message = yield resolver.queryTCP([dns.Query("mail.example.test", dns.A)])
            out["tcp"] = sorted(a.payload.dottedQuad() for a in message.answers)
            try:
                yield resolver.lookupAddress("missing.example.test")
                out["missing"] = "answered"
            except error.DNSNameError:
                out["missing"] = "NXDOMAIN"
            except Exception as e:
                out["missing"] = repr(e)
        except Exception as e:
            out["error"] = repr(e)
        reactor.stop()

    reactor.callWhenRunning(main)
    reactor.callLater(20, reactor.stop)
    reactor.run()
    print(json.dumps(out))
""")


def test_twisted_names_server_on_fastreactor_answers_over_udp_and_tcp(tmp_path, poller):
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("192.0.2.1 www.example.test\n192.0.2.25 mail.example.test\n")
    reactor = FastReactor(poller)
    factory = server.DNSServerFactory(authorities=[hosts.Resolver(file=str(hosts_file))])
    factory.noisy = False
    # One port number for both, as a DNS server has: retry while the TCP one is taken.
    for attempt in range(50):
        udp = reactor.listenUDP(0, dns.DNSDatagramProtocol(controller=factory), interface="127.0.0.1")
        port = udp.getHost().port
        try:
            tcp = reactor.listenTCP(port, factory, interface="127.0.0.1")
            break
        except CannotListenError:
            udp.stopListening()
    else:
        pytest.fail("no port number free for both UDP and TCP")
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    result = {}

    def run_client():
        try:
            result["process"] = subprocess.run([sys.executable, str(script), str(port)],
                                               capture_output=True, text=True, timeout=60,
                                               cwd=str(tmp_path))
        finally:
            reactor.callFromThread(reactor.stop)

    reactor.callWhenRunning(reactor.callInThread, run_client)
    reactor.run(installSignalHandlers=False)
    reactor.close()
    process = result["process"]
    assert process.returncode == 0, process.stderr
    out = json.loads(process.stdout.strip().splitlines()[-1])
    assert out == {"udp": ["192.0.2.1"], "tcp": ["192.0.2.25"], "missing": "NXDOMAIN"}, out
    assert not udp.connected and tcp.disconnected     # closed at shutdown


SERVER = textwrap.dedent("""
    import sys
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError
    from twisted.names import dns, hosts, server

    factory = server.DNSServerFactory(authorities=[hosts.Resolver(file=sys.argv[1])])
    factory.noisy = False
    for attempt in range(50):
        udp = reactor.listenUDP(0, dns.DNSDatagramProtocol(controller=factory), interface="127.0.0.1")
        try:
            reactor.listenTCP(udp.getHost().port, factory, interface="127.0.0.1")
            break
        except CannotListenError:
            udp.stopListening()
    print("PORT %d" % udp.getHost().port, flush=True)
    reactor.callLater(60, reactor.stop)
    reactor.run()
""")


def test_twisted_names_client_on_fastreactor_queries_a_server_over_udp_and_tcp(tmp_path, poller):
    """The other way round: the resolver (a new UDP port per query) runs on FastReactor; the
    server on Twisted's epoll reactor in another process."""
    from twisted.names import client, error as dns_error

    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("192.0.2.7 ns.example.test\n")
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    process = subprocess.Popen([sys.executable, str(script), str(hosts_file)], stdout=subprocess.PIPE,
                               text=True, cwd=str(tmp_path))
    try:
        port = int(process.stdout.readline().split()[1])
        reactor = FastReactor(poller)
        resolver = client.Resolver(servers=[("127.0.0.1", port)], reactor=reactor)
        out = {}

        def finish(_):
            reactor.stop()

        def record(key):
            return lambda value: out.__setitem__(key, value)

        d1 = resolver.lookupAddress("ns.example.test").addCallback(
            lambda result: [r.payload.dottedQuad() for r in result[0]]).addBoth(record("udp"))
        d2 = resolver.queryTCP([dns.Query("ns.example.test", dns.A)]).addCallback(
            lambda message: [a.payload.dottedQuad() for a in message.answers]).addBoth(record("tcp"))
        d3 = resolver.lookupAddress("nothing.example.test").addErrback(
            lambda f: f.trap(dns_error.DNSNameError) and "NXDOMAIN").addBoth(record("missing"))
        from twisted.internet.defer import DeferredList
        DeferredList([d1, d2, d3]).addCallback(finish)
        reactor.callLater(20, reactor.stop)
        reactor.run(installSignalHandlers=False)
        reactor.close()
    finally:
        process.kill()
        process.wait()
    assert out == {"udp": ["192.0.2.7"], "tcp": ["192.0.2.7"], "missing": "NXDOMAIN"}, out
