"""fastreactor.service against twisted.application.service: the same call sequences on both,
with the same traces (order of start/stop calls, `running` flags, results, errors)."""
import pytest

from twisted.application import service as t_service
from twisted.internet import defer as t_defer

from fastreactor import defer as f_defer
from fastreactor import service as f_service

FACES = {
    "twisted": (t_service, t_defer),
    "fastreactor": (f_service, f_defer),
}


def make_traced(svc, dfr, trace):
    """A Service subclass of `svc` recording every call in `trace`; `stops` holds, per name,
    a Deferred its stopService returns (None: return None)."""

    class Traced(svc.Service):
        stopResult = None

        def __init__(self, name):
            self.setName(name)

        def privilegedStartService(self):
            trace.append(("priv", self.name, bool(self.running)))
            svc.Service.privilegedStartService(self)

        def startService(self):
            trace.append(("start", self.name, bool(self.running)))
            svc.Service.startService(self)

        def stopService(self):
            trace.append(("stop", self.name, bool(self.running)))
            svc.Service.stopService(self)
            if self.stopResult == "deferred":
                self.pending = dfr.Deferred()
                return self.pending
            if self.stopResult == "raise":
                raise RuntimeError("stop failed: " + self.name)
            return None

    return Traced


def outcome(d, trace, label):
    """Trace how Deferred (or plain value) `d` fires, normalising Failures to their type."""
    if not hasattr(d, "addBoth"):
        trace.append((label, "value", d))
        return

    def fired(result):
        if hasattr(result, "check"):
            trace.append((label, "failure", result.type.__name__))
            return None
        if isinstance(result, list):
            result = [(ok, (v.type.__name__ if hasattr(v, "check") else v)) for ok, v in result]
        trace.append((label, "fired", result))
        return None

    d.addBoth(fired)
    trace.append((label, "returned deferred"))


def attempt(trace, label, f, *args):
    try:
        result = f(*args)
    except Exception as e:
        trace.append((label, "raised", type(e).__name__, str(e)))
        return None
    return result


def scenario_lifecycle(svc, dfr):
    trace = []
    Traced = make_traced(svc, dfr, trace)
    root = svc.MultiService()
    a, b, c = Traced("a"), Traced("b"), Traced("c")
    b.stopResult = "deferred"
    for s in (a, b, c):
        s.setServiceParent(root)
    trace.append(("children", [s.name for s in root]))
    root.privilegedStartService()
    root.startService()
    trace.append(("running", bool(root.running), [bool(s.running) for s in root]))
    d = root.stopService()
    outcome(d, trace, "root stop")
    trace.append(("after stop call", bool(root.running), [bool(s.running) for s in root]))
    b.pending.callback("b done")
    trace.append(("end", bool(root.running)))
    return trace


def scenario_dynamic(svc, dfr):
    trace = []
    Traced = make_traced(svc, dfr, trace)
    root = svc.MultiService()
    a = Traced("a")
    a.setServiceParent(root)
    root.startService()
    late = Traced("late")
    late.setServiceParent(root)        # started at once: priv, then start
    late.stopResult = "deferred"
    d = attempt(trace, "disown", late.disownServiceParent)
    outcome(d, trace, "disown late")
    late.pending.callback(None)
    trace.append(("late parent", late.parent is None, bool(late.running)))
    dup = Traced("a")
    attempt(trace, "duplicate", dup.setServiceParent, root)
    attempt(trace, "rename", a.setName, "z")
    attempt(trace, "getServiceNamed", root.getServiceNamed, "nope")
    trace.append(("named", root.getServiceNamed("a") is a))
    other = svc.MultiService()
    a.setServiceParent(other)          # leaves root (stopped: root is running), joins other
    trace.append(("moved", a.parent is other, [s.name for s in root], [s.name for s in other]))
    r = attempt(trace, "remove non-child", root.removeService, Traced("x"))
    trace.append(("remove result", r))
    return trace


def scenario_errors_in_stop(svc, dfr):
    trace = []
    Traced = make_traced(svc, dfr, trace)
    root = svc.MultiService()
    a, b = Traced("a"), Traced("b")
    a.stopResult = "raise"
    a.setServiceParent(root)
    b.setServiceParent(root)
    root.startService()
    d = root.stopService()
    outcome(d, trace, "root stop")
    if hasattr(d, "addErrback"):
        d.addErrback(lambda f: None)
    return trace


def scenario_nested_and_unnamed(svc, dfr):
    trace = []
    Traced = make_traced(svc, dfr, trace)
    root = svc.MultiService()
    inner = svc.MultiService()
    inner.setName("inner")
    inner.setServiceParent(root)
    x, y = Traced("x"), Traced("y")
    x.setServiceParent(inner)
    unnamed = Traced(None)
    unnamed.setServiceParent(root)
    y.setServiceParent(inner)
    y.stopResult = "deferred"
    root.privilegedStartService()
    root.startService()
    d = root.stopService()
    outcome(d, trace, "root stop")
    trace.append(("waiting", "root stop fired" in str(trace)))
    y.pending.callback("y")
    trace.append(("state", bool(root.running), bool(inner.running), bool(x.running)))
    unnamed.disownServiceParent()
    trace.append(("after disown unnamed", [s.name for s in root]))
    return trace


def scenario_plain_service(svc, dfr):
    trace = []
    s = svc.Service()
    trace.append(("initial", s.name, s.parent, s.running))
    s.setName("n")
    s.startService()
    trace.append(("started", s.running))
    trace.append(("stop returns", s.stopService()))
    trace.append(("stopped", s.running))
    s.startService()
    trace.append(("state has no running", "running" in s.__getstate__()))
    return trace


SCENARIOS = [scenario_lifecycle, scenario_dynamic, scenario_errors_in_stop,
             scenario_nested_and_unnamed, scenario_plain_service]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_same_trace_as_twisted(scenario):
    twisted_trace = scenario(*FACES["twisted"])
    ours = scenario(*FACES["fastreactor"])
    assert ours == twisted_trace
    assert len(ours) >= 3


def test_lifecycle_order_explicitly():
    """Beyond equality with Twisted: children start in order and stop in reverse, and the root's
    stop waits for the slow child."""
    trace = scenario_lifecycle(f_service, f_defer)
    starts = [e[1] for e in trace if e[0] == "start"]
    stops = [e[1] for e in trace if e[0] == "stop"]
    assert starts == ["a", "b", "c"]
    assert stops == ["c", "b", "a"]
    fired = [i for i, e in enumerate(trace) if e[:2] == ("root stop", "fired")]
    callback_point = trace.index(("end", False))
    assert fired and fired[0] < callback_point
    assert trace[fired[0]][2] == [(True, None), (True, "b done"), (True, None)]
    # It fired only after b's Deferred fired: not before the "after stop call" entry.
    assert fired[0] > trace.index(("after stop call", False, [False, False, False]))


def test_application_root():
    app = f_service.Application("myapp", uid=None, gid=None)
    assert app.name == "myapp" and app.uid is None and app.gid is None
    child = f_service.Service()
    child.setName("c")
    child.setServiceParent(app)
    app.privilegedStartService()
    app.startService()
    assert child.running
    results = []
    app.stopService().addCallback(results.append)
    assert results == [[(True, None)]] and not child.running


def test_set_service_parent_refuses_a_non_collection():
    with pytest.raises(TypeError, match="addService"):
        f_service.Service().setServiceParent(object())
