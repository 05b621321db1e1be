"""
fastreactor.log: Twisted-style logging over the stdlib "fastreactor" logger.
"""

import io
import logging
import re
import sys

import pytest

from fastreactor import log
from fastreactor.failure import Failure, NoCurrentExceptionError

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} \[(?P<system>[^\]]*)\] (?P<text>.*)$")


@pytest.fixture
def logfile():
    out = io.StringIO()
    handler = log.startLogging(out)
    try:
        yield out
    finally:
        handler.stop()


def lines(out):
    return out.getvalue().splitlines()


def test_start_logging_format(logfile):
    log.msg("hello", 42, b"bytes")
    log.msg("from a system", system="Proto,1,127.0.0.1")
    got = lines(logfile)
    assert len(got) == 3
    first = LINE.match(got[0])
    assert first and first.group("system") == "-" and first.group("text") == "Log opened."
    second = LINE.match(got[1])
    assert second.group("text") == "hello 42 bytes"
    third = LINE.match(got[2])
    assert third.group("system") == "Proto,1,127.0.0.1"
    assert third.group("text") == "from a system"


def test_time_format_like_twisted():
    pytest.importorskip("twisted")
    from twisted.python.log import FileLogObserver

    when = 1700000000.5
    assert log._formatTime(when) == FileLogObserver(io.StringIO()).formatTime(when)


def test_same_lines_as_twisted(logfile):
    pytest.importorskip("twisted")
    from twisted.python import log as tlog
    from twisted.python.failure import Failure as TFailure

    out = io.StringIO()
    observer = tlog.FileLogObserver(out)
    tlog.addObserver(observer.emit)
    try:
        for module, F in ((log, Failure), (tlog, TFailure)):
            module.msg("plain", "words")
            module.msg("multi\nline")
            module.err(F(ValueError("bad")), "while testing")
    finally:
        tlog.removeObserver(observer.emit)

    def strip(text):
        # Twisted's failure text ends with a newline, which its observer
        # turns into an empty continuation line ("\t"); ours leaves it out.
        return [LINE.match(l).group("system", "text") if LINE.match(l) else l
                for l in text.splitlines() if l != "\t"]

    ours = strip(logfile.getvalue())[1:]  # past "Log opened."
    theirs = strip(out.getvalue())
    assert ours == theirs


def test_err_with_current_exception(logfile, caplog):
    caplog.set_level(logging.ERROR, logger="fastreactor")
    try:
        {}["missing"]
    except KeyError:
        log.err(None, "looking something up")
    record = [r for r in caplog.records if r.name == "fastreactor"][-1]
    assert record.levelno == logging.ERROR
    text = record.getMessage()
    assert text.startswith("looking something up\nTraceback (most recent call last):")
    assert "builtins.KeyError: 'missing'" in text
    assert isinstance(record.failure, Failure)
    written = logfile.getvalue()
    assert "[-] looking something up\n\tTraceback (most recent call last):" in written
    assert "\tbuiltins.KeyError: 'missing'\n" in written


def test_err_variants(caplog):
    caplog.set_level(logging.ERROR, logger="fastreactor")
    log.err(ValueError("an exception"))
    log.err(Failure(TypeError("a failure")))
    log.deferr(Failure(RuntimeError("via deferr")), "why")
    log.err("not an error object")
    texts = [r.getMessage() for r in caplog.records if r.name == "fastreactor"]
    assert texts[0].startswith("Unhandled Error\nTraceback")
    assert texts[0].endswith("builtins.ValueError: an exception")
    assert texts[1].endswith("builtins.TypeError: a failure")
    assert texts[2].startswith("why\n") and "RuntimeError: via deferr" in texts[2]
    assert texts[3] == "'not an error object'"
    with pytest.raises(NoCurrentExceptionError):
        log.err()


def test_log_failure_helper(caplog):
    caplog.set_level(logging.DEBUG, logger="fastreactor")
    f = Failure(ConnectionError("gone"))
    log.logFailure(f, "connection went away")
    log.logFailure(f, level=logging.WARNING, system="tcp")
    records = [r for r in caplog.records if r.name == "fastreactor"]
    assert records[0].levelno == logging.ERROR
    assert records[0].getMessage() == (
        "connection went away\nTraceback (most recent call last):\n"
        "Failure: builtins.ConnectionError: gone")
    assert records[1].levelno == logging.WARNING and records[1].system == "tcp"
    assert records[1].failure is f


def test_msg_keywords(caplog):
    caplog.set_level(logging.DEBUG, logger="fastreactor")
    log.msg(format="%(a)s and %(b)d", a="x", b=2)
    log.msg("as error", isError=1)
    log.msg(failure=Failure(ValueError("kw")), isError=True, why="why text")
    log.msg("debug", logLevel=logging.DEBUG)
    log.msg()  # nothing to say: nothing logged
    records = [r for r in caplog.records if r.name == "fastreactor"]
    assert [r.getMessage().split("\n")[0] for r in records] == [
        "x and 2", "as error", "why text", "debug"]
    assert [r.levelno for r in records] == [
        logging.INFO, logging.ERROR, logging.ERROR, logging.DEBUG]


def test_stop_undoes_everything():
    logger = logging.getLogger("fastreactor")
    level = logger.level
    handlers = list(logger.handlers)
    out = io.StringIO()
    handler = log.startLogging(out)
    assert handler in logger.handlers
    handler.stop()
    handler.stop()  # idempotent
    log.msg("after stop")
    assert "after stop" not in out.getvalue()
    assert logger.level == level and logger.handlers == handlers


def test_set_stdout():
    out = io.StringIO()
    realOut, realErr = sys.stdout, sys.stderr
    handler = log.startLogging(out, setStdout=True)
    try:
        print("printed", "words")
        sys.stdout.write("partial ")
        sys.stdout.write("line\n")
        sys.stderr.write("to stderr\n")
    finally:
        handler.stop()
    assert (sys.stdout, sys.stderr) == (realOut, realErr)
    texts = [LINE.match(l).group("system", "text") for l in lines(out)]
    assert texts[1:] == [("stdout", "printed words"), ("stdout", "partial line"),
                         ("stderr", "to stderr")]


def test_docstrings():
    for name in log.__all__:
        obj = getattr(log, name)
        if isinstance(obj, logging.Logger):
            continue
        assert obj.__doc__, name
