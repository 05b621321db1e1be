"""With no other Python thread, a wait keeps the GIL for its first few milliseconds only (the
release costs ~400 instructions a wait). A thread that enters Python from C while the reactor
waits (a ctypes callback on a thread Python did not start: PyGILState_Ensure) gets the GIL within
that hold, not when the wait ends; its callFromThread then wakes the reactor at once. Every poller,
a wait with no timeout and a long one, idle and after busy iterations."""
import ctypes
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import run_until

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
    """A tiny shared library, built here, that calls a callback from a thread Python did not start."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler: the build needs one (build-essential)")
    where = tmp_path_factory.mktemp("native")
    src, lib = where / "foreign.c", where / "libforeign.so"
    src.write_text(FOREIGN_THREAD_C)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-pthread", "-o", str(lib), str(src)], check=True)
    native = ctypes.CDLL(str(lib))
    native.call_from_native_thread.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    return native


CALLBACK = ctypes.CFUNCTYPE(None)


def entered_during_wait(reactor, native, wait, delay):
    """Start a native thread that, `delay` s into `reactor.iterate(wait)`, enters Python and calls
    reactor.callFromThread; return (when it entered, when the wait returned), from the wait's start."""
    assert threading.active_count() == 1, threading.enumerate()   # the reactor is alone
    entered = []

    def from_c():
        entered.append(time.monotonic())
        reactor.callFromThread(lambda: None)

    callback = CALLBACK(from_c)     # kept alive until the native thread has called it
    began = time.monotonic()
    assert native.call_from_native_thread(ctypes.cast(callback, ctypes.c_void_p), int(delay * 1e6)) == 0
    reactor.iterate(wait)
    while not entered and time.monotonic() - began < delay:
        reactor.iterate(wait)   # cut short before the thread came (a stale EINTR, see uring.pyx)
    returned = time.monotonic()
    deadline = time.monotonic() + 10
    while not native.native_thread_finished() and time.monotonic() < deadline:
        time.sleep(0.01)
    # Done with Python: its thread state is gone, so the next wait finds the reactor alone again.
    assert native.native_thread_finished() and entered, "the native thread never got the GIL"
    return entered[0] - began, returned - began


@pytest.mark.parametrize("wait", [None, 3.0], ids=["no-timeout", "3s"])
def test_a_thread_entering_python_during_a_wait_gets_the_gil_at_once(reactor, native_threads, wait):
    if wait is None:
        wait = -1.0     # iterate with a negative delay blocks until an event, as run() does
    entered, returned = entered_during_wait(reactor, native_threads, wait, 0.2)
    # It entered after its 0.2 s sleep plus at most the hold (5 ms) and scheduling slack, and its
    # callFromThread ended the wait; a wait that kept the GIL would have let it in only at the end
    # (never, for no timeout: the test would hang until pytest's timeout).
    assert 0.2 <= entered < 1.0, entered
    assert returned < 1.5, returned


def test_the_same_after_busy_iterations(reactor, native_threads):
    import socket
    from fastreactor.protocol import Factory, Protocol

    got = []

    class Echo(Protocol):
        def dataReceived(self, data):
            got.append(data)
            self.transport.write(data)

    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        for i in range(200):        # waits that return at once, with the GIL kept
            peer.sendall(b"x")
            run_until(reactor, lambda: len(got) == i + 1)
            assert peer.recv(1) == b"x"
        entered, returned = entered_during_wait(reactor, native_threads, 3.0, 0.2)
        assert 0.2 <= entered < 1.0, entered
        assert returned < 1.5, returned
    finally:
        peer.close()
        port.stopListening()
