"""Running a reactor in a test with a guard: a hang fails the test instead of stalling the suite."""


def run_with_guard(reactor, timeout=20.0):
    """Run `reactor` (no signal handlers); fail if it had to be crashed after `timeout` seconds."""
    guard = reactor.callLater(timeout, reactor.crash)
    reactor.run(installSignalHandlers=False)
    assert guard.active(), "the reactor did not stop within %ss" % timeout
    guard.cancel()
