"""The pieces of `fastreactor serve` below the processes: loop statistics from a real reactor,
their Prometheus text (plain and through prometheus_client), the report channel's framing, the
target loader, and the listening sockets."""
import socket
import sys

import pytest

import fastreactor
from fastreactor import protocol
from fastreactor._serve import channel, listeners, metrics, worker

PER_WORKER = {
    0: {"iterations": 10, "poll_seconds": 0.5, "longest_callback_seconds": 0.01,
        "connections_open": 2, "timers_pending": 1},
    1: {"iterations": 5, "poll_seconds": 0.25, "longest_callback_seconds": 0.03,
        "connections_open": 0, "timers_pending": 0},
}


def test_aggregate_sums_but_takes_the_longest_callback_max():
    total = metrics.aggregate(PER_WORKER)
    assert total["iterations"] == 15 and total["connections_open"] == 2
    assert total["poll_seconds"] == 0.75
    assert total["longest_callback_seconds"] == 0.03


def test_plain_text_parses_as_prometheus_exposition():
    parser = pytest.importorskip("prometheus_client.parser",
                                 reason="prometheus_client (optional) checks the format")
    text = metrics.render_plain(PER_WORKER, {"workers": 2, "restarts": 1}).decode()
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    iterations = families["fastreactor_loop_iterations"]
    assert iterations.type == "counter"
    values = {s.labels.get("worker"): s.value for s in iterations.samples}
    assert values == {"0": 10, "1": 5}
    assert families["fastreactor_all_loop_iterations"].samples[0].value == 15
    assert families["fastreactor_all_connections_open"].samples[0].value == 2
    assert families["fastreactor_workers"].samples[0].value == 2


def test_plain_text_without_prometheus_client():
    text = metrics.render_plain(PER_WORKER, {"workers": 2, "restarts": 0}).decode()
    assert '# TYPE fastreactor_loop_iterations_total counter' in text
    assert 'fastreactor_loop_iterations_total{worker="0"} 10' in text
    assert 'fastreactor_all_loop_poll_seconds_total 0.75' in text
    assert 'fastreactor_all_loop_longest_callback_seconds 0.03' in text
    # A key no worker reported is absent, not zero.
    assert "bytes_total" not in text


def test_prometheus_client_rendering_matches_the_plain_one():
    pytest.importorskip("prometheus_client", reason="optional dependency")
    from prometheus_client.parser import text_string_to_metric_families

    def samples(text):
        return sorted((s.name, tuple(sorted(s.labels.items())), s.value)
                      for f in text_string_to_metric_families(text) for s in f.samples
                      if not s.name.endswith("_created"))

    ours = metrics.render_plain(PER_WORKER, {"workers": 2, "restarts": 3}).decode()
    theirs = metrics.render_prometheus_client(PER_WORKER, {"workers": 2, "restarts": 3}).decode()
    assert samples(ours) == samples(theirs)
    assert metrics.render(PER_WORKER, {}) == metrics.render_prometheus_client(PER_WORKER, {})


def test_collect_on_a_real_reactor(reactor, spin):
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(protocol.Protocol),
                             interface="127.0.0.1")
    reactor.callLater(60, lambda: None)
    clients = [socket.create_connection(("127.0.0.1", port.getHost().port)) for _ in range(3)]
    spin(reactor, lambda: metrics.collect(reactor)["connections_open"] == 3)
    stats = metrics.collect(reactor)
    assert stats["timers_pending"] >= 1
    assert stats["descriptors_watched"] >= 4          # the port and three connections
    for c in clients:
        c.close()
    spin(reactor, lambda: metrics.collect(reactor)["connections_open"] == 0)
    assert set(stats) <= set(metrics.STATS_KEYS)


def test_line_reader_framing():
    reader = channel.LineReader()
    assert reader.feed(b'{"type": "rea') == []
    assert reader.feed(b'dy"}\n{"type":"stats","stats":{}}\nnot json\n[1]\n{"a"') == [
        {"type": "ready"}, {"type": "stats", "stats": {}}]
    assert reader.feed(b": 1}\n") == [{"a": 1}]
    assert channel.encode({"type": "x"}) == b'{"type":"x"}\n'


def test_worker_channel_reports_and_notices_the_supervisor_leaving(reactor, spin):
    ours, theirs = socket.socketpair()
    lost = []
    ch = channel.WorkerChannel(theirs.detach(), reactor, lambda: lost.append(True))
    reactor.addReader(ch)
    ch.send({"type": "ready"})
    assert ours.recv(100) == b'{"type":"ready"}\n'
    ours.close()
    spin(reactor, lambda: lost)
    ch.send({"type": "stats"})                        # ignored once lost, no error
    assert lost == [True] and ch not in reactor.getReaders()
    ch.connectionLost(None)


def test_load_target_kinds(tmp_path, monkeypatch):
    (tmp_path / "targets_mod.py").write_text(
        "from fastreactor import protocol, service\n"
        "factory = protocol.Factory()\n"
        "svc = service.MultiService()\n"
        "def make():\n    return protocol.Factory()\n"
        "class F(protocol.Factory):\n    pass\n"
        "class Holder:\n    inner = protocol.Factory()\n"
        "def bad():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert worker.load_target("targets_mod:factory")[0] == "factory"
    assert worker.load_target("targets_mod:svc")[0] == "service"
    assert worker.load_target("targets_mod:make")[0] == "factory"
    kind, obj = worker.load_target("targets_mod:F")
    assert kind == "factory" and type(obj).__name__ == "F"
    assert worker.load_target("targets_mod:Holder.inner")[0] == "factory"
    with pytest.raises(worker.TargetError, match="returned 1"):
        worker.load_target("targets_mod:bad")
    with pytest.raises(worker.TargetError, match="MODULE:OBJECT"):
        worker.load_target("targets_mod")
    sys.modules.pop("targets_mod", None)


def test_listener_sockets_per_slot_or_shared():
    listener = listeners.Listener("tcp:0:interface=127.0.0.1", 3)
    try:
        assert len(listener.sockets) == 3
        ports = {s.getsockname()[1] for s in listener.sockets}
        assert ports == {listener.port}
        if listeners.per_slot_sockets():
            assert len(set(listener.sockets)) == 3
            assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
                       for s in listener.sockets)
        else:
            assert len(set(listener.sockets)) == 1
        assert all(not s.getblocking() for s in listener.sockets)
    finally:
        listener.close()


def test_listener_error_names_the_endpoint():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        with pytest.raises(listeners.ListenError, match="cannot listen on tcp:%d"
                           % busy.getsockname()[1]):
            listeners.Listener("tcp:%d:interface=127.0.0.1" % busy.getsockname()[1], 1)
    finally:
        busy.close()


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


def test_reactor_stats_count_bytes_connections_and_accepts(reactor, spin):
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")
    start = reactor.stats()
    assert start["connections_open"] == 0 and start["connections_accepted"] == 0
    clients = [socket.create_connection(("127.0.0.1", port.getHost().port)) for _ in range(4)]
    for i, c in enumerate(clients):
        c.sendall(b"x" * (1000 * (i + 1)))
    expected = sum(1000 * (i + 1) for i in range(4))
    spin(reactor, lambda: reactor.stats()["bytes_written"] == expected)
    stats = reactor.stats()
    assert stats["bytes_read"] == expected
    assert stats["connections_open"] == 4 and stats["connections_accepted"] == 4
    assert stats["descriptors_watched"] >= 5          # the port and four connections
    assert stats["iterations"] > start["iterations"]
    for c in clients:
        c.close()
    spin(reactor, lambda: reactor.stats()["connections_open"] == 0)
    assert reactor.stats()["connections_accepted"] == 4
    assert metrics.collect(reactor)["connections_open"] == 0


def test_reactor_stats_count_client_connections_too(reactor, spin):
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")
    made = []

    class Client(protocol.Protocol):
        def connectionMade(self):
            made.append(self)

    reactor.connectTCP("127.0.0.1", port.getHost().port,
                       protocol.ClientFactory.forProtocol(Client))
    spin(reactor, lambda: made and reactor.stats()["connections_open"] == 2)
    assert reactor.stats()["connections_accepted"] == 1
    made[0].transport.loseConnection()
    spin(reactor, lambda: reactor.stats()["connections_open"] == 0)


def test_reactor_stats_time_the_poll_and_the_callbacks(reactor):
    import time
    reactor.iterate(0.0)
    before = reactor.stats()
    reactor.callLater(0, time.sleep, 0.05)
    reactor.iterate(0.0)                 # the timer runs now (it is due)...
    reactor.iterate(0.1)                 # ...and counts when the next poll starts; idle 0.1 s
    stats = reactor.stats()
    assert stats["iterations"] == before["iterations"] + 2
    assert stats["longest_callback_seconds"] >= 0.045
    assert stats["callback_seconds"] - before["callback_seconds"] >= 0.045
    assert stats["poll_seconds"] - before["poll_seconds"] >= 0.08


def test_reactor_stats_timers_pending(reactor):
    calls = [reactor.callLater(10, lambda: None) for _ in range(3)]
    assert reactor.stats()["timers_pending"] == 3
    calls[0].cancel()
    assert reactor.stats()["timers_pending"] == 2
    for c in calls[1:]:
        c.cancel()


def test_stats_on_the_twisted_face():
    """Code that patches EPollReactor to time its loop can read the same numbers here."""
    from fastreactor.twisted import FastReactor
    r = FastReactor()
    try:
        r.iterate(0.0)
        stats = r.stats()
        assert set(stats) == set(metrics.STATS_KEYS)
        assert stats["iterations"] == 1
    finally:
        r.close()
