"""
Logging in Twisted's style, over the standard library's `logging`.

Everything is logged through the logger named `"fastreactor"`: configure
that logger (or the root logger) as usual, or call `startLogging` for
Twisted's file format::

    2024-05-01 12:00:00+0000 [-] Log opened.
    2024-05-01 12:00:01+0000 [-] Unhandled Error
    	Traceback (most recent call last):
    	...
"""

import logging
import sys
import time

from fastreactor.failure import Failure, safe_str

__all__ = [
    "logger",
    "msg",
    "err",
    "deferr",
    "logFailure",
    "failureText",
    "startLogging",
    "LogFileHandler",
]

logger = logging.getLogger("fastreactor")


def failureText(failure, why=None):
    """
    Return the text logged for `failure`: `why` (or `"Unhandled Error"`)
    on the first line, then the failure's traceback.
    """
    why = safe_str(why) if why else "Unhandled Error"
    try:
        text = failure.getTraceback()
    except Exception as e:
        text = "(unable to obtain traceback): %s" % (e,)
    return why + "\n" + text.rstrip("\n")


def logFailure(failure, why=None, level=logging.ERROR, system=None):
    """
    Log `failure` (a `Failure`) with its traceback to the `"fastreactor"`
    logger, at `level` (ERROR by default).

    The text is that of `failureText`; the record also carries the failure
    as its `failure` attribute, and `system` (shown as `[system]` by
    `startLogging`'s format) when given.
    """
    if not logger.isEnabledFor(level):
        return
    extra = {"failure": failure}
    if system is not None:
        extra["system"] = system
    logger.log(level, "%s", failureText(failure, why), extra=extra)


def msg(*message, **kw):
    """
    Log a message at INFO level to the `"fastreactor"` logger.

    The parts of `message` are turned into text and joined with spaces, as
    Twisted's `log.msg` does.  Keywords:

      - `system`: the name shown in brackets by `startLogging`'s format
        (`"-"` by default).
      - `isError`: log at ERROR level instead; with `failure` (a
        `Failure`) and no message, log the failure as `err` does, with
        `why` as its heading.
      - `format`: with no message, the text is `format % kw`.
      - `logLevel`: an explicit `logging` level.
    """
    isError = kw.get("isError", 0)
    level = kw.get("logLevel", logging.ERROR if isError else logging.INFO)
    if not logger.isEnabledFor(level):
        return
    extra = {}
    if "system" in kw:
        extra["system"] = kw["system"]
    if message:
        text = " ".join(safe_str(part) for part in message)
    elif isError and "failure" in kw:
        extra["failure"] = kw["failure"]
        text = failureText(kw["failure"], kw.get("why"))
    elif "format" in kw:
        try:
            text = kw["format"] % kw
        except Exception as e:
            text = "Invalid format string or unformattable object in log message: %r, %s" % (
                kw["format"], e)
    else:
        return
    logger.log(level, "%s", text, extra=extra)


def err(_stuff=None, _why=None, **kw):
    """
    Log an error, with its traceback, at ERROR level.

    `_stuff`: a `Failure`; an exception (wrapped in a Failure, with
        the exception's own traceback if it was raised); or None for the
        exception being handled now.  Anything else is logged as its repr.
    `_why`: the heading logged above the traceback (default
        `"Unhandled Error"`).
    `kw`: `system` as for `msg`.
    Raises `fastreactor.failure.NoCurrentExceptionError`: `_stuff` is None and
        no exception is being handled.
    """
    if _stuff is None:
        _stuff = Failure()
    system = kw.get("system")
    if isinstance(_stuff, Failure):
        logFailure(_stuff, _why, system=system)
    elif isinstance(_stuff, BaseException):
        logFailure(Failure(_stuff), _why, system=system)
    else:
        extra = {} if system is None else {"system": system}
        text = repr(_stuff) if not _why else "%s\n%r" % (_why, _stuff)
        logger.error("%s", text, extra=extra)


deferr = err


def _formatTime(when):
    """
    Format a POSIX time as local time with its UTC offset, as Twisted's
    log files do: `2024-05-01 14:00:00+0200`.
    """
    local = time.localtime(when)
    offset = local.tm_gmtoff if local.tm_gmtoff is not None else -time.timezone
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    return "%s%s%02d%02d" % (
        time.strftime("%Y-%m-%d %H:%M:%S", local),
        sign,
        offset // 3600,
        offset // 60 % 60,
    )


class LogFileHandler(logging.Handler):
    """
    A `logging.Handler` that writes records to a text file in Twisted's
    format: `"<time> [<system>] <text>"`, with continuation lines of a
    multi-line message indented by a tab.

    The time is local time with its UTC offset; `system` is the record's
    `system` attribute (see `msg`), or `"-"`.  A record logged with
    `exc_info` gets its traceback appended.
    """

    def __init__(self, file):
        logging.Handler.__init__(self)
        self.file = file
        self._stop = None

    def format(self, record):
        text = record.getMessage()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            text = text + "\n" + record.exc_text
        return "%s [%s] %s\n" % (
            _formatTime(record.created),
            getattr(record, "system", "-"),
            text.replace("\n", "\n\t"),
        )

    def emit(self, record):
        try:
            line = self.format(record)
            self.file.write(line)
            self.file.flush()
        except Exception:
            self.handleError(record)

    def stop(self):
        """
        Stop writing to the file: remove this handler from the
        `"fastreactor"` logger and undo what `startLogging` changed
        (logger level, `sys.stdout`/`sys.stderr`).  Does not close the file.
        """
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()


class _LoggingFile:
    """
    A text file that logs every complete line written to it (used in place
    of `sys.stdout`/`sys.stderr` by `startLogging(setStdout=True)`).
    """

    softspace = 0
    closed = False
    encoding = "utf-8"

    def __init__(self, level, system):
        self.level = level
        self.system = system
        self._buffer = ""

    def write(self, text):
        lines = (self._buffer + text).split("\n")
        self._buffer = lines.pop()
        for line in lines:
            logger.log(self.level, "%s", line, extra={"system": self.system})

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("a logging file has no file descriptor")


def startLogging(file, setStdout=False):
    """
    Write everything logged to the `"fastreactor"` logger (and its
    children) to `file`, in Twisted's format (see `LogFileHandler`), and
    log `"Log opened."`.

    The logger's level is lowered to INFO if it would drop INFO records, so
    that `msg` shows up.  With `setStdout`, `sys.stdout` and `sys.stderr`
    are replaced by files that log each line (at INFO and ERROR, with system
    `"stdout"`/`"stderr"`).

    Returns: the `LogFileHandler`; its `stop()` undoes all of this.
    """
    handler = LogFileHandler(file)
    oldLevel = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    oldStreams = None
    if setStdout:
        oldStreams = (sys.stdout, sys.stderr)
        sys.stdout = _LoggingFile(logging.INFO, "stdout")
        sys.stderr = _LoggingFile(logging.ERROR, "stderr")

    def stop():
        logger.removeHandler(handler)
        logger.setLevel(oldLevel)
        if oldStreams is not None:
            sys.stdout, sys.stderr = oldStreams

    handler._stop = stop
    msg("Log opened.")
    return handler
