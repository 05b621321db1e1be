# Declarations of fastreactor._core, one file per concern (found through include_path=["src"]).
include "poller.pxd"
include "handle.pxd"
include "timers.pxd"
include "waker.pxd"
include "loop.pxd"
include "tcp.pxd"
include "datagram.pxd"
include "framing.pxd"
