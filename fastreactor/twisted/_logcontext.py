"""Twisted's per-descriptor log context ("system"), given lazily.

Twisted's reactors run every doRead/doWrite inside log.callWithLogger(selectable, ...), which
pushes {"system": selectable.logPrefix()} as the ILogContext, so a log.msg() in dataReceived is
tagged with the connection it came from. Pushing a context per read would cost more than the read
itself, so FastReactor does not: the engine only remembers which handle it is dispatching, and the
default ILogContext is replaced by a dict that asks, when (and only when) someone reads it, which
descriptor this thread's running FastReactor is dispatching. Outside a dispatch it reads as
Twisted's default, {"system": "-"}.
"""
import threading

from twisted.python import context
from twisted.python.log import ILogContext

from fastreactor import _core

_running = threading.local()    # .reactor: the FastReactor iterating in this thread, if any


def _current_system():
    """The "system" of the descriptor this thread's FastReactor is dispatching, else None."""
    reactor = getattr(_running, "reactor", None)
    if reactor is None:
        return None
    handle = reactor._dispatchingHandle()
    if handle is None:
        return None
    if isinstance(handle, _core.SelectableHandle):
        handle = handle.selectable
    try:
        return handle.logPrefix()
    except KeyboardInterrupt:
        raise
    except BaseException:
        return "(buggy logPrefix method)"     # Twisted's words for this case


class DispatchLogContext(dict):
    """The default ILogContext: {"system": "-"}, except that "system" is the dispatched
    descriptor's logPrefix() while a FastReactor in this thread runs one's callback."""

    def __getitem__(self, key):
        if key == "system":
            system = _current_system()
            if system is not None:
                return system
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        if key == "system":
            system = _current_system()
            if system is not None:
                return system
        return dict.get(self, key, default)

    def copy(self):
        snapshot = dict(self)
        system = _current_system()
        if system is not None:
            snapshot["system"] = system
        return snapshot


def install_dispatch_log_context():
    """Make the default ILogContext a DispatchLogContext (once; keeps the current values)."""
    current = context.defaultContextDict.get(ILogContext)
    if not isinstance(current, DispatchLogContext):
        context.defaultContextDict[ILogContext] = DispatchLogContext(current or {"system": "-"})


class running_in_this_thread:
    """Context manager: `reactor` is the FastReactor iterating in this thread meanwhile."""

    __slots__ = ("reactor", "outer")

    def __init__(self, reactor):
        self.reactor = reactor

    def __enter__(self):
        self.outer = getattr(_running, "reactor", None)
        _running.reactor = self.reactor

    def __exit__(self, *exc_info):
        _running.reactor = self.outer
