"""twisted.web hello-world server on Twisted's epoll reactor.

A ``twisted.web.server.Site`` whose root resource (isLeaf) answers every GET with
``Hello, world!``.  The fastreactor.twisted server (web_fastreactor_twisted.py) runs the very
same code; only the installed reactor differs.  The access log is off on both (see ``QuietSite``),
so no per-request log formatting or I/O is measured.
"""
import serverlib


def main():
    try:
        from twisted.internet import epollreactor

        epollreactor.install()
        from twisted.internet import reactor
    except Exception as e:  # noqa: BLE001
        serverlib.unavailable("Twisted epoll reactor not importable: %r" % e)
    serve_web(reactor)


def make_site():
    """The Site under test: hello world from a leaf root resource, no access log."""
    from twisted.web import resource, server

    class Hello(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            return b"Hello, world!"

    class QuietSite(server.Site):
        # Site.log formats a combined-log line for every request and hands it to twisted.python.log
        # (buffered by the global log beginner when nobody observes): that is access-log cost, not
        # HTTP serving, so both reactors skip it.
        noisy = False

        def log(self, request):
            """No access log."""

    return QuietSite(Hello())


def serve_web(reactor):
    """Serve the hello-world Site on whatever reactor is installed (shared with the fastreactor server).

    HTTPChannel sets TCP_NODELAY on each connection itself.
    """
    serverlib.raise_nofile()
    port = reactor.listenTCP(serverlib.port_argument(), make_site(), backlog=serverlib.BACKLOG,
                             interface=serverlib.HOST)
    serverlib.announce(port.getHost().port)
    reactor.run(installSignalHandlers=False)


if __name__ == "__main__":
    main()
