"""UDP echo server on uvloop (same protocol as the asyncio server)."""
import serverlib
from udp_echo_asyncio import serve


def main():
    try:
        import uvloop
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        serverlib.unavailable("import uvloop failed: %r" % e)
    serve(uvloop.new_event_loop())


if __name__ == "__main__":
    main()
