"""The comparison every differential test makes: one scenario run on Twisted's epoll reactor (the
oracle) and on a fastreactor face, the two traces split per actor and compared."""
from faces import by_actor, twisted_face
from tracing import run_traced


def compare(scenario, face, actor, timeout=5.0):
    """Run `scenario` (see tracing.run_traced) on Twisted's EPollReactor and on `face`; each
    actor's sequence (`actor(entry)` names who an entry is about) must be identical, and so must
    the set of actors, and Twisted's run must have finished. Returns fastreactor's trace."""
    expected = run_traced(twisted_face(), scenario, timeout)
    actual = run_traced(face, scenario, timeout)
    assert "TIMEOUT" not in expected, expected
    assert by_actor(actual, actor) == by_actor(expected, actor)
    return actual
