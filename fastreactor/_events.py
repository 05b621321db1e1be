"""System event triggers (startup/shutdown) with Twisted's three phases: before, during, after.

A `before` trigger may return a Deferred: the `during` and `after` triggers wait until every such
Deferred has fired.
"""
import warnings

from fastreactor import _core

PHASES = ("before", "during", "after")


class ThreePhaseEvent:
    """The triggers of one event type, fired in order: before, during, after."""

    def __init__(self, deferred_types, log_error):
        """`deferred_types` is the face's (Deferred, DeferredList); `log_error(why)` logs the
        exception being handled (the face's api.logError: the 'fastreactor' logger natively,
        twisted.python.log.err on the Twisted face, as Twisted's reactors do)."""
        self.before = []
        self.during = []
        self.after = []
        self.state = "BASE"
        self.finishedBefore = []
        self._Deferred, self._DeferredList = deferred_types
        self._logError = log_error

    def _reportTriggerError(self, callable):
        """Log the exception a trigger raised (inside the except block), never raising."""
        try:
            self._logError("While calling system event trigger handler %s" % (_core.safe_repr(callable),))
        except Exception:
            pass

    def addTrigger(self, phase, callable, *args, **kwargs):
        """Add `callable(*args, **kwargs)` to `phase`; returns a handle for removeTrigger."""
        if phase not in PHASES:
            raise KeyError("invalid phase %r: expected one of %s" % (phase, ", ".join(PHASES)))
        getattr(self, phase).append((callable, args, kwargs))
        return (phase, callable, args, kwargs)

    def removeTrigger(self, handle):
        """Remove a trigger by the handle addTrigger returned (ValueError if it is not there)."""
        try:
            phase, callable, args, kwargs = handle
        except (TypeError, ValueError):
            raise ValueError("invalid trigger handle") from None
        if phase not in PHASES:
            raise KeyError("invalid phase")
        if self.state == "BEFORE" and phase == "before" and (callable, args, kwargs) in self.finishedBefore:
            warnings.warn("Removing already-fired system event triggers will raise an exception "
                          "in a future version.", category=DeprecationWarning, stacklevel=3)
            return
        getattr(self, phase).remove((callable, args, kwargs))

    def fireEvent(self):
        """Run the before triggers, then (once their Deferreds fired) the during and after ones."""
        self.state = "BEFORE"
        self.finishedBefore = []
        waiting = []
        while self.before:
            trigger = self.before.pop(0)
            self.finishedBefore.append(trigger)
            callable, args, kwargs = trigger
            try:
                result = callable(*args, **kwargs)
            except Exception:
                self._reportTriggerError(callable)
                continue
            if isinstance(result, self._Deferred):
                waiting.append(result)
        self._DeferredList(waiting).addCallback(self._continueFiring)

    def _continueFiring(self, ignored):
        self.state = "BASE"
        self.finishedBefore = []
        for phase in (self.during, self.after):
            while phase:
                callable, args, kwargs = phase.pop(0)
                try:
                    callable(*args, **kwargs)
                except Exception:
                    self._reportTriggerError(callable)
