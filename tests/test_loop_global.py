"""The global reactor: one object, made on first access; importing fastreactor opens nothing."""
import os
import subprocess
import tempfile
import sys
import textwrap

import pytest

import fastreactor


def run_python(code):
    """Run `code` in a fresh interpreter; return its stdout (fail on a non-zero exit)."""
    # From a neutral directory: `python -c` puts the working directory first on sys.path, and
    # the source tree must not shadow the installed package.
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, cwd=tempfile.gettempdir())
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_importing_fastreactor_opens_no_descriptors_and_the_reactor_does_on_first_access():
    out = run_python("""
        import os
        count = lambda: len(os.listdir("/proc/self/fd"))
        before = count()
        import fastreactor
        import fastreactor.protocol, fastreactor.defer, fastreactor.error, fastreactor.failure
        after_import = count()
        from fastreactor import reactor
        after_access = count()
        print(before, after_import, after_access)
    """)
    before, after_import, after_access = map(int, out.split())
    assert after_import == before
    assert after_access > after_import


def test_the_global_reactor_is_one_object():
    out = run_python("""
        import fastreactor
        from fastreactor import reactor
        from fastreactor import reactor as again
        assert reactor is again is fastreactor.reactor
        assert isinstance(reactor, fastreactor.Reactor)
        print("ok")
    """)
    assert out.strip() == "ok"


def test_the_global_reactor_runs_and_stops():
    out = run_python("""
        from fastreactor import reactor
        reactor.callWhenRunning(print, "running")
        reactor.callLater(0.01, reactor.stop)
        reactor.run()
        print("stopped")
    """)
    assert out.split() == ["running", "stopped"]


def test_the_global_reactor_respects_the_environment_variable():
    poller = fastreactor.available_pollers()[-1]
    env = dict(os.environ, FASTREACTOR_POLLER=poller)
    done = subprocess.run([sys.executable, "-c", "from fastreactor import reactor; print(reactor.poller.name)"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tempfile.gettempdir())
    assert done.stdout.strip() == poller, done.stderr


def test_an_unknown_module_attribute_is_an_AttributeError():
    with pytest.raises(AttributeError):
        fastreactor.no_such_thing
