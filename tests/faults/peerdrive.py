"""Steps the fault tests share when they drive peers (faultnet `Child` objects): ask for a report,
run a scenario once on Twisted's own reactor as the oracle, measure echo latency idle and under a
load, and check that a writer whose peer stopped reading stayed paused and bounded."""
from faultnet import TWISTED, Local

SAMPLES = 2000       # round trips per latency measurement


def do(child, command, event, **fields):
    """Send `command` with `fields` (all of them the command's own: a `timeout` among them is the
    peer's) to `child`; the next `event` it reports, waited for up to 30 s."""
    child.send(command, **fields)
    return child.expect(event, timeout=30)


def stats(child):
    """`child`'s `stats` report, waited for up to 10 s."""
    child.send("stats")
    return child.expect("stats", timeout=10)


def on_oracle(scenario, face=TWISTED):
    """`scenario(local, face)` run once on a fresh `Local` (removed afterwards however it ends),
    with Twisted's own EPollReactor by default: what the fault tests compare fastreactor with."""
    made = Local()
    try:
        return scenario(made, face)
    finally:
        made.close()


def measure(active, count=SAMPLES, size=64):
    """`count` echo round trips of `size` bytes by a pingpong client; its `measured` report (the
    median in seconds)."""
    active.send("measure", count=count, size=size)
    return active.expect("measured", timeout=120)


def idle_and_loaded(active, load):
    """The pingpong client `active`'s echo latency idle (the better of two runs after a warm-up),
    then with `load()` called and running (the best of up to three runs, stopping at one within
    2x of idle: other programs on this machine only ever add delay). Returns (idle, best loaded,
    every loaded run, what `load()` returned)."""
    measure(active, count=300)                       # warm-up
    base = min((measure(active) for _ in range(2)), key=lambda m: m["median"])
    load_result = load()
    loaded = []
    for _ in range(3):
        loaded.append(measure(active))
        if loaded[-1]["median"] <= 2 * base["median"]:
            break
    return base, min(loaded, key=lambda m: m["median"]), loaded, load_result


def start_tricklers(start, count, connect_timeout):
    """`start()` starts a trickle_clients peer of `count` clients; wait (up to `connect_timeout`
    seconds) until every one is connected and they trickle. Returns the peer."""
    trickler = start()
    assert trickler.expect("connected", timeout=connect_timeout)["count"] == count
    trickler.expect("trickling", timeout=20)
    return trickler


def assert_writer_held(first, second):
    """Two `stats` of a flood server taken a while apart while its peer does not read: nothing
    written in between (the producer is paused), the transport's buffer (where the face tells
    it) at most 192 KiB, and the process's memory grown by under 4 MiB. A writer ignoring the producer contract would have queued gigabytes."""
    assert second["written"] == first["written"], (first, second)
    if second["buffered"] is not None:
        assert second["buffered"] <= 2 * 65536 + 65536, second
    assert second["rss_kib"] - first["rss_kib"] < 4096, (first, second)
