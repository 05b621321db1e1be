"""
fastreactor.defer against twisted.internet.defer.

Most tests are scenarios written once against a module ``m`` (either
``fastreactor.defer`` or ``twisted.internet.defer``) that return what they
observed; the test runs the scenario on both and compares.  Failures are
recorded as ``("F", exception class name, message)`` so that the two
modules' classes compare.
"""

import gc
import logging
import sys

import pytest

from fastreactor import defer as fdefer
from fastreactor.failure import Failure

tdefer = pytest.importorskip("twisted.internet.defer")
from twisted.python.failure import Failure as TFailure  # noqa: E402


def norm(value):
    """A comparable form of a result: Failures and exceptions by class name."""
    if isinstance(value, (Failure, TFailure)):
        return ("F", value.type.__name__, norm_exc(value.value))
    if isinstance(value, BaseException):
        return ("E", type(value).__name__, norm_exc(value))
    if isinstance(value, (fdefer.Deferred, tdefer.Deferred)):
        return ("D", value.called, norm(getattr(value, "result", "<none>")))
    if isinstance(value, tuple):
        return tuple(norm(v) for v in value)
    if isinstance(value, list):
        return [norm(v) for v in value]
    return value


def norm_exc(exc):
    if type(exc).__name__ == "FirstError":
        return ("FirstError", exc.index, norm(exc.subFailure))
    return str(exc)


def differential(scenario):
    """Run scenario(m) on both modules; compare and return the observations."""
    ours = scenario(fdefer)
    theirs = scenario(tdefer)
    assert ours == theirs
    return ours


def result_of(d):
    """The current result of a Deferred, consumed so nothing is logged."""
    box = []
    d.addBoth(box.append)
    if not box:
        return "<no result>"
    return norm(box[0])


class FakeDelayedCall:
    def __init__(self, clock, when, f, args):
        self.clock, self.when, self.f, self.args = clock, when, f, args
        self.cancelled = self.called = False

    def active(self):
        return not (self.cancelled or self.called)

    def cancel(self):
        self.cancelled = True


class FakeClock:
    """Just enough of a reactor's callLater for addTimeout."""

    def __init__(self):
        self.now = 0.0
        self.calls = []

    def callLater(self, delay, f, *args):
        call = FakeDelayedCall(self, self.now + delay, f, args)
        self.calls.append(call)
        return call

    def advance(self, amount):
        self.now += amount
        for call in list(self.calls):
            if call.active() and call.when <= self.now:
                call.called = True
                call.f(*call.args)


# -- the callback chain -----------------------------------------------------


def test_callbacks_with_arguments():
    def scenario(m):
        log = []
        d = m.Deferred()
        d.addCallback(lambda r, a, b=0: log.append((r, a, b)) or r + a + b, 10, b=100)
        d.addCallbacks(lambda r, x: log.append(("cb", r, x)) or r * 2, lambda f: log.append("eb"),
                       callbackArgs=(5,))
        d.addBoth(lambda r, *a, **k: log.append(("both", r, a, sorted(k.items()))) or r, 1, k=2)
        d.callback(1)
        log.append(result_of(d))
        return log

    assert differential(scenario)[-1] == 222


def test_failure_paths():
    def scenario(m):
        log = []

        def raiser(r):
            raise ValueError("bad %s" % r)

        def eb(f, tag):
            log.append((tag, norm(f)))
            return "recovered"

        d = m.Deferred()
        d.addCallback(raiser)
        d.addCallback(lambda r: log.append("skipped"))
        d.addErrback(eb, "eb1")
        d.addCallback(lambda r: log.append(("back on success", r)) or r)
        d.addCallback(lambda r: m.fail(KeyError("k")) if hasattr(m, "fail") else None)
        d.addCallback(lambda r: log.append("skipped too"))
        d.addErrback(lambda f: f.trap(TypeError))
        d.addErrback(lambda f: log.append(("after trap", norm(f))) or f)
        d.callback("x")
        log.append(result_of(d))
        return log

    log = differential(scenario)
    assert log[0] == ("eb1", ("F", "ValueError", "bad x"))


def test_errback_arguments():
    def scenario(m):
        out = []
        d = m.Deferred()
        d.errback(ValueError("instance"))
        out.append(result_of(d))

        d = m.Deferred()
        d.errback((Failure if m is fdefer else TFailure)(KeyError("failure")))
        out.append(result_of(d))

        d = m.Deferred()
        try:
            raise TypeError("current")
        except TypeError:
            d.errback()
        out.append(result_of(d))

        d = m.Deferred()
        d.callback((Failure if m is fdefer else TFailure)(ZeroDivisionError("via callback")))
        out.append(result_of(d))

        try:
            m.Deferred().errback()
        except Exception as e:
            out.append(type(e).__name__)
        return out

    assert differential(scenario)[-1] == "NoCurrentExceptionError"


def test_errback_keeps_traceback():
    d = fdefer.Deferred()
    try:
        1 / 0
    except ZeroDivisionError:
        d.errback()
    failures = []
    d.addErrback(failures.append)
    assert failures[0].tb is not None
    assert "1 / 0" in failures[0].getTraceback()


def test_already_called():
    def scenario(m):
        out = []
        d = m.Deferred()
        d.callback(1)
        for fire in (lambda: d.callback(2), lambda: d.errback(ValueError())):
            try:
                fire()
            except m.AlreadyCalledError:
                out.append("already")
        out.append(result_of(d))
        return out

    assert differential(scenario) == ["already", "already", 1]


def test_callbacks_added_after_firing_run_at_once():
    def scenario(m):
        log = []
        d = m.succeed(3)
        log.append((d.called, norm(d.result)))
        d.addCallback(lambda r: log.append(r) or r + 1)
        log.append(norm(d.result))
        d = m.fail(ValueError("v"))
        d.addErrback(lambda f: log.append(norm(f)))
        log.append(norm(d.result))
        return log

    differential(scenario)


def test_callback_adding_callback_runs_in_order():
    def scenario(m):
        log = []
        d = m.Deferred()

        def first(r):
            log.append("first")
            d.addCallback(lambda r: log.append("added during") or r)
            return r

        d.addCallback(first)
        d.addCallback(lambda r: log.append("second") or r)
        d.callback(None)
        return log

    assert differential(scenario) == ["first", "second", "added during"]


# -- chaining -----------------------------------------------------------------


def test_returning_unfired_deferred_pauses_chain():
    def scenario(m):
        log = []
        inner = m.Deferred()
        outer = m.Deferred()
        outer.addCallback(lambda r: log.append(("outer got", r)) or inner)
        outer.addCallback(lambda r: log.append(("after inner", r)) or r + "!")
        outer.callback("a")
        log.append(("paused", outer.paused, inner.paused))
        log.append(("str waiting", "waiting on Deferred" in str(outer)))
        # Added after the outer started waiting: runs after the hand-over,
        # and so sees None.
        inner.addCallback(lambda r: log.append(("inner cb", r)) or r)
        inner.callback("i")
        log.append(("inner result after", norm(inner.result)))
        log.append(result_of(outer))
        return log

    log = differential(scenario)
    assert log[-1] == "i!"
    assert ("inner cb", None) in log


def test_returning_fired_deferred_takes_its_result():
    def scenario(m):
        log = []
        inner = m.fail(ValueError("inner failed"))
        outer = m.succeed(1)
        outer.addCallback(lambda r: inner)
        log.append(norm(inner.result))
        log.append(result_of(outer))
        return log

    assert differential(scenario) == [None, ("F", "ValueError", "inner failed")]


def test_returning_paused_deferred_waits():
    def scenario(m):
        inner = m.succeed("x")
        inner.pause()
        outer = m.succeed(None)
        outer.addCallback(lambda r: inner)
        log = [outer.paused]
        inner.unpause()
        log.append(result_of(outer))
        return log

    differential(scenario)


def test_nested_failure_propagates_back():
    def scenario(m):
        inner = m.Deferred()
        outer = m.succeed(None)
        outer.addCallback(lambda r: inner)
        outer.addCallback(lambda r: "not reached")
        inner.errback(RuntimeError("deep"))
        return [norm(inner.result), result_of(outer)]

    differential(scenario)


def test_chain_deferred():
    def scenario(m):
        a, b = m.Deferred(), m.Deferred()
        a.chainDeferred(b)
        b.addCallback(lambda r: r * 3)
        a.addCallback(lambda r: ("after chain", r))
        a.callback(2)
        c, d = m.Deferred(), m.Deferred()
        c.chainDeferred(d)
        c.errback(ValueError("chained"))
        return [result_of(a), result_of(b), result_of(c), result_of(d)]

    assert differential(scenario) == [("after chain", None), 6, None, ("F", "ValueError", "chained")]


def test_deep_chain_of_waiting_deferreds():
    # 10,000 Deferreds each waiting on the next, fired from the innermost:
    # the result must travel back without recursion.
    depth = 10000
    ds = [fdefer.Deferred() for _ in range(depth + 1)]
    for d, nxt in zip(ds, ds[1:]):
        d.addCallback(lambda _, nxt=nxt: nxt)
    # Each fires and starts waiting on the next one, which has no result.
    for d in ds[:-1]:
        d.callback(None)
    assert all(d.paused for d in ds[:-1])
    first, current = ds[0], ds[-1]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        current.callback("deep")
    finally:
        sys.setrecursionlimit(limit)
    assert result_of(first) == "deep"


def test_deep_chain_built_after_firing():
    # Each callback returns an already-waiting Deferred whose inner fires last.
    depth = 10000
    innermost = fdefer.Deferred()
    d = innermost
    for _ in range(depth):
        outer = fdefer.succeed(None)
        outer.addCallback(lambda _, d=d: d)
        d = outer
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        innermost.callback(7)
    finally:
        sys.setrecursionlimit(limit)
    assert result_of(d) == 7


def test_many_callbacks():
    d = fdefer.Deferred()
    for _ in range(10000):
        d.addCallback(lambda r: r + 1)
    d.callback(0)
    assert result_of(d) == 10000


# -- pause, cancel, timeout ------------------------------------------------------


def test_pause_unpause():
    def scenario(m):
        log = []
        d = m.Deferred()
        d.addCallback(lambda r: log.append(("cb1", r)) or r)
        d.pause()
        d.callback(1)
        log.append(("after callback", d.paused, len(log)))
        d.pause()
        d.unpause()
        log.append(("still paused", len(log)))
        d.addCallback(lambda r: log.append(("cb2", r)) or r)
        d.unpause()
        log.append(result_of(d))
        return log

    differential(scenario)


def test_cancel_without_canceller():
    def scenario(m):
        log = []
        d = m.Deferred()
        d.addErrback(lambda f: log.append(norm(f)))
        d.cancel()
        d.callback("late")  # swallowed once
        try:
            d.callback("later")
        except m.AlreadyCalledError:
            log.append("already")
        d.cancel()  # no effect now
        return log

    assert differential(scenario) == [("F", "CancelledError", ""), "already"]


def test_cancel_with_canceller():
    def scenario(m):
        log = []
        firing = m.Deferred(lambda d: d.callback("cancelled nicely"))
        firing.cancel()
        log.append(result_of(firing))
        silent = m.Deferred(lambda d: log.append("canceller ran"))
        silent.cancel()
        log.append(result_of(silent))
        try:
            silent.callback("late")
        except m.AlreadyCalledError:
            log.append("already (canceller given)")
        failing = m.Deferred(lambda d: d.errback(KeyError("mine")))
        failing.cancel()
        log.append(result_of(failing))
        return log

    differential(scenario)


def test_cancel_waiting_cancels_inner():
    def scenario(m):
        log = []
        inner = m.Deferred(lambda d: log.append("inner cancelled"))
        outer = m.succeed(None)
        outer.addCallback(lambda r: inner)
        outer.cancel()
        log.append(result_of(outer))
        return log

    differential(scenario)


def test_add_timeout():
    def scenario(m):
        log = []
        clock = FakeClock()
        d = m.Deferred()
        d.addTimeout(5, clock)
        clock.advance(4)
        log.append(d.called)
        clock.advance(2)
        log.append(result_of(d))

        d = m.Deferred()
        d.addTimeout(5, clock)
        d.callback("in time")
        log.append([c.active() for c in clock.calls])
        clock.advance(10)
        log.append(result_of(d))

        d = m.Deferred(lambda d: d.callback("canceller result"))
        d.addTimeout(1, clock, onTimeoutCancel=lambda r, t: ("custom", r, t))
        clock.advance(1)
        log.append(result_of(d))
        return log

    log = differential(scenario)
    assert log[1] == ("F", "TimeoutError", "(5, 'Deferred')")


# -- helpers ------------------------------------------------------------------


def test_maybe_deferred():
    def scenario(m):
        F = Failure if m is fdefer else TFailure
        inner = m.Deferred()
        out = [
            result_of(m.maybeDeferred(lambda a, b=1: a + b, 1, b=2)),
            result_of(m.maybeDeferred(lambda: 1 / 0)),
            m.maybeDeferred(lambda: inner) is inner,
            result_of(m.maybeDeferred(lambda: F(ValueError("returned failure")))),
        ]

        async def coro():
            return "from coroutine"

        out.append(result_of(m.maybeDeferred(coro)))
        out.append(result_of(m.execute(lambda: 1 / 0)))
        return out

    differential(scenario)


@pytest.mark.parametrize("consume", [False, True])
def test_gather_results(consume):
    def scenario(m):
        log = []
        ds = [m.Deferred() for _ in range(3)]
        g = m.gatherResults(ds, consumeErrors=consume)
        ds[1].callback("b")
        ds[0].callback("a")
        log.append(g.called)
        ds[2].callback("c")
        log.append(result_of(g))

        ds = [m.Deferred() for _ in range(3)]
        g = m.gatherResults(ds, consumeErrors=consume)
        ds[0].callback(1)
        ds[2].errback(ValueError("third"))
        log.append(result_of(g))
        ds[1].errback(KeyError("second"))
        log.append([result_of(d) for d in ds])

        log.append(result_of(m.gatherResults([])))
        return log

    log = differential(scenario)
    assert log[1] == ["a", "b", "c"]
    assert log[2] == ("F", "FirstError", ("FirstError", 2, ("F", "ValueError", "third")))


@pytest.mark.parametrize("fireOnOneCallback", [False, True])
@pytest.mark.parametrize("fireOnOneErrback", [False, True])
@pytest.mark.parametrize("consumeErrors", [False, True])
def test_deferred_list(fireOnOneCallback, fireOnOneErrback, consumeErrors):
    options = dict(fireOnOneCallback=fireOnOneCallback, fireOnOneErrback=fireOnOneErrback,
                   consumeErrors=consumeErrors)

    def scenario(m):
        log = []
        ds = [m.Deferred() for _ in range(4)]
        ds[3].callback("pre-fired")
        dl = m.DeferredList(ds, **options)
        log.append(("after construct", dl.called))
        ds[1].errback(ValueError("one"))
        log.append(("after failure", dl.called))
        ds[0].callback("zero")
        ds[2].callback("two")
        log.append(result_of(dl))
        log.append([result_of(d) for d in ds])
        log.append(result_of(m.DeferredList([], **options)))
        return log

    differential(scenario)


def test_deferred_list_shape():
    ds = [fdefer.succeed(1), fdefer.fail(ValueError("x"))]
    dl = fdefer.DeferredList(ds, consumeErrors=True)
    result = dl.result
    assert result[0] == (True, 1)
    assert result[1][0] is False and isinstance(result[1][1], Failure)
    assert fdefer.SUCCESS is True and fdefer.FAILURE is False


def test_deferred_list_cancel():
    def scenario(m):
        log = []
        ds = [m.Deferred(lambda d, i=i: log.append(("cancel", i))) for i in range(2)]
        dl = m.DeferredList(ds, consumeErrors=True)
        dl.cancel()
        log.append(result_of(dl))
        return log

    differential(scenario)


def test_first_error():
    f = Failure(ValueError("x"))
    e = fdefer.FirstError(f, 3)
    assert repr(e) == "FirstError[#3, ValueError('x')]"
    assert str(e).startswith("FirstError[#3, [Failure instance: Traceback")
    assert e == fdefer.FirstError(f, 3)
    assert e != fdefer.FirstError(f, 2)
    t = tdefer.FirstError(TFailure(ValueError("x")), 3)
    assert repr(e) == repr(t)
    assert str(e) == str(t)


# -- coroutines and inlineCallbacks -----------------------------------------------


def test_await_and_ensure_deferred():
    def scenario(m):
        log = []
        d1, d2 = m.Deferred(), m.Deferred()

        async def child(x):
            return x * 2

        async def main():
            a = await d1
            log.append(("a", a))
            b = await m.succeed("ready")
            log.append(("b", b))
            c = await m.ensureDeferred(child(21))
            log.append(("c", c))
            try:
                await d2
            except ValueError as e:
                log.append(("caught", str(e)))
            try:
                await m.fail(KeyError("already failed"))
            except KeyError as e:
                log.append(("caught", str(e)))
            return "done"

        result = m.ensureDeferred(main())
        log.append(("started", result.called))
        d1.callback("first")
        d2.errback(ValueError("second"))
        log.append(result_of(result))
        log.append(norm(d1.result))
        log.append(result_of(m.Deferred.fromCoroutine(child(1))))
        return log

    assert differential(scenario)[-3] == "done"


def test_coroutine_failure_and_cancel():
    def scenario(m):
        log = []
        waited = m.Deferred(lambda d: log.append("waited cancelled"))

        async def failing():
            raise RuntimeError("inside")

        async def cancellable():
            try:
                await waited
            except m.CancelledError:
                log.append("saw cancel")
                raise

        async def stubborn(d):
            try:
                await d
            except m.CancelledError:
                log.append("ignoring cancel")
            other = m.Deferred()
            holder.append(other)
            return (await other) + "!"

        log.append(result_of(m.ensureDeferred(failing())))
        d = m.ensureDeferred(cancellable())
        d.cancel()
        log.append(result_of(d))

        holder = []
        s = m.ensureDeferred(stubborn(m.Deferred()))
        s.cancel()
        log.append(("stubborn called", s.called))
        holder[0].callback("finished anyway")
        log.append(result_of(s))
        return log

    differential(scenario)


def test_ensure_deferred_passes_deferreds_and_rejects_others():
    d = fdefer.Deferred()
    assert fdefer.ensureDeferred(d) is d
    with pytest.raises(fdefer.NotACoroutineError):
        fdefer.ensureDeferred(42)
    with pytest.raises(TypeError):
        fdefer.Deferred.fromCoroutine(lambda: None)


def test_inline_callbacks():
    def scenario(m):
        log = []
        pending = m.Deferred()

        @m.inlineCallbacks
        def gen(x):
            a = yield m.succeed(x)
            b = yield "plain value"
            c = yield pending
            try:
                yield m.fail(ValueError("inside"))
            except ValueError as e:
                log.append(("caught", str(e)))
            return (a, b, c)

        @m.inlineCallbacks
        def raising():
            yield m.succeed(None)
            raise KeyError("out")

        d = gen(1)
        log.append(("waiting", d.called))
        pending.callback("later")
        log.append(result_of(d))
        log.append(result_of(raising()))

        try:
            m.inlineCallbacks(lambda: 1)()
        except TypeError:
            log.append("TypeError for non-generator")
        return log

    differential(scenario)


def test_inline_callbacks_many_synchronous_yields():
    @fdefer.inlineCallbacks
    def gen():
        total = 0
        for i in range(10000):
            total += yield fdefer.succeed(i)
        return total

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        d = gen()
    finally:
        sys.setrecursionlimit(limit)
    assert result_of(d) == sum(range(10000))


def test_inline_callbacks_cancel():
    def scenario(m):
        log = []
        inner = m.Deferred()

        @m.inlineCallbacks
        def gen():
            try:
                yield inner
            except m.CancelledError:
                log.append("cancelled inside")
                return "handled"

        d = gen()
        d.cancel()
        log.append(result_of(d))
        return log

    assert differential(scenario) == ["cancelled inside", "handled"]


# -- concurrency primitives --------------------------------------------------------


def test_lock_semaphore_queue():
    def scenario(m):
        log = []
        lock = m.DeferredLock()
        a, b = lock.acquire(), lock.acquire()
        log.append((a.called, b.called, lock.locked))
        c = lock.acquire()
        c.cancel()
        log.append(result_of(c))
        lock.release()
        log.append((b.called, lock.locked))
        lock.release()
        log.append(lock.locked)

        gate = m.Deferred()
        r = lock.run(lambda x: gate.addCallback(lambda _: x), "ran")
        log.append(lock.locked)
        gate.callback(None)
        log.append((result_of(r), lock.locked))

        sem = m.DeferredSemaphore(2)
        ds = [sem.acquire() for _ in range(3)]
        log.append(([d.called for d in ds], sem.tokens))
        sem.release()
        log.append(([d.called for d in ds], sem.tokens))
        try:
            m.DeferredSemaphore(0)
        except ValueError:
            log.append("ValueError")

        q = m.DeferredQueue(size=1, backlog=1)
        g = q.get()
        q.put("one")
        log.append(result_of(g))
        q.put("two")
        try:
            q.put("three")
        except m.QueueOverflow:
            log.append("overflow")
        log.append(result_of(q.get()))
        q.get()
        try:
            q.get()
        except m.QueueUnderflow:
            log.append("underflow")
        return log

    differential(scenario)


def test_lock_async_with():
    lock = fdefer.DeferredLock()
    log = []

    async def worker(name, gate):
        async with lock:
            log.append((name, "in"))
            await gate
            log.append((name, "out"))

    g1, g2 = fdefer.Deferred(), fdefer.Deferred()
    d1 = fdefer.ensureDeferred(worker("one", g1))
    d2 = fdefer.ensureDeferred(worker("two", g2))
    assert log == [("one", "in")]
    g1.callback(None)
    g2.callback(None)
    assert log == [("one", "in"), ("one", "out"), ("two", "in"), ("two", "out")]
    assert d1.called and d2.called and not lock.locked


# -- representation ----------------------------------------------------------------


def test_str():
    def scenario(m):
        d = m.Deferred()
        s1 = str(d).split(" at 0x")[0]
        d.callback([1])
        s2 = str(d).split(">")[0].split(" current result: ")[1]
        return [s1, s2, repr(d) == str(d)]

    assert differential(scenario) == ["<Deferred", "[1]", True]


# -- unhandled errors ---------------------------------------------------------------


def collect():
    for _ in range(3):
        gc.collect()


def test_unhandled_error_is_logged(caplog):
    caplog.set_level(logging.ERROR, logger="fastreactor")

    def lose():
        d = fdefer.Deferred()
        d.addCallback(lambda r: 1 / 0)
        d.callback(None)

    lose()
    collect()
    records = [r for r in caplog.records if r.name == "fastreactor"]
    assert len(records) == 1
    text = records[0].getMessage()
    assert records[0].levelno == logging.ERROR
    assert text.startswith("Unhandled error in Deferred:")
    assert "Traceback (most recent call last):" in text
    assert "builtins.ZeroDivisionError: division by zero" in text


def test_handled_errors_are_not_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="fastreactor")

    def scenarios():
        d = fdefer.fail(ValueError("handled"))
        d.addErrback(lambda f: None)

        # Passed on to a waiting Deferred that handles it.
        inner = fdefer.Deferred()
        outer = fdefer.succeed(None)
        outer.addCallback(lambda _: inner)
        outer.addErrback(lambda f: None)
        inner.errback(ValueError("handled by outer"))

        # Consumed by a DeferredList.
        fdefer.DeferredList([fdefer.fail(ValueError("consumed"))], consumeErrors=True)

        # Awaited.
        async def waiter():
            try:
                await fdefer.fail(ValueError("awaited"))
            except ValueError:
                pass

        fdefer.ensureDeferred(waiter())

        # Succeeding Deferreds.
        fdefer.succeed(1)

    scenarios()
    collect()
    assert [r.getMessage() for r in caplog.records if r.name == "fastreactor"] == []


def test_unhandled_inner_error_logged_once_by_the_outer(caplog):
    caplog.set_level(logging.ERROR, logger="fastreactor")

    def lose():
        inner = fdefer.Deferred()
        outer = fdefer.succeed(None)
        outer.addCallback(lambda _: inner)
        inner.errback(ValueError("only outer holds it"))

    lose()
    collect()
    records = [r for r in caplog.records if r.name == "fastreactor"]
    assert len(records) == 1
    assert "builtins.ValueError: only outer holds it" in records[0].getMessage()


def test_debug_mode_reports_stacks():
    fdefer.setDebugging(True)
    try:
        assert fdefer.getDebugging()
        d = fdefer.Deferred()
        d.callback(1)
        with pytest.raises(fdefer.AlreadyCalledError) as info:
            d.callback(2)
        assert "C: Deferred was created:" in str(info.value)
        assert "I: First Invoker was:" in str(info.value)
    finally:
        fdefer.setDebugging(False)
    assert not fdefer.Deferred().debug


def test_generic_alias():
    alias = fdefer.Deferred[int]
    assert alias.__origin__ is fdefer.Deferred


def test_public_names_have_docstrings():
    for name in fdefer.__all__:
        obj = getattr(fdefer, name)
        if isinstance(obj, bool):
            continue
        assert obj.__doc__, name
    for name in ("addCallbacks", "addCallback", "addErrback", "addBoth", "addTimeout",
                 "chainDeferred", "callback", "errback", "pause", "unpause", "cancel",
                 "fromCoroutine", "__await__"):
        assert getattr(fdefer.Deferred, name).__doc__, name
