"""twisted.web hello-world server on fastreactor through fastreactor.twisted.install().

The same Site and resource as web_twisted.py (Twisted's epoll reactor); only the reactor differs.
"""
import serverlib
from web_twisted import serve_web


def main():
    try:
        import fastreactor.twisted

        fastreactor.twisted.install()
        from twisted.internet import reactor
    except Exception as e:  # noqa: BLE001
        serverlib.unavailable("import fastreactor.twisted failed: %r" % e)
    serve_web(reactor)


if __name__ == "__main__":
    main()
