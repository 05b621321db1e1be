"""Start, pin, talk to and stop the processes of a benchmark: servers, load generator, workers."""
import json
import os
import select
import signal
import subprocess
import time

import procstat


def cpus():
    """(server_cpu, load_cpu): two distinct cores when we have them, else the same one twice."""
    mine = sorted(os.sched_getaffinity(0))
    return (mine[0], mine[1]) if len(mine) >= 2 else (mine[0], mine[0])


def pinned(cpu):
    """A preexec_fn that pins the child to CPU (the equivalent of taskset -c CPU)."""
    def pin():
        os.sched_setaffinity(0, {cpu})
    return pin


def _readline(proc, timeout):
    """One line of PROC's stdout within TIMEOUT seconds, or None at EOF or timeout."""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1)  # byte by byte: never swallow a line meant for the next call
        if not chunk:
            return buf.decode() or None
        buf += chunk
    return buf.decode()


class Unavailable(Exception):
    """The implementation cannot run here; str() is the reason."""


class Server:
    """An echo server in its own process, pinned to one core."""

    def __init__(self, argv, cpu, start_timeout=30.0, wrap=()):
        self.argv = list(wrap) + list(argv)
        self.cpu = cpu
        self.start_timeout = start_timeout
        self.proc = None
        self.port = self.pid = None

    def start(self):
        """Start the process and wait for its PORT line; raise Unavailable with the reason otherwise."""
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=pinned(self.cpu),
        )
        line = _readline(self.proc, self.start_timeout)
        if line and line.startswith("PORT "):
            parts = line.split()
            self.port, self.pid = int(parts[1]), int(parts[3])
            return self
        self.stop()
        if line and line.startswith("UNAVAILABLE "):
            raise Unavailable(line[len("UNAVAILABLE "):].strip())
        err = self.proc.stderr.read().decode(errors="replace").strip().splitlines()
        raise Unavailable("server did not start: %s" % (err[-1] if err else line or "no output"))

    def alive(self):
        """True while the server process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=60.0):
        """Signal the server (SIGTERM by default) and wait for it to exit (kill it after TIMEOUT)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.pid or self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class LoadError(RuntimeError):
    """The load generator failed."""


def run_loadgen(loadgen, args, cpu, server_pid=None, timeout=300.0):
    """Run the C load generator with ARGS pinned to CPU; return its JSON result.

    When SERVER_PID is given, the server's CPU time is read from /proc at the generator's
    "mark start" and "mark end" lines, so both processes' CPU use cover the same window; the
    result then carries ``server_cpu_pct`` next to the generator's own ``cpu_pct``.
    """
    proc = subprocess.Popen([loadgen] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=pinned(cpu))
    marks = {}
    result = None
    deadline = time.monotonic() + timeout
    try:
        while True:
            line = _readline(proc, max(0.1, deadline - time.monotonic()))
            if line is None:
                break
            if line.startswith("mark ") and server_pid:
                marks[line.split()[1]] = (time.monotonic(), procstat.cpu_seconds(server_pid),
                                          procstat.machine_busy_seconds())
            elif line.startswith("{"):
                result = json.loads(line)
        proc.wait(max(0.1, deadline - time.monotonic()))
    except (subprocess.TimeoutExpired, OSError):
        proc.kill()
        proc.wait()
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stdout.close()
    proc.stderr.close()
    if result is None:
        raise LoadError("loadgen %s: exit %s: %s" % (" ".join(map(str, args)), proc.returncode, err[-300:]))
    if "start" in marks and "end" in marks:
        (t0, c0, b0), (t1, c1, b1) = marks["start"], marks["end"]
        if t1 > t0:
            result["server_cpu_pct"] = 100.0 * (c1 - c0) / (t1 - t0)
            if result.get("count"):
                # the server's cost per message/connection/request: still meaningful when the
                # generator, not the server, limits the rate
                result["server_us_op"] = 1e6 * (c1 - c0) / result["count"]
            # whatever else kept the machine busy meanwhile (other programs, kernel work not
            # charged to either process): a high figure means the run was disturbed
            other = (b1 - b0) - (c1 - c0) - result.get("cpu_s", 0.0)
            result["other_cpu_pct"] = max(0.0, 100.0 * other / (t1 - t0))
    return result


class IdleClients:
    """The load generator in idle mode: N connections held open until close()."""

    def __init__(self, loadgen, port, conns, cpu):
        self.proc = subprocess.Popen([loadgen, "idle", "--port", str(port), "--conns", str(conns)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=pinned(cpu))

    def wait_ready(self, timeout=180.0):
        """Wait until every connection is established and echoed once; return the generator's report."""
        line = _readline(self.proc, timeout)
        if not line or not line.startswith("ready "):
            self.close()
            raise LoadError("idle loadgen did not get ready: %r" % line)
        return json.loads(line[len("ready "):])

    def close(self):
        """Release the connections (close the generator's stdin) and reap it."""
        try:
            self.proc.stdin.close()
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def run_worker(argv, cpu, timeout=300.0):
    """Run an in-process benchmark worker pinned to CPU; return its JSON line.

    Raise Unavailable if it reports UNAVAILABLE, RuntimeError if it fails otherwise.
    """
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, preexec_fn=pinned(cpu))
    lines = proc.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    if last.startswith("UNAVAILABLE "):
        raise Unavailable(last[len("UNAVAILABLE "):])
    if proc.returncode != 0 or not last.startswith("{"):
        err = proc.stderr.strip().splitlines()
        status = ("killed by %s" % signal.Signals(-proc.returncode).name if proc.returncode < 0
                  else "exit %d" % proc.returncode)
        what = " ".join(os.path.basename(a) if a.endswith(".py") else a for a in argv[1:])
        raise RuntimeError("%s: %s%s" % (what, status, ": " + (err[-1] if err else last) if (err or last) else ""))
    return json.loads(last)
