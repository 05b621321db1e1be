"""Running Twisted's ReactorBuilder test suites on FastReactor.

Twisted's ReactorBuilder points the global reactor at each reactor it builds by assigning the
global reactor's `__class__` and `__dict__`. That cannot work for a reactor whose state lives in a
compiled base class (CPython refuses the `__class__` assignment between layouts, and a shared
`__dict__` would not share the C state). `builder_for_fastreactor` makes a subclass of a built test
class that points `twisted.internet.reactor` (the module attribute and `sys.modules` entry, which
is where Twisted's own code looks the global reactor up) at the reactor under test instead, and
undoes it afterwards.
"""
import sys

from twisted.python.deprecate import _fullyQualifiedName
from twisted.trial.unittest import SkipTest


class FastReactorBuilderMixin:
    """Put before a ReactorBuilder TestCase class: buildReactor() without the __class__ swap."""

    def buildReactor(self):
        """A new reactor from reactorFactory, installed as the global reactor until the test ends.
        SkipTest if it lacks one of requiredInterfaces."""
        import twisted.internet
        reactor = self.reactorFactory()
        if self.requiredInterfaces is not None:
            missing = [i for i in self.requiredInterfaces if not i.providedBy(reactor)]
            if missing:
                self._tearDownReactor(reactor)
                raise SkipTest("%s does not provide %s" % (
                    _fullyQualifiedName(type(reactor)), ",".join(_fullyQualifiedName(i) for i in missing)))
        previous = sys.modules.get("twisted.internet.reactor"), getattr(twisted.internet, "reactor", None)
        sys.modules["twisted.internet.reactor"] = twisted.internet.reactor = reactor
        self.addCleanup(self._unbuildFastReactor, reactor, previous)
        return reactor

    def _unbuildFastReactor(self, reactor, previous):
        import twisted.internet
        self._tearDownReactor(reactor)
        module, attribute = previous
        if module is None:
            sys.modules.pop("twisted.internet.reactor", None)
        else:
            sys.modules["twisted.internet.reactor"] = module
        twisted.internet.reactor = attribute

    @staticmethod
    def _tearDownReactor(reactor):
        """What Twisted's _unbuildReactor does, minus restoring a swapped class, then close it."""
        reactor._uninstallHandler()
        reactor.disconnectAll()
        for call in reactor.getDelayedCalls():
            call.cancel()
        # Release the poller and wakers now (the test case keeps the reactor alive until the run
        # ends; hundreds of open pollers would exhaust descriptors and the select poller's limit).
        reactor.close()


def builder_for_fastreactor(testcase_class):
    """A subclass of `testcase_class` (made by ReactorBuilder.makeTestCaseClasses) using
    FastReactorBuilderMixin, with the same name."""
    return type(testcase_class.__name__, (FastReactorBuilderMixin, testcase_class),
                {"__module__": testcase_class.__module__, "__qualname__": testcase_class.__qualname__})
