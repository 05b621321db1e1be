"""Black hole: connectTCP to an address whose SYNs vanish (a static neighbour entry to a MAC nobody
owns) fails with TimeoutError after `timeout`, through clientConnectionFailed, in Twisted's order;
a ReconnectingClientFactory backs off as configured; nothing leaks per attempt. The same over
connectSSL (`+tls`: the native face's with a `fastreactor.ssl` context, and the Twisted face's),
against Twisted's connectSSL."""
import pytest

from faultnet import (BLACKHOLE_IP, NATIVE, TLS_SUFFIX, TWISTED, TWISTED_FACE, face_env,
                      native_on_every_poller)

pytestmark = pytest.mark.faults


def run_client(link, face, tls=None):
    name, env = face_env(face, tls)
    link.blackhole(link.client_ns, BLACKHOLE_IP)
    child = link.spawn(link.client_ns, "blackhole_client.py", name, BLACKHOLE_IP, env=env,
                       name=face)
    results = {name: child.expect(name, timeout=20) for name in ("order", "backoff", "leak")}
    child.expect("done", timeout=5)
    return results


def run_oracle(face, tls=None):
    from faultnet import Link, namespaces_unavailable
    why = namespaces_unavailable()
    if why:
        pytest.skip(why)
    made = Link()
    try:
        return run_client(made, face, tls)
    finally:
        made.close()


@pytest.fixture(scope="module")
def oracle():
    """Twisted's EPollReactor in the same black hole (one run shared by the module's tests)."""
    return run_oracle(TWISTED)


@pytest.fixture(scope="module")
def oracle_tls(tls):
    """Twisted's EPollReactor's connectSSL in the same black hole."""
    return run_oracle(TWISTED + TLS_SUFFIX, tls)


def shape(trace):
    """A trace without its times."""
    return [entry[:-1] for entry in trace]


@pytest.mark.parametrize("face", native_on_every_poller() + [
    NATIVE + TLS_SUFFIX, TWISTED_FACE, TWISTED_FACE + TLS_SUFFIX])
def test_blackhole(link, face, request):
    if face.endswith(TLS_SUFFIX):
        tls = request.getfixturevalue("tls")
        oracle = request.getfixturevalue("oracle_tls")
    else:
        tls, oracle = None, request.getfixturevalue("oracle")
    got = run_client(link, face, tls)

    # One connectTCP: the same callbacks as Twisted, TimeoutError after `timeout` (0.5 s).
    order = got["order"]["trace"]
    assert shape(order) == shape(oracle["order"]["trace"])
    assert [e[0] for e in order] == ["startFactory", "startedConnecting",
                                     "clientConnectionFailed", "stopFactory"]
    failed = order[2]
    assert failed[1] == "TimeoutError"
    assert 0.48 <= failed[-1] <= 1.5, failed

    # Back-off: attempts 0.3 s each, then waits of 0.2, 0.4, 0.5 (capped) s, as Twisted does.
    backoff = got["backoff"]["trace"]
    assert shape(backoff) == shape(oracle["backoff"]["trace"])
    kinds = [e[0] for e in backoff]
    assert kinds == ["start", "failed"] * 4 + ["abandoned"]
    times = [e[-1] for e in backoff]
    waits = [round(times[i + 1] - times[i], 2) for i in range(1, 7, 2)]
    for wait, expected in zip(waits, [0.2, 0.4, 0.5]):
        assert expected - 0.02 <= wait <= expected + 0.25, (waits, backoff)
    attempts = [round(times[i + 1] - times[i], 2) for i in range(0, 8, 2)]
    for attempt in attempts:
        assert 0.28 <= attempt <= 0.6, (attempts, backoff)
    assert got["backoff"]["delayed_calls"] == 0

    # Nothing left per attempt: descriptors, timers, the connecting transports.
    leak = got["leak"]
    assert leak["attempts"] == 30
    assert leak["fds_after"] == leak["fds_before"], leak
    assert leak["calls_after"] == leak["calls_before"], leak
    assert leak["live_transports"] == 0, leak
    assert leak["live_without_gc"] == 0, "connecting transports kept alive by cycles: %s" % leak


def test_oracle_times_out(oracle):
    """The oracle itself saw the black hole (so the comparisons above compare something)."""
    order = oracle["order"]["trace"]
    assert order[2][:2] == ["clientConnectionFailed", "TimeoutError"]
    assert oracle["leak"]["fds_after"] == oracle["leak"]["fds_before"]
