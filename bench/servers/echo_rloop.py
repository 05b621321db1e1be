"""Echo server on rloop, an asyncio event loop written in Rust (same protocol class as the asyncio
server)."""
import serverlib
from echo_asyncio import serve


def main():
    try:
        import rloop
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        serverlib.unavailable("import rloop failed: %r" % e)
    if serverlib.unix_argument() is not None:
        serverlib.unavailable("rloop does not implement create_unix_server (NotImplementedError)")
    serverlib.raise_nofile()
    serve(rloop.new_event_loop())


if __name__ == "__main__":
    main()
