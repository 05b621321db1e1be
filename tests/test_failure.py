"""
fastreactor.failure.Failure, mostly against twisted.python.failure.Failure:
the same scenario on both, the same observable results.
"""

import pickle
import sys
import traceback
from io import StringIO

import pytest

from fastreactor import failure as ffailure
from fastreactor.failure import Failure, NoCurrentExceptionError

tfailure = pytest.importorskip("twisted.python.failure")
TFailure = tfailure.Failure

IMPLS = [Failure, TFailure]


class Custom(Exception):
    pass


class SubCustom(Custom):
    pass


def raiseValueError():
    raise ValueError("boom")


def captured(impl, func=raiseValueError):
    try:
        func()
    except BaseException:
        return impl()
    raise AssertionError("func did not raise")


def normalise(text, impl):
    """Replace the failure class's own name so two implementations compare."""
    return text.replace(ffailure.qual(impl), "FAILURE")


def textOf(f, detail):
    """The traceback text, without the serial number verbose text shows."""
    return f.getTraceback(detail=detail).replace("#%d " % f.count, "#N ")


@pytest.fixture(params=["fast", "twisted"])
def impl(request):
    return Failure if request.param == "fast" else TFailure


# -- construction ---------------------------------------------------------


def test_no_current_exception():
    with pytest.raises(NoCurrentExceptionError):
        Failure()
    with pytest.raises(tfailure.NoCurrentExceptionError):
        TFailure()


def test_failure_is_a_base_exception_not_an_exception():
    assert issubclass(Failure, BaseException) == issubclass(TFailure, BaseException)
    assert not issubclass(Failure, Exception)


def test_capture_current_exception(impl):
    f = captured(impl)
    assert f.type is ValueError
    assert isinstance(f.value, ValueError)
    assert f.tb is not None
    assert f.value.__traceback__ is f.tb
    assert [fr[0] for fr in f.frames] == ["captured", "raiseValueError"]


@pytest.mark.parametrize("construct", [
    lambda impl: impl(KeyError("k")),
    lambda impl: impl(KeyError("k"), KeyError),
    lambda impl: impl(KeyError("k"), LookupError),
    lambda impl: impl("a string", KeyError),
    lambda impl: impl(KeyboardInterrupt()),
    lambda impl: impl(Custom(b"bytes \xc3\xa9")),
    lambda impl: impl(Custom(1, 2)),
])
def test_construction_matches_twisted(construct):
    ours, theirs = construct(Failure), construct(TFailure)
    assert ours.type is theirs.type
    assert type(ours.value) is type(theirs.value)
    assert ours.tb is None and theirs.tb is None
    assert ours.frames == theirs.frames == []
    assert ours.parents == theirs.parents
    assert ours.getErrorMessage() == theirs.getErrorMessage()
    assert normalise(repr(ours), Failure) == normalise(repr(theirs), TFailure)
    assert str(ours) == str(theirs)
    for detail in ("default", "brief", "verbose"):
        assert textOf(ours, detail) == textOf(theirs, detail)


def test_raised_exception_keeps_its_traceback(impl):
    try:
        raiseValueError()
    except ValueError as e:
        exc = e
    f = impl(exc)
    assert f.tb is exc.__traceback__
    assert len(f.frames) == 2


def test_explicit_traceback_wins():
    try:
        raiseValueError()
    except ValueError:
        tb = sys.exc_info()[2]
    f = Failure(KeyError("x"), KeyError, tb)
    assert f.tb is tb
    assert f.frames[-1][0] == "raiseValueError"


def test_failure_of_a_failure_copies_it(impl):
    inner = captured(impl)
    outer = impl(inner)
    assert outer.type is ValueError
    assert outer.value is inner.value
    assert outer.tb is inner.tb


def test_construction_from_instance_is_lazy():
    # Failure(exc) must not walk frames or format anything.
    calls = []

    class Watched(Exception):
        def __str__(self):
            calls.append("str")
            return "watched"

        def __repr__(self):
            calls.append("repr")
            return "Watched()"

    f = Failure(Watched())
    assert calls == []
    assert f._frames is None and f._parents is None
    assert f.tb is None
    assert "tb" not in f.__dict__
    assert f.getErrorMessage() == "watched"
    assert calls == ["str"]


# -- check / trap ---------------------------------------------------------


@pytest.mark.parametrize("errorTypes", [
    (SubCustom,),
    (Custom,),
    (Exception,),
    (BaseException,),
    (ValueError,),
    (ValueError, Custom),
    (Custom, SubCustom),
    (__name__ + ".Custom",),
    ("builtins.Exception",),
    ("builtins.ValueError", SubCustom),
    (),
])
def test_check_matches_twisted(errorTypes):
    ours = Failure(SubCustom("x"))
    theirs = TFailure(SubCustom("x"))
    assert ours.check(*errorTypes) == theirs.check(*errorTypes)


@pytest.mark.parametrize("errorTypes", [
    (KeyboardInterrupt,), (BaseException,), (Exception,), (SystemExit,),
])
def test_check_base_exception_matches_twisted(errorTypes):
    # Twisted matches a non-Exception type by identity only.
    assert Failure(KeyboardInterrupt()).check(*errorTypes) == TFailure(
        KeyboardInterrupt()
    ).check(*errorTypes)


def test_trap_returns_match(impl):
    f = impl(SubCustom("x"))
    assert f.trap(ValueError, Custom) is Custom


def test_trap_reraises_the_exception_itself(impl):
    f = captured(impl)
    with pytest.raises(ValueError) as info:
        f.trap(KeyError)
    assert info.value is f.value
    # The original frames are still the tail of the traceback.
    names = [fs.name for fs in traceback.extract_tb(info.value.__traceback__)]
    assert names[-1] == "raiseValueError"


def test_raise_exception(impl):
    f = captured(impl)
    with pytest.raises(ValueError) as info:
        f.raiseException()
    assert info.value is f.value
    names = [fs.name for fs in traceback.extract_tb(info.value.__traceback__)]
    assert names[-2:] == ["captured", "raiseValueError"]


def test_throw_into_generator(impl):
    seen = []

    def gen():
        try:
            yield 1
        except ValueError as e:
            seen.append(e)
            yield 2

    g = gen()
    next(g)
    f = impl(ValueError("x"))
    assert f.throwExceptionIntoGenerator(g) == 2
    assert seen == [f.value]


# -- text -----------------------------------------------------------------


def test_traceback_text_matches_twisted():
    ours, theirs = captured(Failure), captured(TFailure)
    for detail in ("default", "brief", "verbose"):
        assert textOf(ours, detail) == textOf(theirs, detail)
    assert str(ours) == str(theirs)
    assert normalise(repr(ours), Failure) == normalise(repr(theirs), TFailure)


def test_traceback_text_shape():
    text = captured(Failure).getTraceback()
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert 'in raiseValueError' in lines[-3]
    assert lines[-2].strip() == 'raise ValueError("boom")'
    assert lines[-1] == "builtins.ValueError: boom"


def test_verbose_with_captured_vars():
    def f():
        localName = "local value"  # noqa: F841
        raise ValueError("v")

    try:
        f()
    except ValueError:
        ours = Failure(captureVars=True)
    text = ours.getTraceback(detail="verbose")
    assert "[ Locals ]" in text
    assert "localName : 'local value'" in text


def test_bad_detail():
    with pytest.raises(ValueError):
        captured(Failure).getTraceback(detail="nonsense")


def test_print_traceback_defaults_to_stderr(capsys):
    Failure(ValueError("to stderr")).printTraceback()
    assert "builtins.ValueError: to stderr" in capsys.readouterr().err


def test_print_traceback_to_file():
    out = StringIO()
    Failure(ValueError("x")).printBriefTraceback(out)
    assert out.getvalue() == "Traceback (failure with no frames): <class 'ValueError'>: x\n"


def test_broken_str():
    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no str for you")

    text = Failure(Broken()).getErrorMessage()
    assert "Broken instance at 0x" in text and "str error" in text


def test_chained_failure_message(impl):
    # A Failure whose value is itself a Failure (Twisted allows it with an
    # explicit type) reports the inner message.
    inner = impl(ValueError("inner"))
    outer = impl(inner, ValueError)
    assert outer.getErrorMessage() == "inner"


# -- cleaning and pickling ------------------------------------------------


def test_clean_failure_matches_twisted():
    ours, theirs = captured(Failure), captured(TFailure)
    ours.cleanFailure()
    theirs.cleanFailure()
    for f in (ours, theirs):
        assert f.tb is None
        assert f.value.__traceback__ is None
        assert f.pickled
    assert [tuple(fr) for fr in ours.frames] == [tuple(fr) for fr in theirs.frames]
    assert ours.getTraceback() == theirs.getTraceback()
    tbOurs = traceback.extract_tb(ours.getTracebackObject())
    tbTheirs = traceback.extract_tb(theirs.getTracebackObject())
    assert [(s.name, s.filename) for s in tbOurs] == [(s.name, s.filename) for s in tbTheirs]


def test_traceback_object():
    assert Failure(ValueError()).getTracebackObject() is None
    f = captured(Failure)
    assert f.getTracebackObject() is f.tb


def test_pickle_round_trip():
    f = captured(Failure)
    g = pickle.loads(pickle.dumps(f))
    assert type(g) is Failure
    assert g.type is ValueError
    assert str(g.value) == "boom"
    assert g.tb is None and g.pickled
    assert g.check(ValueError) is ValueError
    assert [fr[0] for fr in g.frames] == ["captured", "raiseValueError"]
    assert g.getTraceback() == f.getTraceback()


def test_public_names_have_docstrings():
    for name in ffailure.__all__:
        assert getattr(ffailure, name).__doc__
    for name in ("check", "trap", "raiseException", "getErrorMessage",
                 "getTraceback", "printTraceback", "cleanFailure",
                 "getTracebackObject"):
        assert getattr(Failure, name).__doc__, name
