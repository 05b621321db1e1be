"""Echo server on uvloop (same protocol class as the asyncio server)."""
import serverlib
from echo_asyncio import serve


def main():
    try:
        import uvloop
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        serverlib.unavailable("import uvloop failed: %r" % e)
    serverlib.raise_nofile()
    serve(uvloop.new_event_loop())


if __name__ == "__main__":
    main()
