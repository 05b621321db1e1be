"""Signal handling for run(installSignalHandlers=True): SIGINT, SIGTERM (and SIGBREAK where it
exists) stop the reactor. Handlers run in the loop (signal.set_wakeup_fd wakes the poll), never
inside a C call; the previous handlers are restored when run() returns."""
import signal
import threading


class SignalHandling:
    """Installs the reactor's stop-on-signal handlers and restores the previous ones."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.previous = {}
        self.previous_wakeup_fd = None
        self.waker = None

    def install(self):
        """Install the handlers (only possible in the main thread; a no-op elsewhere)."""
        if threading.current_thread() is not threading.main_thread():
            return
        handlers = {signal.SIGINT: self.reactor.sigInt, signal.SIGTERM: self.reactor.sigTerm}
        if hasattr(signal, "SIGBREAK"):
            handlers[signal.SIGBREAK] = self.reactor.sigBreak
        for number, handler in handlers.items():
            if number == signal.SIGINT and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                continue    # somebody else (e.g. a debugger) handles SIGINT: leave it, as Twisted does
            self.previous[number] = signal.signal(number, handler)
        self.waker = self.reactor._signalWakeupHandle()
        self.previous_wakeup_fd = signal.set_wakeup_fd(self.waker.write_fileno(), warn_on_full_buffer=False)

    def uninstall(self):
        """Put back the handlers and wake-up fd that were there before install()."""
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}
        if self.waker is not None:
            signal.set_wakeup_fd(self.previous_wakeup_fd if self.previous_wakeup_fd is not None else -1)
            self.reactor._closeWaker(self.waker)
            self.waker = None
