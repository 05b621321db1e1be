"""Running a reactor while a blocking client (http.client, a subprocess, raw sockets) runs in a
thread: the helper the program tests share."""
import threading


def run_with_client(reactor, client, timeout=10):
    """Run `reactor` while `client()` runs in a thread; stop when it returns; re-raise its error."""
    outcome = {}

    def body():
        try:
            outcome["value"] = client()
        except BaseException as e:
            outcome["error"] = e
        finally:
            reactor.callFromThread(reactor.stop)

    guard = reactor.callLater(timeout, reactor.stop)
    reactor.callWhenRunning(threading.Thread(target=body, daemon=True).start)
    reactor.run(installSignalHandlers=False)
    if guard.active():
        guard.cancel()
    if "error" in outcome:
        raise outcome["error"]
    assert "value" in outcome, "the client did not finish in %ss" % timeout
    return outcome["value"]
