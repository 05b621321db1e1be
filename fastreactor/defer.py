"""
Deferred: a result that is not available yet.

Modelled on `twisted.internet.defer`, with the same semantics for the
callback chain, chaining, pausing, cancellation and unhandled-error
reporting; no dependency on Twisted.  Failures are
`fastreactor.failure.Failure`.
"""

import inspect
import traceback
import warnings
from contextvars import copy_context
from functools import wraps
from types import CoroutineType, GeneratorType, GenericAlias

from fastreactor.failure import Failure
from fastreactor import log as _log

__all__ = [
    "Deferred",
    "DeferredList",
    "succeed",
    "fail",
    "execute",
    "maybeDeferred",
    "gatherResults",
    "ensureDeferred",
    "inlineCallbacks",
    "FirstError",
    "AlreadyCalledError",
    "CancelledError",
    "TimeoutError",
    "NotACoroutineError",
    "DeferredLock",
    "DeferredSemaphore",
    "DeferredQueue",
    "QueueOverflow",
    "QueueUnderflow",
    "SUCCESS",
    "FAILURE",
    "passthru",
    "setDebugging",
    "getDebugging",
]

SUCCESS = True
FAILURE = False


class AlreadyCalledError(Exception):
    """
    Raised by `Deferred.callback` or `Deferred.errback` when one of them
    was already called on that Deferred.
    """


class CancelledError(Exception):
    """
    The result of a `Deferred` cancelled without a canceller that fired it.
    """


class TimeoutError(Exception):
    """
    The result of a `Deferred` timed out by `Deferred.addTimeout`
    (`args` are `(timeout, "Deferred")`).  Not the same class as
    `fastreactor.error.TimeoutError`, as in Twisted.
    """


class NotACoroutineError(TypeError):
    """
    Raised when a coroutine (or generator) was expected and something else
    was given.
    """


def passthru(result):
    """
    Return `result` unchanged; the callback half of `Deferred.addErrback`.
    """
    return result


def _failthru(failure):
    return failure


# Marks a callback-list entry that hands this Deferred's result to a
# Deferred waiting on it (see Deferred._runCallbacks).
_CONTINUE = object()
_NO_RESULT = object()
_NO_KWARGS = {}


class _FailureReporter:
    """
    Holds the Failure a Deferred ended with and logs it, with the creation
    and first-invocation stacks when debugging, when it is garbage-collected
    while still holding it.

    It is a separate object so that the Deferred itself has no `__del__`.
    """

    __slots__ = ("failResult", "creator", "invoker")

    def __init__(self):
        self.failResult = None
        self.creator = None
        self.invoker = None

    def debugText(self):
        text = ""
        if self.creator is not None:
            text += " C: Deferred was created:\n C:"
            text += "".join(self.creator).rstrip().replace("\n", "\n C:") + "\n"
        if self.invoker is not None:
            text += " I: First Invoker was:\n I:"
            text += "".join(self.invoker).rstrip().replace("\n", "\n I:") + "\n"
        return text

    def __del__(self):
        failure = self.failResult
        if failure is not None:
            try:
                why = "Unhandled error in Deferred:"
                debug = self.debugText()
                if debug:
                    why += "\n(debug: " + debug.rstrip("\n") + ")"
                _log.logFailure(failure, why)
            except Exception:
                # Interpreter shutdown may have torn logging down already.
                pass


class Deferred:
    """
    A result that will arrive later, with a chain of callbacks to run on it.

    Callbacks are added in pairs (a success callback and an errback) and run
    in order once `callback` or `errback` gives the first result.  Each one
    receives the current result (plus its own extra arguments) and its
    return value becomes the next result: returning (or raising into) a
    `Failure` moves processing to the errback side; an errback returning a
    non-Failure moves it back.  A callback that returns another Deferred
    pauses this chain until that Deferred has a result, which then becomes
    this chain's result.  Callbacks added after the result arrived run at
    once.  Chains of Deferreds waiting on each other are processed without
    recursion, whatever their depth.

    A Deferred whose chain ends with an unhandled Failure logs it (to the
    `"fastreactor"` logger) when it is garbage-collected.

    `called`: False until `callback` or `errback` is called.
    `paused`: the number of unmatched `pause` calls (a Deferred waiting
        on another counts as paused once).
    `result`: the current result; absent until called.
    """

    called = False
    paused = 0
    debug = False
    _reporter = None
    _suppressAlreadyCalled = False
    _runningCallbacks = False
    _chainedTo = None

    def __init__(self, canceller=None):
        """
        `canceller`: called with this Deferred by `cancel` while it
            has no result; it should stop the pending work and may fire the
            Deferred.  If it does not fire it (or there is no canceller),
            `cancel` errbacks with `CancelledError`.
        """
        self._callbacks = []
        self._canceller = canceller
        if self.debug:
            self._reporter = _FailureReporter()
            self._reporter.creator = traceback.format_stack()[:-1]

    # Deferred[int] in annotations, as with Twisted's generic Deferred.
    __class_getitem__ = classmethod(GenericAlias)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _DEFERRED_TYPES.add(cls)

    # -- adding callbacks -------------------------------------------------

    def addCallbacks(self, callback, errback=None, callbackArgs=(),
                     callbackKeywords=_NO_KWARGS, errbackArgs=(),
                     errbackKeywords=_NO_KWARGS):
        """
        Add a success callback and an errback as one step of the chain.

        `callback(result, *callbackArgs, **callbackKeywords)` runs if the
        result at this step is a success, `errback(failure, *errbackArgs,
        **errbackKeywords)` if it is a `Failure`; a missing errback passes
        the failure on.

        Returns: self.
        """
        if errback is None:
            errback = _failthru
        self._callbacks.append((
            (callback, callbackArgs or (), callbackKeywords or _NO_KWARGS),
            (errback, errbackArgs or (), errbackKeywords or _NO_KWARGS),
        ))
        if self.called:
            self._runCallbacks()
        return self

    def addCallback(self, callback, *args, **kwargs):
        """
        Add `callback(result, *args, **kwargs)` for a success result;
        a failure passes by it.  Returns: self.
        """
        self._callbacks.append(((callback, args, kwargs), (_failthru, (), _NO_KWARGS)))
        if self.called:
            self._runCallbacks()
        return self

    def addErrback(self, errback, *args, **kwargs):
        """
        Add `errback(failure, *args, **kwargs)` for a failure result;
        a success passes by it.  Returns: self.
        """
        self._callbacks.append(((passthru, (), _NO_KWARGS), (errback, args, kwargs)))
        if self.called:
            self._runCallbacks()
        return self

    def addBoth(self, callback, *args, **kwargs):
        """
        Add `callback(result, *args, **kwargs)` for either kind of result.
        Returns: self.
        """
        step = (callback, args, kwargs)
        self._callbacks.append((step, step))
        if self.called:
            self._runCallbacks()
        return self

    def addTimeout(self, timeout, clock, onTimeoutCancel=None):
        """
        Cancel this Deferred if it has no result after `timeout` seconds.

        The timeout covers the callbacks added before this call.  When it
        fires, `cancel` is called, then `onTimeoutCancel(result, timeout)`
        replaces the result; by default that turns a `CancelledError`
        failure into a `TimeoutError` failure.  Once the Deferred has a
        result the pending timeout is cancelled.

        `clock`: anything with `callLater(delay, f)` returning an
            object with `active()` and `cancel()` (a reactor).
        Returns: self.
        """
        timedOut = []

        def timeItOut():
            timedOut.append(True)
            self.cancel()

        delayedCall = clock.callLater(timeout, timeItOut)

        def convertCancelled(result):
            if timedOut:
                return (onTimeoutCancel or _cancelledToTimedOutError)(result, timeout)
            return result

        def cancelTimeout(result):
            if delayedCall.active():
                delayedCall.cancel()
            return result

        return self.addBoth(convertCancelled).addBoth(cancelTimeout)

    def chainDeferred(self, d):
        """
        Make `d` fire with this Deferred's result at this point of the
        chain: shorthand for `self.addCallbacks(d.callback, d.errback)`.
        Unlike returning a Deferred from a callback, this recurses, so very
        long such chains can exhaust the stack.

        Returns: self.
        """
        d._chainedTo = self
        return self.addCallbacks(d.callback, d.errback)

    # -- firing -----------------------------------------------------------

    def callback(self, result):
        """
        Give the first result and run the chain with it.  A `Failure`
        result is the same as `errback(result)`.

        Raises `AlreadyCalledError`: `callback` or `errback` was already
            called (except once, silently, after a `cancel` that had no
            canceller).
        """
        self._startRunCallbacks(result)

    def errback(self, fail=None):
        """
        Give the first result as a failure and run the chain with it.

        `fail`: a `Failure`; an exception (wrapped in a Failure); or
            None for the exception being handled now.
        Raises `AlreadyCalledError`: as for `callback`.
        Raises `fastreactor.failure.NoCurrentExceptionError`: `fail` is None
            and no exception is being handled.
        """
        if fail is None:
            fail = Failure(captureVars=self.debug)
        elif not isinstance(fail, Failure):
            fail = Failure(fail)
        self._startRunCallbacks(fail)

    def pause(self):
        """
        Stop running callbacks until a matching `unpause`.
        """
        self.paused += 1

    def unpause(self):
        """
        Undo one `pause`; when none is left, run the callbacks that are due.
        """
        self.paused -= 1
        if not self.paused and self.called:
            self._runCallbacks()

    def cancel(self):
        """
        Cancel the operation this Deferred waits for.

        With no result yet: call the canceller, and if that did not fire the
        Deferred, errback with `CancelledError` (a later callback or
        errback from the operation is then silently ignored, once, when
        there was no canceller).  While waiting on another Deferred (a
        callback returned it), cancel that one instead.  Otherwise do
        nothing.
        """
        if not self.called:
            canceller = self._canceller
            if canceller:
                canceller(self)
            else:
                self._suppressAlreadyCalled = True
            if not self.called:
                self.errback(Failure(CancelledError()))
        elif isinstance(self.result, Deferred):
            self.result.cancel()

    def _startRunCallbacks(self, result):
        if self.called:
            if self._suppressAlreadyCalled:
                self._suppressAlreadyCalled = False
                return
            if self.debug:
                if self._reporter is None:
                    self._reporter = _FailureReporter()
                raise AlreadyCalledError("\n" + self._reporter.debugText())
            raise AlreadyCalledError()
        if self.debug:
            if self._reporter is None:
                self._reporter = _FailureReporter()
            self._reporter.invoker = traceback.format_stack()[:-2]
        self.called = True
        # The canceller will never be called now; drop it (and any cycle
        # through it).
        self._canceller = None
        self.result = result
        self._runCallbacks()

    def _runCallbacks(self):
        """
        Run the callbacks that are due, on this Deferred and on every
        Deferred waiting on it, without recursing.

        `stack` holds the Deferreds being processed: when a Deferred hands
        its result to one waiting on it (the `_CONTINUE` entry its waiter
        appended), the waiter is pushed and processed; when a Deferred can
        go no further it is popped and the one below resumes.
        """
        if self._runningCallbacks:
            # A callback of ours added a callback; the loop below will run it.
            return
        stack = [self]
        while stack:
            current = stack[-1]
            if current.paused:
                # No result for anyone waiting on this one yet.
                return
            done = True
            current._chainedTo = None
            while current._callbacks:
                entry = current._callbacks.pop(0)
                callback, args, kwargs = entry[1] if isinstance(current.result, Failure) else entry[0]
                if callback is _CONTINUE:
                    waiter = args[0]
                    waiter.result = current.result
                    current.result = None
                    if current._reporter is not None:
                        current._reporter.failResult = None
                    waiter.paused -= 1
                    stack.append(waiter)
                    done = False
                    break
                current._runningCallbacks = True
                try:
                    current.result = callback(current.result, *args, **kwargs)
                except BaseException:
                    current.result = Failure(captureVars=self.debug)
                else:
                    result = current.result
                    if type(result) in _DEFERRED_TYPES:
                        if result is current:
                            warnings.warn(
                                "Callback %r returned the Deferred it was attached to; "
                                "this breaks the callback chain." % (callback,),
                                DeprecationWarning,
                                stacklevel=2,
                            )
                        inner = getattr(result, "result", _NO_RESULT)
                        if (inner is _NO_RESULT or type(inner) in _DEFERRED_TYPES
                                or result.paused):
                            # Wait for it: it will hand us its result through
                            # the _CONTINUE entry.
                            current.pause()
                            current._chainedTo = result
                            result._callbacks.append(current._continuation())
                            break
                        # It already has a result: take it over.
                        result.result = None
                        if result._reporter is not None:
                            result._reporter.failResult = None
                        current.result = inner
                finally:
                    current._runningCallbacks = False
            if done:
                # Everything that can run on `current` has run; record
                # whether it ends holding a Failure nobody handled (yet).
                if isinstance(current.result, Failure):
                    if current._reporter is None:
                        current._reporter = _FailureReporter()
                    current._reporter.failResult = current.result
                elif current._reporter is not None:
                    current._reporter.failResult = None
                stack.pop()

    def _continuation(self):
        step = (_CONTINUE, (self,), _NO_KWARGS)
        return (step, step)

    # -- awaiting ---------------------------------------------------------

    def __await__(self):
        """
        Let a coroutine driven by `ensureDeferred` (or a generator driven
        by `inlineCallbacks`, with `yield from`) wait for this result:
        the result is returned, a failure's exception is raised.  Waiting
        consumes the result (the Deferred's result becomes None); a failure
        awaited after it arrived no longer counts as unhandled.
        """
        if not self.called or self.paused:
            # The driver resumes us with the result, or throws the failure.
            return (yield self)
        result = self.result
        if isinstance(result, Failure):
            if self._reporter is not None:
                self._reporter.failResult = None
            result.raiseException()
        return result

    __iter__ = __await__

    @classmethod
    def fromCoroutine(cls, coro):
        """
        Run `coro` (a coroutine, or a generator) until it awaits (yields)
        a Deferred that has no result, and resume it each time such a
        Deferred fires; return a Deferred for its return value or
        exception.

        Cancelling the returned Deferred cancels the Deferred the coroutine
        is awaiting, which raises `CancelledError` (unless its canceller
        fires it otherwise) inside the coroutine; the returned Deferred then
        gets whatever the coroutine ends with.

        Raises `NotACoroutineError`: `coro` is neither.
        """
        if isinstance(coro, (CoroutineType, GeneratorType)) or _iscoroutine(coro):
            return _CoroutineDriver(coro).start()
        raise NotACoroutineError("%r is not a coroutine" % (coro,))

    def __str__(self):
        result = getattr(self, "result", _NO_RESULT)
        if self._chainedTo is not None:
            state = " waiting on Deferred at 0x%x" % id(self._chainedTo)
        elif result is _NO_RESULT:
            state = ""
        else:
            state = " current result: %r" % (result,)
        return "<%s at 0x%x%s>" % (type(self).__name__, id(self), state)

    __repr__ = __str__


_DEFERRED_TYPES = {Deferred}


def _iscoroutine(obj):
    return inspect.iscoroutine(obj) or inspect.isgenerator(obj)


def _cancelledToTimedOutError(result, timeout):
    if isinstance(result, Failure):
        result.trap(CancelledError)
        raise TimeoutError(timeout, "Deferred")
    return result


def setDebugging(on):
    """
    Turn Deferred debugging on or off: when on, Deferreds record the stacks
    where they were created and first fired, and report them in
    `AlreadyCalledError` and in unhandled-error logs; failures in
    callbacks capture frame variables.
    """
    Deferred.debug = bool(on)


def getDebugging():
    """
    Return whether Deferred debugging is on (see `setDebugging`).
    """
    return Deferred.debug


# -- constructors ---------------------------------------------------------


def succeed(result):
    """
    Return a Deferred that already has `result`.
    """
    d = Deferred()
    d.called = True
    d.result = result
    return d


def fail(result=None):
    """
    Return a Deferred that already failed with `result` (anything
    `Deferred.errback` takes; None for the exception being handled).
    """
    d = Deferred()
    d.errback(result)
    return d


def execute(callable, *args, **kwargs):
    """
    Call `callable(*args, **kwargs)` and return a Deferred that already
    has its return value, or its exception as a failure.
    """
    try:
        result = callable(*args, **kwargs)
    except BaseException:
        return fail()
    return succeed(result)


def maybeDeferred(f, *args, **kwargs):
    """
    Call `f(*args, **kwargs)` and return its result as a Deferred: a
    returned Deferred as it is, a returned `Failure` as a failed Deferred,
    a returned coroutine run by `Deferred.fromCoroutine`, any other value as
    a fired Deferred, and a raised exception as a failed Deferred.
    """
    try:
        result = f(*args, **kwargs)
    except BaseException:
        return fail(Failure(captureVars=Deferred.debug))
    if type(result) in _DEFERRED_TYPES:
        return result
    if isinstance(result, Failure):
        return fail(result)
    if type(result) is CoroutineType:
        return Deferred.fromCoroutine(result)
    return succeed(result)


# -- coroutines and inlineCallbacks ----------------------------------------


class _InternalCancelled(Exception):
    """
    Fired into a coroutine's Deferred by its canceller only to swap the
    Deferred the coroutine will finish into; never seen outside.
    """


class _CoroutineDriver:
    """
    Runs a coroutine or generator that yields Deferreds, resuming it with
    each Deferred's result (or throwing its failure in), and fires
    `deferred` with the return value or exception.
    """

    def __init__(self, gen):
        self.gen = gen
        self.context = copy_context()
        self.deferred = Deferred(self._cancel)
        self.waitingOn = None

    def start(self):
        deferred = self.deferred
        self._resume(None)
        return deferred

    def _resume(self, result):
        # Resuming with already-available results loops here instead of
        # recursing through callbacks, so long runs of fired Deferreds do
        # not grow the stack.
        gen = self.gen
        run = self.context.run
        while True:
            try:
                if isinstance(result, Failure):
                    yielded = run(result.throwExceptionIntoGenerator, gen)
                else:
                    yielded = run(gen.send, result)
            except StopIteration as e:
                self.deferred.callback(e.value)
                return
            except BaseException:
                self.deferred.errback()
                return
            if type(yielded) not in _DEFERRED_TYPES:
                if isinstance(yielded, (CoroutineType, GeneratorType)):
                    yielded = Deferred.fromCoroutine(yielded)
                else:
                    # Anything else is sent straight back, as Twisted does.
                    result = yielded
                    continue
            box = []
            yielded.addBoth(self._fired, box)
            if box:
                result = box[0]
                continue
            box.append(_NO_RESULT)
            self.waitingOn = yielded
            return

    def _fired(self, result, box):
        # Returns None: the awaited Deferred's result is consumed.
        if box:
            self.waitingOn = None
            self._resume(result)
        else:
            box.append(result)

    def _cancel(self, deferred):
        # Swap in a fresh Deferred for the coroutine to finish into, then
        # cancel what it awaits; the coroutine decides what happens next
        # (usually CancelledError propagates out of it).
        replacement = Deferred(self._cancel)

        def swap(failure):
            failure.trap(_InternalCancelled)
            self.deferred = replacement
            if self.waitingOn is not None:
                self.waitingOn.cancel()
            return replacement

        deferred._callbacks, later = [], deferred._callbacks
        deferred.addErrback(swap)
        deferred._callbacks.extend(later)
        deferred.errback(Failure(_InternalCancelled()))


def ensureDeferred(coro):
    """
    Return `coro` if it is a Deferred, else `Deferred.fromCoroutine`
    of it.

    Raises `NotACoroutineError`: `coro` is neither a Deferred nor a coroutine
        or generator.
    """
    if type(coro) in _DEFERRED_TYPES:
        return coro
    try:
        return Deferred.fromCoroutine(coro)
    except NotACoroutineError:
        raise NotACoroutineError("%r is not a coroutine or a Deferred" % (coro,))


def inlineCallbacks(f):
    """
    Decorate a generator function so that calling it returns a Deferred and
    runs the generator: each `yield` of a Deferred suspends it until that
    Deferred fires, then resumes it with the result (or raises the failure's
    exception at the `yield`); other yielded values are sent straight
    back.  The generator's `return` value is the Deferred's result; an
    exception it raises is its failure.  Cancelling the Deferred behaves as
    in `Deferred.fromCoroutine`.

    Raises `TypeError`: when called, if `f` did not return a generator.
    """

    @wraps(f)
    def unwindGenerator(*args, **kwargs):
        gen = f(*args, **kwargs)
        if not isinstance(gen, GeneratorType):
            raise TypeError(
                "inlineCallbacks requires %r to produce a generator; instead got %r"
                % (f, gen)
            )
        return _CoroutineDriver(gen).start()

    return unwindGenerator


# -- collecting several results -------------------------------------------


class FirstError(Exception):
    """
    The failure of a `DeferredList` with `fireOnOneErrback`, and of
    `gatherResults`: the first failure among its Deferreds.

    `subFailure`: that `Failure`.
    `index`: the position of its Deferred in the list.
    """

    def __init__(self, failure, index):
        Exception.__init__(self, failure, index)
        self.subFailure = failure
        self.index = index

    def __repr__(self):
        return "FirstError[#%d, %r]" % (self.index, self.subFailure.value)

    def __str__(self):
        return "FirstError[#%d, %s]" % (self.index, self.subFailure)

    def __eq__(self, other):
        if isinstance(other, FirstError):
            return (self.index, self.subFailure) == (other.index, other.subFailure)
        return False

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = Exception.__hash__


class DeferredList(Deferred):
    """
    A Deferred for the results of several Deferreds.

    By default it fires, once all of them have a result, with a list of
    `(success, result)` pairs in the order of the Deferreds given
    (`success` is `SUCCESS` (True) or `FAILURE` (False), `result` the
    value or the `Failure`).  It works by adding a callback/errback pair to
    each Deferred, so it sees their results as they stand at that point of
    their chains.
    """

    fireOnOneCallback = False
    fireOnOneErrback = False

    def __init__(self, deferredList, fireOnOneCallback=False,
                 fireOnOneErrback=False, consumeErrors=False):
        """
        `deferredList`: the Deferreds to collect.
        `fireOnOneCallback`: fire with `(result, index)` as soon as
            one of them succeeds.
        `fireOnOneErrback`: errback with a `FirstError` as soon as one
            of them fails.
        `consumeErrors`: replace each failure, in the Deferred's own
            chain, with None after recording it (so it is not reported as
            unhandled); does not stop `fireOnOneErrback`.
        """
        self._deferredList = list(deferredList)
        self.resultList = [None] * len(self._deferredList)
        Deferred.__init__(self)
        if not self._deferredList and not fireOnOneCallback:
            self.callback([])
        self.fireOnOneCallback = fireOnOneCallback
        self.fireOnOneErrback = fireOnOneErrback
        self.consumeErrors = consumeErrors
        self.finishedCount = 0
        for index, deferred in enumerate(self._deferredList):
            deferred.addCallbacks(
                self._cbDeferred,
                self._cbDeferred,
                callbackArgs=(index, SUCCESS),
                errbackArgs=(index, FAILURE),
            )

    def _cbDeferred(self, result, index, succeeded):
        self.resultList[index] = (succeeded, result)
        self.finishedCount += 1
        if not self.called:
            if succeeded and self.fireOnOneCallback:
                self.callback((result, index))
            elif not succeeded and self.fireOnOneErrback:
                self.errback(Failure(FirstError(result, index)))
            elif self.finishedCount == len(self.resultList):
                self.callback(self.resultList)
        if not succeeded and self.consumeErrors:
            return None
        return result

    def cancel(self):
        """
        If this list has not fired, cancel every Deferred in it (an
        exception from one canceller is logged and the others still run).
        """
        if not self.called:
            for deferred in self._deferredList:
                try:
                    deferred.cancel()
                except BaseException:
                    _log.err(None, "Exception raised from user supplied canceller")


def _valuesOnly(resultList):
    return [value for _, value in resultList]


def gatherResults(deferredList, consumeErrors=False):
    """
    Return a Deferred for the list of the results of `deferredList`, in
    order, once all have succeeded; it errbacks with a `FirstError` as
    soon as one fails.  Cancelling it cancels them all.

    `consumeErrors`: as for `DeferredList`.
    """
    d = DeferredList(deferredList, fireOnOneErrback=True, consumeErrors=consumeErrors)
    return d.addCallback(_valuesOnly)


# -- concurrency primitives -----------------------------------------------


class _ConcurrencyPrimitive:
    def __init__(self):
        self.waiting = []

    def _releaseAndReturn(self, result):
        self.release()
        return result

    def run(self, f, *args, **kwargs):
        """
        Acquire, call `f(*args, **kwargs)` (see `maybeDeferred`), and
        release once its result (Deferred or not) is in.

        Returns: a Deferred for `f`'s result.
        """
        def execute(_):
            return maybeDeferred(f, *args, **kwargs).addBoth(self._releaseAndReturn)

        return self.acquire().addCallback(execute)

    def __aenter__(self):
        return self.acquire()

    def __aexit__(self, excType, excValue, tb):
        self.release()
        return succeed(False)

    def _cancelAcquire(self, d):
        self.waiting.remove(d)


class DeferredLock(_ConcurrencyPrimitive):
    """
    A lock for event-driven code.

    `acquire` returns a Deferred that fires with the lock once it is
    held; waiters get it in order.  Usable as `async with lock:`.

    `locked`: True while held.
    """

    locked = False

    def acquire(self):
        """
        Return a Deferred that fires with this lock when it is acquired
        (at once if free).  Cancelling it leaves the queue.
        """
        d = Deferred(canceller=self._cancelAcquire)
        if self.locked:
            self.waiting.append(d)
        else:
            self.locked = True
            d.callback(self)
        return d

    def release(self):
        """
        Release the lock, handing it to the first waiter if any.
        """
        assert self.locked, "Tried to release an unlocked lock"
        self.locked = False
        if self.waiting:
            self.locked = True
            self.waiting.pop(0).callback(self)


class DeferredSemaphore(_ConcurrencyPrimitive):
    """
    A semaphore for event-driven code: at most `limit` holders at once.

    `limit`: the number of tokens.
    `tokens`: the tokens not currently held.
    """

    def __init__(self, tokens):
        """
        Raises `ValueError`: `tokens` is less than 1.
        """
        _ConcurrencyPrimitive.__init__(self)
        if tokens < 1:
            raise ValueError("DeferredSemaphore requires tokens >= 1")
        self.tokens = tokens
        self.limit = tokens

    def acquire(self):
        """
        Return a Deferred that fires with this semaphore when a token is
        taken (at once if one is free).  Cancelling it leaves the queue.
        """
        d = Deferred(canceller=self._cancelAcquire)
        if self.tokens:
            self.tokens -= 1
            d.callback(self)
        else:
            self.waiting.append(d)
        return d

    def release(self):
        """
        Return a token, handing it to the first waiter if any.
        """
        assert self.tokens < self.limit, "Someone released me too many times: too many tokens!"
        self.tokens += 1
        if self.waiting:
            self.tokens -= 1
            self.waiting.pop(0).callback(self)


class QueueOverflow(Exception):
    """
    `DeferredQueue.put` on a queue holding `size` objects.
    """


class QueueUnderflow(Exception):
    """
    `DeferredQueue.get` with `backlog` gets already waiting.
    """


class DeferredQueue:
    """
    A queue whose `get` returns a Deferred that fires with the next object.

    `size`: the most objects held at once (None: no limit).
    `backlog`: the most gets waiting at once (None: no limit).
    `pending`: objects put and not yet got.
    `waiting`: Deferreds of gets waiting for an object.
    """

    def __init__(self, size=None, backlog=None):
        self.waiting = []
        self.pending = []
        self.size = size
        self.backlog = backlog

    def _cancelGet(self, d):
        self.waiting.remove(d)

    def put(self, obj):
        """
        Give `obj` to the first waiting get, or hold it.

        Raises `QueueOverflow`: `size` objects are already held.
        """
        if self.waiting:
            self.waiting.pop(0).callback(obj)
        elif self.size is None or len(self.pending) < self.size:
            self.pending.append(obj)
        else:
            raise QueueOverflow()

    def get(self):
        """
        Return a Deferred that fires with the next object (at once if one is
        held).  Cancelling it leaves the queue.

        Raises `QueueUnderflow`: `backlog` gets are already waiting.
        """
        if self.pending:
            return succeed(self.pending.pop(0))
        if self.backlog is None or len(self.waiting) < self.backlog:
            d = Deferred(canceller=self._cancelGet)
            self.waiting.append(d)
            return d
        raise QueueUnderflow()
