"""With no other Python thread, a wait with a timeout keeps the GIL for its first few milliseconds
only (the release costs ~350 instructions a wait); a wait without one releases it at once. A
thread that enters Python from C while the reactor waits (a ctypes callback on a thread Python did
not start: PyGILState_Ensure) gets the GIL within that hold, not when the wait ends; its
callFromThread then wakes the reactor at once. Every poller, a wait with no timeout and a long
one, idle and after busy iterations, each in a fresh interpreter (tests/gil_hold_scenario.py)
where the reactor's thread is the only Python thread."""
import json
import os
import shutil
import subprocess
import sys

import pytest

FOREIGN_THREAD_C = r"""
#include <pthread.h>
#include <unistd.h>

typedef void (*callback)(void);
static callback pending;
static unsigned delay_us;
static volatile int finished;

static void *run(void *unused) {
    (void)unused;
    usleep(delay_us);
    pending();      /* a ctypes callback: takes the GIL with PyGILState_Ensure, and on return
                       releases it and deletes the thread state it made */
    __atomic_store_n(&finished, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* Call `f` from a new native thread after `us` microseconds; 0 on success. */
int call_from_native_thread(callback f, unsigned us) {
    pthread_t t;
    pending = f;
    delay_us = us;
    finished = 0;
    if (pthread_create(&t, 0, run, 0)) return -1;
    return pthread_detach(t);
}

/* Whether the last native thread is done with Python (its thread state is gone). */
int native_thread_finished(void) {
    return __atomic_load_n(&finished, __ATOMIC_SEQ_CST);
}
"""


@pytest.fixture(scope="module")
def native_threads(tmp_path_factory):
    """The path of a tiny shared library, built here, that calls a callback from a thread Python
    did not start."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler: the build needs one (build-essential)")
    where = tmp_path_factory.mktemp("native")
    src, lib = where / "foreign.c", where / "libforeign.so"
    src.write_text(FOREIGN_THREAD_C)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-pthread", "-o", str(lib), str(src)], check=True)
    return str(lib)


SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gil_hold_scenario.py")


def run_scenario(library, poller, wait, busy):
    """tests/gil_hold_scenario.py in a fresh interpreter (where the reactor's thread is alone)."""
    proc = subprocess.run([sys.executable, SCENARIO, library, poller, str(wait), "1" if busy else "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["threads"] == 1, result     # the reactor was alone: the hold applied
    assert result["entered"] is not None, "the native thread never got the GIL"
    return result["entered"], result["returned"]


@pytest.mark.parametrize("wait", [-1.0, 3.0], ids=["no-timeout", "3s"])
def test_a_thread_entering_python_during_a_wait_gets_the_gil_at_once(poller, native_threads, wait):
    # iterate() with a negative delay blocks until an event, as run() does.
    entered, returned = run_scenario(native_threads, poller, wait, busy=False)
    # It entered after its 0.2 s sleep plus at most the hold (5 ms) and scheduling slack, and its
    # callFromThread ended the wait; a wait that kept the GIL would have let it in only at the end
    # (never, for no timeout).
    assert 0.2 <= entered < 1.0, entered
    assert returned < 1.5, returned


def test_the_same_after_busy_iterations(poller, native_threads):
    entered, returned = run_scenario(native_threads, poller, 3.0, busy=True)
    assert 0.2 <= entered < 1.0, entered
    assert returned < 1.5, returned
