"""Services: long-running parts of a program that start and stop together.

The semantics are Twisted's (`twisted.application.service`), call for call:

- `Service` has a `name`, a `parent` and a `running` flag. `privilegedStartService()` runs first
  (while the process may still hold privileges: bind low ports there), then `startService()`;
  `stopService()` may return a Deferred that fires when the service has really stopped.
- `MultiService` holds children: it starts them in the order they were added and stops them in
  reverse order; its `stopService()` returns a `DeferredList` over every child's stop, so it
  fires only once all of them have stopped. A child added while the collection is running is
  started at once; a child removed while it runs is stopped (and its stop's result returned).
- `Application(name)` is the root a program hands to a runner (`fastreactor serve`): a
  `MultiService` with a name and optional uid/gid, without Twisted's componentized persistence.

Services are duck-typed: anything with the methods of `Service` can be a child.
"""
from fastreactor import defer

__all__ = ["Service", "MultiService", "Application", "IServiceCollection"]


class Service:
    """The base class of a service: bookkeeping of `name`, `parent` and `running`.

    Subclasses override `privilegedStartService`, `startService` and `stopService`, calling the
    base method so that `running` stays right. `stopService` may return a Deferred.
    """

    running = 0
    name = None
    parent = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("running", None)
        return state

    def setName(self, name):
        """Set `name`; RuntimeError once the service has a parent (the parent indexes it by name)."""
        if self.parent is not None:
            raise RuntimeError("cannot change name when parent exists")
        self.name = name

    def setServiceParent(self, parent):
        """Make `parent` (a service collection) this service's parent, leaving any former parent
        first. RuntimeError (from `parent.addService`) if `parent` already has a child of this
        service's name."""
        if self.parent is not None:
            self.disownServiceParent()
        if not callable(getattr(parent, "addService", None)):
            raise TypeError("setServiceParent: %r is not a service collection (it has no "
                            "addService(); use a fastreactor.service.MultiService)" % (parent,))
        self.parent = parent
        self.parent.addService(self)

    def disownServiceParent(self):
        """Leave the parent; returns what `parent.removeService` returns (the result of
        `stopService()`, possibly a Deferred, if the parent was running, else None)."""
        d = self.parent.removeService(self)
        self.parent = None
        return d

    def privilegedStartService(self):
        """Do the part of starting that needs privileges (binding a low port). Nothing here."""

    def startService(self):
        """Start: sets `running`."""
        self.running = 1

    def stopService(self):
        """Stop: clears `running`. Subclasses may return a Deferred that fires once stopped."""
        self.running = 0


class IServiceCollection:
    """The methods a service collection provides (documentation only; `MultiService` is one):
    `getServiceNamed(name)`, iteration over the children, `addService(service)`,
    `removeService(service)`."""


class MultiService(Service):
    """A service holding child services, started in order and stopped in reverse order.

    No child waits for another to start or stop, but `stopService()` returns a Deferred
    (a `DeferredList` of every child's `stopService` result, each through `maybeDeferred`)
    that fires only once every child has stopped.
    """

    def __init__(self):
        self.services = []
        self.namedServices = {}
        self.parent = None

    def privilegedStartService(self):
        """privilegedStartService on itself, then on each child in order."""
        Service.privilegedStartService(self)
        for service in self:
            service.privilegedStartService()

    def startService(self):
        """startService on itself, then on each child in order."""
        Service.startService(self)
        for service in self:
            service.startService()

    def stopService(self):
        """stopService on itself, then on each child in reverse order; a Deferred firing (with
        the DeferredList's result) when all of them have stopped."""
        Service.stopService(self)
        stops = []
        for service in reversed(list(self)):
            stops.append(defer.maybeDeferred(service.stopService))
        return defer.DeferredList(stops)

    def getServiceNamed(self, name):
        """The child named `name`; KeyError if there is none."""
        return self.namedServices[name]

    def __iter__(self):
        return iter(self.services)

    def addService(self, service):
        """Add a child. RuntimeError if another child has its name. If this collection is
        running, the child is started at once (privilegedStartService, then startService)."""
        if service.name is not None:
            if service.name in self.namedServices:
                raise RuntimeError("cannot have two services with same name '%s'" % service.name)
            self.namedServices[service.name] = service
        self.services.append(service)
        if self.running:
            service.privilegedStartService()
            service.startService()

    def removeService(self, service):
        """Remove a child (ValueError if it is not one). If this collection is running, the
        child is stopped and its stopService result returned; else None."""
        if service.name:
            del self.namedServices[service.name]
        self.services.remove(service)
        if self.running:
            return service.stopService()
        return None


class Application(MultiService):
    """The root of a program's services: a named `MultiService` with optional `uid`/`gid`
    (the user and group a runner may switch to after privilegedStartService; None leaves them).

    Twisted's `Application()` returns a componentized object to be adapted with `IService(...)`;
    this one is the service itself (`IService(app)` style casts are not needed).
    """

    processName = None

    def __init__(self, name, uid=None, gid=None):
        MultiService.__init__(self)
        self.setName(name)
        self.uid = uid
        self.gid = gid

    def __repr__(self):
        return "<fastreactor.service.Application %r>" % (self.name,)
