"""
Failure: an exception captured so it can travel through callbacks.

Modelled on `twisted.python.failure.Failure`; no dependency on Twisted.

A reactor builds a Failure for every connection it closes
(`Failure(ConnectionDone())`), so building one from an exception instance
does no frame walking and no formatting: frames, parents and text are all
computed on first use.
"""

import linecache
import sys
from io import StringIO

__all__ = ["Failure", "NoCurrentExceptionError", "DefaultException"]

_count = 0


class DefaultException(Exception):
    """
    Kept for code that names it; nothing here raises it.
    """


class NoCurrentExceptionError(Exception):
    """
    Raised by `Failure()` (no arguments) when no exception is being handled.
    """


def qual(cls):
    """
    Return `module.name` for a class, the way Twisted names exception types
    in tracebacks and in `Failure.check`.
    """
    return cls.__module__ + "." + cls.__name__


def safe_str(obj):
    """
    Return `str(obj)` (UTF-8 bytes are decoded), or a description of the
    error if `str` raised.
    """
    if isinstance(obj, bytes):
        try:
            return obj.decode("utf-8")
        except BaseException:
            pass
    try:
        return str(obj)
    except BaseException as e:
        return _brokenText(obj, "str", e)


def safe_repr(obj):
    """
    Return `repr(obj)`, or a description of the error if `repr` raised.
    """
    try:
        return repr(obj)
    except BaseException as e:
        return _brokenText(obj, "repr", e)


def _brokenText(obj, how, exc):
    try:
        className = type(obj).__name__
    except BaseException:
        className = "<BROKEN CLASS>"
    return "<%s instance at 0x%x with %s error:\n %s: %s>" % (
        className,
        id(obj),
        how,
        type(exc).__name__,
        exc,
    )


def _formatFrames(frames, write, detail):
    if detail not in ("default", "brief", "verbose", "verbose-vars-not-captured"):
        raise ValueError(
            "Detail must be default, brief, verbose, or "
            "verbose-vars-not-captured. (not %r)" % (detail,)
        )
    if detail == "default":
        for name, filename, lineno, _, _ in frames:
            write('  File "%s", line %s, in %s\n' % (filename, lineno, name))
            write("    %s\n" % (linecache.getline(filename, lineno).strip(),))
    elif detail == "brief":
        for name, filename, lineno, _, _ in frames:
            write("%s:%s:%s\n" % (filename, lineno, name))
    else:
        for name, filename, lineno, localVars, globalVars in frames:
            write("%s:%d: %s(...)\n" % (filename, lineno, name))
            if detail == "verbose":
                write(" [ Locals ]\n")
                for key, value in localVars:
                    write("  %s : %s\n" % (key, safe_repr(value)))
                write(" ( Globals )\n")
                for key, value in globalVars:
                    write("  %s : %s\n" % (key, safe_repr(value)))
        if detail == "verbose-vars-not-captured":
            write(" [Capture of Locals and Globals disabled (use captureVars=True)]\n")


class Failure(BaseException):
    """
    An error that happened, held as a value.

    Like Twisted's Failure it derives from `BaseException` (so that it can be
    annotated where exceptions are) but it is never raised itself: it carries
    an exception `value` and its traceback `tb` to wherever the error is
    handled, typically an errback.

    `type`: the exception's class.
    `value`: the exception instance.
    `tb`: the traceback object, or None (a Failure built from an
        exception that was never raised, or after `cleanFailure`).
    `frames`: the traceback as a list of
        `(funcName, fileName, lineNumber, localsItems, globalsItems)`
        tuples, oldest first; computed from `tb` on first use.
    `parents`: the qualified names of `type`'s classes (its MRO);
        computed on first use.
    `count`: a serial number, shown by verbose tracebacks.
    """

    # The attributes every failure sets live in slots: a BaseException
    # subclass is much cheaper to build that way than through its __dict__,
    # which stays available (lazily created) for everything else.
    __slots__ = ("type", "value", "tb", "count")
    _SLOTS = __slots__

    pickled = 0
    captureVars = False
    _frames = None
    _parents = None

    def __init__(self, exc_value=None, exc_type=None, exc_tb=None, captureVars=False):
        """
        Capture an error.

        `exc_value`: the exception.  When None, the exception being
            handled (`sys.exc_info()`) is captured, with its traceback, and
            `exc_type` and `exc_tb` are ignored.  A `Failure` given here
            is copied.
        `exc_type`: the exception's class; by default `type(exc_value)`.
        `exc_tb`: the traceback; by default `exc_value.__traceback__`.
        `captureVars`: also capture the locals and globals of every
            frame (slow; only `printDetailedTraceback` shows them).
        Raises `NoCurrentExceptionError`: `exc_value` is None and no exception
            is being handled.
        """
        global _count
        _count += 1
        self.count = _count
        if captureVars:
            self.captureVars = True
        if exc_value is None:
            exc_type, exc_value, exc_tb = sys.exc_info()
            if exc_type is None:
                raise NoCurrentExceptionError()
        else:
            if exc_type is None:
                exc_type = type(exc_value)
            if isinstance(exc_value, Failure):
                self._setState(exc_value._getState())
                return
            if exc_tb is None:
                exc_tb = getattr(exc_value, "__traceback__", None)
        self.type = exc_type
        self.value = exc_value
        self.tb = exc_tb

    @property
    def frames(self):
        frames = self._frames
        if frames is None:
            frames = self._frames = self._framesFromTraceback()
        return frames

    @frames.setter
    def frames(self, frames):
        self._frames = frames

    def _framesFromTraceback(self):
        frames = []
        tb = self.tb
        while tb is not None:
            frame = tb.tb_frame
            if self.captureVars:
                localVars = frame.f_locals.copy()
                globalVars = {} if frame.f_locals is frame.f_globals else frame.f_globals.copy()
                localVars.pop("__builtins__", None)
                globalVars.pop("__builtins__", None)
                localVars = list(localVars.items())
                globalVars = list(globalVars.items())
            else:
                localVars = globalVars = ()
            code = frame.f_code
            frames.append((code.co_name, code.co_filename, tb.tb_lineno, localVars, globalVars))
            tb = tb.tb_next
        return frames

    @property
    def parents(self):
        parents = self._parents
        if parents is None:
            errorType = self.type
            if isinstance(errorType, type) and issubclass(errorType, Exception):
                parents = [qual(c) for c in errorType.__mro__]
            else:
                parents = [errorType]
            self._parents = parents
        return parents

    @parents.setter
    def parents(self, parents):
        self._parents = parents

    @property
    def stack(self):
        # Twisted deprecated this; it is always empty.
        return []

    def check(self, *errorTypes):
        """
        Return the first of `errorTypes` that this failure's type is, or
        derives from, else None.

        Each error type is an exception class or a fully-qualified class name
        (`"builtins.ValueError"`).  As in Twisted, classes are matched by
        qualified name through `type`'s MRO, and a class that is not an
        `Exception` subclass matches only the failure's exact type.
        """
        for errorType in errorTypes:
            if errorType is self.type:
                return errorType
            if (isinstance(errorType, type) and issubclass(errorType, Exception)
                    and isinstance(self.type, type) and issubclass(self.type, errorType)):
                return errorType    # its qualified name is in parents: no need to build them
            key = errorType
            if isinstance(errorType, type) and issubclass(errorType, Exception):
                key = qual(errorType)
            if key in self.parents:
                return errorType
        return None

    def trap(self, *errorTypes):
        """
        Return the matching type as `check` does; if none matches, re-raise
        the failure's exception (with its traceback) so it continues down an
        errback chain.

        Typical use in an errback::

            def eb(failure):
                failure.trap(ConnectionDone)
                ...  # only ConnectionDone gets here
        """
        errorType = self.check(*errorTypes)
        if not errorType:
            self.raiseException()
        return errorType

    def raiseException(self):
        """
        Raise the original exception, with its traceback if there is one.
        """
        raise self.value.with_traceback(self.tb)

    def throwExceptionIntoGenerator(self, generator):
        """
        Throw the original exception, with its traceback, into `generator`.

        Returns: the next value the generator yields.
        Raises `StopIteration`: the generator returned.
        Raises `BaseException`: anything the generator raises.
        """
        return generator.throw(self.value.with_traceback(self.tb))

    def getErrorMessage(self):
        """
        Return `str()` of the exception (safe against a broken `__str__`).
        """
        if isinstance(self.value, Failure):
            return self.value.getErrorMessage()
        return safe_str(self.value)

    def getTracebackObject(self):
        """
        Return an object that `traceback.extract_tb` accepts: the real
        traceback if it is still held, a stand-in built from `frames` if
        only those are left (after `cleanFailure`), or None.
        """
        if self.tb is not None:
            return self.tb
        if self.frames:
            return _fakeTraceback(self.frames)
        return None

    def getTraceback(self, elideFrameworkCode=0, detail="default"):
        """
        Return the traceback text, as `printTraceback` writes it.
        """
        out = StringIO()
        self.printTraceback(out, elideFrameworkCode, detail)
        return out.getvalue()

    def getBriefTraceback(self):
        """
        Return the traceback text in the brief form (one line per frame).
        """
        out = StringIO()
        self.printTraceback(out, detail="brief")
        return out.getvalue()

    def printTraceback(self, file=None, elideFrameworkCode=0, detail="default"):
        """
        Write the traceback in the shape of Python's own report::

            Traceback (most recent call last):
              File "f.py", line 3, in g
                raise ValueError("boom")
            builtins.ValueError: boom

        A failure without frames writes `Failure: builtins.ValueError: boom`
        after the first line.

        `file`: a text file; `sys.stderr` by default.
        `elideFrameworkCode`: ignored (as in Twisted).
        `detail`: `"default"`, `"brief"` (one line per frame) or
            `"verbose"` (with captured locals and globals).
        """
        if file is None:
            file = sys.stderr
        write = file.write
        frames = self.frames
        formatDetail = detail
        if detail == "verbose" and not self.captureVars:
            formatDetail = "verbose-vars-not-captured"

        if detail == "verbose":
            write("*--- Failure #%d%s---\n" % (self.count, " (pickled) " if self.pickled else " "))
        elif detail == "brief":
            write("%s: %s: %s\n" % (
                "Traceback" if frames else "Traceback (failure with no frames)",
                safe_str(self.type),
                safe_str(self.value),
            ))
        else:
            write("Traceback (most recent call last):\n")

        if frames:
            _formatFrames(frames, write, formatDetail)
        elif detail != "brief":
            write("Failure: ")

        if detail != "brief":
            write("%s: %s\n" % (_typeName(self.type), safe_str(self.value)))

        if isinstance(self.value, Failure):
            write(" (chained Failure)\n")
            self.value.printTraceback(file, elideFrameworkCode, detail)
        if detail == "verbose":
            write("*--- End of Failure #%d ---\n" % self.count)

    def printBriefTraceback(self, file=None, elideFrameworkCode=0):
        """
        Write the brief traceback (see `printTraceback`).
        """
        self.printTraceback(file, elideFrameworkCode, detail="brief")

    def printDetailedTraceback(self, file=None, elideFrameworkCode=0):
        """
        Write the verbose traceback, with locals and globals when they were
        captured (see `printTraceback`).
        """
        self.printTraceback(file, elideFrameworkCode, detail="verbose")

    def cleanFailure(self):
        """
        Drop the references this failure holds to frames and locals: keep
        `frames` (with variables turned into reprs) and `parents`, and set
        `tb` and `value.__traceback__` to None.
        """
        state = self.__getstate__()
        self.__dict__.clear()
        self.__setstate__(state)
        if getattr(self.value, "__traceback__", None) is not None:
            self.value.__traceback__ = None

    def __getstate__(self):
        state = self._getState()
        state.pop("_frames", None)
        state.pop("_parents", None)
        state["parents"] = self.parents
        if self.captureVars:
            state["frames"] = [
                (name, filename, lineno,
                 [(k, safe_repr(v)) for k, v in localVars],
                 [(k, safe_repr(v)) for k, v in globalVars])
                for name, filename, lineno, localVars, globalVars in self.frames
            ]
        else:
            state["frames"] = list(self.frames)
        state["stack"] = []
        state["tb"] = None
        state["pickled"] = 1
        return state

    def __setstate__(self, state):
        state = dict(state)
        state.pop("stack", None)
        state["_parents"] = state.pop("parents", None)
        state["_frames"] = state.pop("frames", None)
        self._setState(state)

    def _getState(self):
        """
        All of this failure's attributes, slots and __dict__, as a dict.
        """
        state = dict(self.__dict__)
        for name in self._SLOTS:
            try:
                state[name] = getattr(self, name)
            except AttributeError:
                pass
        return state

    def _setState(self, state):
        for name, value in state.items():
            if name in self._SLOTS:
                setattr(self, name, value)
            else:
                self.__dict__[name] = value

    def __reduce__(self):
        # BaseException.__reduce__ would rebuild from args; a failure is
        # rebuilt from its state alone (its traceback cannot be pickled).
        return (_newFailure, (), self.__getstate__())

    def __repr__(self):
        return "<%s %s: %s>" % (qual(type(self)), _typeName(self.type), self.getErrorMessage())

    def __str__(self):
        return "[Failure instance: %s]" % self.getBriefTraceback()


def _newFailure():
    return Failure.__new__(Failure)


def _typeName(errorType):
    try:
        return qual(errorType)
    except BaseException:
        return safe_str(errorType)


class _FakeCode:
    """
    Stand-in for a code object in a traceback rebuilt from `Failure.frames`.
    """

    co_argcount = co_posonlyargcount = co_kwonlyargcount = co_nlocals = 0
    co_stacksize = co_flags = co_firstlineno = 0
    co_code = co_lnotab = b""
    co_varnames = co_names = co_consts = co_cellvars = co_freevars = ()

    def __init__(self, name, filename):
        self.co_name = name
        self.co_qualname = name
        self.co_filename = filename

    def co_positions(self):
        return iter([(None, None, None, None)])


class _FakeFrame:
    """
    Stand-in for a frame object in a traceback rebuilt from
    `Failure.frames`.
    """

    f_lasti = 0
    f_trace = None

    def __init__(self, frameInfo, back):
        name, filename, lineno, localVars, globalVars = frameInfo
        self.f_code = _FakeCode(name, filename)
        self.f_lineno = lineno
        self.f_locals = dict(localVars or ())
        self.f_globals = dict(globalVars or ())
        self.f_builtins = {}
        self.f_back = back


class _FakeTraceback:
    """
    Stand-in for a traceback object, accepted by the `traceback` module.
    """

    def __init__(self, frame):
        self.tb_frame = frame
        self.tb_lineno = frame.f_lineno
        self.tb_lasti = 0
        self.tb_next = None


def _fakeTraceback(frames):
    # Built in a loop rather than recursively: frame lists can be long.
    frame = _FakeFrame(frames[0], None)
    first = last = _FakeTraceback(frame)
    for info in frames[1:]:
        frame = _FakeFrame(info, frame)
        last.tb_next = _FakeTraceback(frame)
        last = last.tb_next
    return first
