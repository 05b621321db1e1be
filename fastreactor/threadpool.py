"""A bounded pool of worker threads (the API of Twisted's twisted.python.threadpool.ThreadPool)."""
import logging
import queue
import threading

_logger = logging.getLogger("fastreactor")
_STOP = object()
_RETIRE = object()      # wakes an idle worker so it can leave if the pool has more than `max`


def _check_bounds(minthreads, maxthreads):
    """ValueError unless 0 <= `minthreads` <= `maxthreads` (the messages of Twisted's ThreadPool assertions)."""
    if minthreads < 0:
        raise ValueError("minimum is negative")
    if minthreads > maxthreads:
        raise ValueError("minimum is greater than maximum")


class ThreadPool:
    """Runs callables in at most `maxthreads` worker threads, started on demand.

    Work queued before start() runs once the pool starts; stop() lets queued work finish, then
    joins every worker.
    """

    def __init__(self, minthreads=0, maxthreads=10, name=None):
        _check_bounds(minthreads, maxthreads)
        self.min = minthreads
        self.max = maxthreads
        self.name = name
        self.threads = []
        self.started = False
        self.joined = False
        self._queue = queue.SimpleQueue()
        self._pending = 0
        self._idle = 0
        self._lock = threading.Lock()

    def start(self):
        """Start the workers needed for the queued work (and at least `min`)."""
        self.joined = False
        self.started = True
        self.adjustPoolsize()

    def callInThread(self, func, *args, **kw):
        """Run `func(*args, **kw)` in a worker thread; exceptions are logged."""
        self.callInThreadWithCallback(None, func, *args, **kw)

    def callInThreadWithCallback(self, onResult, func, *args, **kw):
        """Run `func(*args, **kw)` in a worker, then `onResult(True, result)` or
        `onResult(False, Failure)` in that same worker thread."""
        if self.joined:
            return
        if not callable(func):
            raise TypeError("callInThread needs a callable, got %r" % (func,))
        with self._lock:
            self._pending += 1
        self._queue.put((onResult, func, args, kw))
        if self.started:
            self._maybe_grow()

    def _maybe_grow(self):
        with self._lock:
            need = self._pending > self._idle and len(self.threads) < self.max
            if need:
                self._idle += 1     # the new thread counts as idle until it takes work
                name = "%s-%d" % (self.name or "PoolThread", len(self.threads) + 1)
                thread = threading.Thread(target=self._worker, name=name, daemon=True)
                self.threads.append(thread)
        if need:
            thread.start()

    def _should_retire(self, thread):
        """Called with the lock held: leave the pool if it has more workers than `max`."""
        if self.joined or len(self.threads) <= self.max:
            return False
        self.threads.remove(thread)
        return True

    def _worker(self):
        from fastreactor.failure import Failure
        me = threading.current_thread()
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if item is _RETIRE:
                with self._lock:
                    if self._should_retire(me):
                        break
                continue
            with self._lock:
                self._idle -= 1
                self._pending -= 1
            onResult, func, args, kw = item
            try:
                result = func(*args, **kw)
                ok = True
            except BaseException:
                ok = False
                result = Failure()
                if onResult is None:
                    _logger.error("Unhandled error in a thread pool call", exc_info=True)
            if onResult is not None:
                try:
                    onResult(ok, result)
                except BaseException:
                    _logger.error("Unhandled error in a thread pool result callback", exc_info=True)
            del item, func, args, kw, result, onResult
            with self._lock:
                if self._should_retire(me):
                    return      # busy, so not counted as idle
                self._idle += 1
        with self._lock:
            self._idle -= 1

    def adjustPoolsize(self, minthreads=None, maxthreads=None):
        """Change the bounds; starts workers for queued work up to the new maximum."""
        if minthreads is None:
            minthreads = self.min
        if maxthreads is None:
            maxthreads = self.max
        _check_bounds(minthreads, maxthreads)
        self.min = minthreads
        self.max = maxthreads
        if not self.started:
            return
        while len(self.threads) < self.min:
            with self._lock:
                self._idle += 1
                thread = threading.Thread(target=self._worker, daemon=True,
                                          name="%s-%d" % (self.name or "PoolThread", len(self.threads) + 1))
                self.threads.append(thread)
            thread.start()
        for _ in range(len(self.threads) - self.max):
            self._queue.put(_RETIRE)    # idle workers leave now, busy ones after their task
        for _ in range(min(self._pending, self.max)):
            self._maybe_grow()

    def stop(self):
        """Finish the queued work, then stop and join every worker."""
        with self._lock:
            self.joined = True
            self.started = False
            threads = list(self.threads)
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
        self.threads = []
