"""`trial --reactor=fastreactor twisted.test.test_process` gives the results `trial --reactor=epoll`
gives, test for test, but for the differences listed (each with its reason).

Both runs happen here, each in its own temporary directory (about a minute together)."""
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("twisted")

MODULE = "twisted.test.test_process"

_MOCKED = (
    "DESIGN: MockProcessTests replace the os, fcntl, pty and signal modules inside "
    "twisted.internet.process with mocks and check the calls Twisted's Process class makes; "
    "fastreactor's spawnProcess runs none of that module's code (its spawning is compiled, and "
    "the child runs no Python), so the mocks see nothing and the real spawn gets the mock's "
    "arguments (an executable of None: TypeError).")
_EXECVPE = (
    "DESIGN: replaces os.execvpe to make the forked child's Python raise; fastreactor's forked "
    "child is C (no Python runs in it), so the replacement is never called and the child runs "
    "normally. A child that cannot exec says 'Upon execvpe ...' on its stderr and exits 1, "
    "pinned in tests/test_process.py.")

# Fully qualified test id -> why its result differs from the epoll reactor's.
EXPECTED_DIFFERENCES = {
    MODULE + ".MockProcessTests.*": _MOCKED,
    MODULE + ".PosixProcessTests.test_executionError": _EXECVPE,
    MODULE + ".PosixProcessPTYTests.test_executionError": _EXECVPE,
}


def run_trial(reactor, directory):
    env = dict(os.environ)
    env.pop("FASTREACTOR_POLLER", None)
    done = subprocess.run([sys.executable, "-m", "twisted.trial", "--reactor=" + reactor,
                           "--reporter=bwverbose", MODULE],
                          cwd=str(directory), capture_output=True, text=True, timeout=1500, env=env)
    return done.stdout + done.stderr


def outcomes(output):
    """{test id: 'FAIL' | 'ERROR' | 'SKIPPED' | ...} for the tests that did not pass, from the
    summary trial prints after its run, and the totals line."""
    result = {}
    blocks = re.split(r"^={20,}$", output, flags=re.M)
    for block in blocks[1:]:
        block = block.strip()
        match = re.match(r"\[([A-Z ]+)\]", block)
        if not match:
            continue
        kind = match.group(1)
        for line in block.splitlines()[::-1]:
            line = line.strip()
            if re.fullmatch(r"[\w.]+\.test\w*", line):
                result[line] = kind
            elif line:
                if result and not line.startswith(MODULE):
                    break
    totals = re.search(r"^Ran (\d+) tests", output, flags=re.M)
    return result, int(totals.group(1)) if totals else None


def expected_difference(test_id):
    for pattern in EXPECTED_DIFFERENCES:
        if pattern.endswith(".*") and test_id.startswith(pattern[:-1]) or test_id == pattern:
            return True
    return False


@pytest.mark.timeout(3000)
def test_trial_test_process_matches_epoll(tmp_path):
    (tmp_path / "epoll").mkdir()
    (tmp_path / "fast").mkdir()
    epoll, epoll_total = outcomes(run_trial("epoll", tmp_path / "epoll"))
    fast, fast_total = outcomes(run_trial("fastreactor", tmp_path / "fast"))
    assert epoll_total and epoll_total == fast_total, (epoll_total, fast_total)
    differing = sorted(t for t in set(epoll) | set(fast) if epoll.get(t) != fast.get(t))
    unexplained = [(t, epoll.get(t, "OK"), fast.get(t, "OK")) for t in differing if not expected_difference(t)]
    assert unexplained == []
    # The listed differences are real (a stale entry would hide a change).
    for pattern in EXPECTED_DIFFERENCES:
        assert any(t == pattern or pattern.endswith(".*") and t.startswith(pattern[:-1]) for t in differing), pattern
