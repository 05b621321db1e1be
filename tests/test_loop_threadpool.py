"""callInThread, the reactor's thread pool (getThreadPool, suggestThreadPoolSize) and its shutdown."""
import threading

from guarded_run import run_with_guard


class ConcurrencyMeter:
    """Counts how many tasks run at once; each task holds for `hold` seconds."""

    def __init__(self, hold=0.03):
        self.lock = threading.Lock()
        self.current = 0
        self.maximum = 0
        self.done = 0
        self.hold = hold

    def task(self):
        import time
        with self.lock:
            self.current += 1
            self.maximum = max(self.maximum, self.current)
        time.sleep(self.hold)
        with self.lock:
            self.current -= 1
            self.done += 1


def pool_threads():
    """Live threads started by a fastreactor pool."""
    return [t for t in threading.enumerate() if t.name.startswith("fastreactor")]


def test_callInThread_runs_in_another_thread_with_arguments(reactor):
    result = []

    def work(a, b=None):
        result.append((a, b, threading.get_ident()))
        reactor.callFromThread(reactor.stop)

    reactor.callInThread(work, 1, b=2)
    run_with_guard(reactor)
    assert len(result) == 1
    assert result[0][:2] == (1, 2)
    assert result[0][2] != threading.get_ident()


def test_getThreadPool_returns_one_pool(reactor):
    pool = reactor.getThreadPool()
    assert pool is reactor.getThreadPool()
    assert callable(pool.callInThread)


def test_suggestThreadPoolSize_bounds_concurrency(reactor):
    meter = ConcurrencyMeter()
    tasks = 24
    reactor.suggestThreadPoolSize(3)

    def check():
        if meter.done == tasks:
            reactor.stop()
        else:
            reactor.callLater(0.01, check)

    for _ in range(tasks):
        reactor.callInThread(meter.task)
    reactor.callWhenRunning(check)
    run_with_guard(reactor)
    assert meter.done == tasks
    assert 1 <= meter.maximum <= 3


def test_shrinking_the_pool_while_running_lowers_concurrency(reactor):
    """After the pool grew to 8 workers, suggestThreadPoolSize(2) must bound what runs next
    (Twisted's adjustPoolsize shrinks the pool)."""
    first, second = ConcurrencyMeter(), ConcurrencyMeter()
    state = {"phase": 1}
    reactor.suggestThreadPoolSize(8)

    def check():
        if state["phase"] == 1 and first.done == 16:
            state["phase"] = 2
            reactor.suggestThreadPoolSize(2)
            for _ in range(16):
                reactor.callInThread(second.task)
        elif state["phase"] == 2 and second.done == 16:
            reactor.stop()
            return
        reactor.callLater(0.01, check)

    for _ in range(16):
        reactor.callInThread(first.task)
    reactor.callWhenRunning(check)
    run_with_guard(reactor)
    assert first.maximum > 2          # the pool really had grown
    assert second.maximum <= 2


def test_the_pool_is_stopped_at_shutdown_and_leaves_no_threads(reactor):
    before = set(pool_threads())
    ran = []
    reactor.suggestThreadPoolSize(4)
    for i in range(8):
        reactor.callInThread(ran.append, i)
    reactor.callLater(0.05, reactor.stop)
    run_with_guard(reactor)
    assert sorted(ran) == list(range(8))
    assert reactor.threadpool is None
    leftover = [t for t in pool_threads() if t not in before and t.is_alive()]
    assert leftover == []


def test_an_exception_in_a_pool_call_is_logged_and_the_pool_keeps_working(reactor, caplog):
    results = []

    def boom():
        raise ZeroDivisionError("pool boom")

    def after():
        results.append("after")
        reactor.callFromThread(reactor.stop)

    with caplog.at_level("ERROR", logger="fastreactor"):
        reactor.suggestThreadPoolSize(1)
        reactor.callInThread(boom)
        reactor.callInThread(after)
        run_with_guard(reactor)
    assert results == ["after"]
    assert "pool boom" in caplog.text and "ZeroDivisionError" in caplog.text


def test_pool_bounds_are_checked_when_made_and_when_adjusted():
    """0 <= minthreads <= maxthreads, in the constructor and in adjustPoolsize (a bad adjustment
    leaves the bounds as they were); the messages are those of Twisted's ThreadPool assertions."""
    import pytest

    from fastreactor.threadpool import ThreadPool

    with pytest.raises(ValueError, match="minimum is negative"):
        ThreadPool(-1, 5)
    with pytest.raises(ValueError, match="minimum is greater than maximum"):
        ThreadPool(6, 5)
    pool = ThreadPool(1, 5)
    with pytest.raises(ValueError, match="minimum is negative"):
        pool.adjustPoolsize(minthreads=-1)
    with pytest.raises(ValueError, match="minimum is greater than maximum"):
        pool.adjustPoolsize(maxthreads=0)
    assert (pool.min, pool.max) == (1, 5)
    pool.adjustPoolsize(2, 3)
    assert (pool.min, pool.max) == (2, 3)


def test_close_stops_the_pool_of_a_reactor_that_never_shut_down(poller):
    """A reactor crashed (no shutdown, so no shutdown trigger stopped its pool) and then closed
    leaves no worker thread behind; the work queued before close() still runs."""
    import fastreactor
    reactor = fastreactor.Reactor(poller)
    before = set(pool_threads())
    ran = []
    started = threading.Event()
    reactor.callWhenRunning(reactor.callInThread, started.set)

    def crash_once_started():
        if started.is_set():
            reactor.crash()
        else:
            reactor.callLater(0.01, crash_once_started)

    reactor.callWhenRunning(crash_once_started)
    reactor.run(installSignalHandlers=False)
    ours = [t for t in pool_threads() if t not in before]
    assert ours, "the pool never started a worker"
    reactor.callInThread(ran.append, 1)
    reactor.close()
    assert ran == [1]
    assert not [t for t in ours if t.is_alive()]
