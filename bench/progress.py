"""A plain-text progress bar on stderr (no dependency)."""
import sys
import time


class Bar:
    """Progress over TOTAL steps; update() redraws one line on stderr, done() ends it."""

    def __init__(self, total, enabled=True, width=30, stream=None):
        self.total = max(1, total)
        self.count = 0
        self.enabled = enabled
        self.width = width
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()

    def update(self, what="", step=1):
        """Count STEP more steps done and show WHAT as the current activity."""
        self.count = min(self.total, self.count + step)
        if not self.enabled:
            return
        frac = self.count / self.total
        fill = int(frac * self.width)
        elapsed = time.monotonic() - self.t0
        eta = elapsed / frac - elapsed if frac > 0 else 0
        line = "[%s%s] %3d%% %d/%d  eta %s  %s" % (
            "#" * fill, "." * (self.width - fill), frac * 100, self.count, self.total, _clock(eta), what)
        self.stream.write("\r" + line[:118].ljust(118))
        self.stream.flush()

    def done(self):
        """Finish the bar's line."""
        if self.enabled:
            self.stream.write("\r" + ("done in %s" % _clock(time.monotonic() - self.t0)).ljust(118) + "\n")
            self.stream.flush()


def _clock(seconds):
    seconds = int(seconds)
    return "%d:%02d" % (seconds // 60, seconds % 60)
