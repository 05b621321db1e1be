# fastreactor._core: the compiled engine, one module built from one file per concern.
# cython: language_level=3
import os

from libc.math cimport isfinite
from libc.stdint cimport uint32_t, uint64_t
from compat cimport *

include "poller.pyx"
include "uring.pyx"
include "handle.pyx"
include "timers.pyx"
include "waker.pyx"
include "loop.pyx"
include "stream.pyx"
include "sockets.pyx"
include "accept.pyx"
include "tcp.pyx"
include "unix.pyx"
include "tls.pyx"
include "datagram.pyx"
include "framing.pyx"
include "sockopt.pyx"
include "process.pyx"
