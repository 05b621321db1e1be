"""Echo server on aiofastnet: its Cython TCP transports on a uvloop event loop (same protocol class
as the asyncio server). `aiofastnet.patch_loop` makes the loop's `create_server` aiofastnet's, so the
listening socket and every accepted connection get aiofastnet's transport instead of uvloop's."""
import serverlib
from echo_asyncio import serve


def main():
    try:
        import aiofastnet
        import uvloop
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        serverlib.unavailable("import aiofastnet/uvloop failed: %r" % e)
    serverlib.raise_nofile()
    serve(aiofastnet.patch_loop(uvloop.new_event_loop()))


if __name__ == "__main__":
    main()
