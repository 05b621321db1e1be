"""The fault harness (used through the fixtures in conftest.py): test hosts in network namespaces that each test makes for itself.

Every test that asks for the `link` fixture gets two fresh namespaces joined by a veth pair, the
server end `10.77.0.1/24` and the client end `10.77.0.2/24`. These addresses exist only inside the
two namespaces (the veth pair is created inside them, so the host namespace never holds an end or
a route to them): no packet of a fault test can leave them. Names carry the pytest process id and a
counter, so parallel runs do not collide; teardown kills every child and deletes both namespaces
even when the test failed.

The programs under test run as child processes inside a namespace (`link.spawn(...)`), each a
script from `peers/` using fastreactor or Twisted; they speak one JSON object per line on stdout
(events) and stdin (commands), see `peers/peerlib.py`.

Faults are made from what this kernel has (no netem): `tc ... tbf` with a small queue (a slow link
that drops), a static neighbour entry to a MAC nobody owns (a black hole), `ip link set down`
(a peer that vanishes).
"""
import itertools
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time


HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")

SERVER_IP = "10.77.0.1"
CLIENT_IP = "10.77.0.2"
FLOOD_IP = "10.77.0.3"       # a source address for half-open floods; the server cannot answer it
BLACKHOLE_IP = "10.77.0.99"  # nobody owns it; the client namespace's neighbour entry points nowhere
DEAD_MAC = "02:00:00:00:de:ad"
DEV = "eth0"
NS_PREFIX = "frfault"

_counter = itertools.count()


def _namespaces_unavailable():
    """Why network namespaces cannot be made here, or None if they can."""
    if os.geteuid() != 0:
        return "fault tests need root to create network namespaces (running as uid %d)" % os.geteuid()
    if shutil.which("ip") is None:
        return "fault tests need the `ip` command (iproute2) to create network namespaces"
    name = "%s%d-probe" % (NS_PREFIX, os.getpid())
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return "`ip netns add` fails here: %s" % made.stderr.strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


_UNAVAILABLE = []


def namespaces_unavailable():
    if not _UNAVAILABLE:
        _UNAVAILABLE.append(_namespaces_unavailable())
    return _UNAVAILABLE[0]


def remove_stale_namespaces():
    """Delete namespaces that an earlier run of the harness left behind (its pid is gone)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        match = re.match(r"(%s(\d+)-\S+)" % NS_PREFIX, line)
        if match and not os.path.exists("/proc/%s" % match.group(2)):
            subprocess.run(["ip", "netns", "del", match.group(1)], capture_output=True)


def run(*cmd, check=True):
    """Run a command (argv) and return its stdout; raise with its stderr if it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), done.returncode,
                                                   done.stderr.strip()))
    return done.stdout


class ChildFailed(AssertionError):
    """A child process exited, reported an error, or did not say what was expected in time."""


class Child:
    """A peer script running in a namespace: `expect()` its events, `send()` it commands.

    The script is `peers/<script>` run by this Python (`sys.executable`, so it imports the same
    installed fastreactor and Twisted); `ip netns exec` execs it (or, with `ns` None, it runs in
    this namespace), so `pid` is the Python process.
    Its stderr goes to a file whose tail is shown when an expectation fails.
    """

    def __init__(self, ns, script, args, env=None, name=None, cpu=None):
        self.name = name or script
        self.log = tempfile.NamedTemporaryFile(prefix="frfault-%s-" % self.name, suffix=".log",
                                               delete=False)
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONUNBUFFERED"] = "1"
        cmd = ["ip", "netns", "exec", ns] if ns is not None else []
        if cpu is not None and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
            cmd += ["taskset", "-c", str(cpu % os.cpu_count())]
        cmd += [sys.executable, os.path.join(PEERS, script)]
        cmd += [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, env=full_env, start_new_session=True)
        self.pid = self.proc.pid
        self._buffer = b""
        self.events = []

    def stderr_tail(self, limit=3000):
        try:
            with open(self.log.name, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def _fail(self, message):
        raise ChildFailed("%s: %s\n--- its stderr (tail) ---\n%s" % (self.name, message,
                                                                     self.stderr_tail()))

    def _next_line(self, deadline):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if sel.select(left):
                    chunk = os.read(self.proc.stdout.fileno(), 65536)
                    if not chunk:
                        self.proc.wait(5)
                        self._fail("exited with %s before the expected event"
                                   % self.proc.returncode)
                    self._buffer += chunk
        finally:
            sel.close()
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def expect(self, event, timeout=30.0):
        """The next event named `event` (a dict), skipping others (kept in `events`); fail if the
        child reports `error`, exits, or says nothing matching within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._next_line(deadline)
            if line is None:
                self._fail("no %r event within %ss (events so far: %s)"
                           % (event, timeout, self.events[-10:]))
            try:
                msg = json.loads(line)
            except ValueError:
                self._fail("printed a line that is not JSON: %r" % line[:200])
            self.events.append(msg)
            if msg.get("event") == "error":
                self._fail("reported an error: %s" % msg.get("error"))
            if msg.get("event") == event:
                return msg

    def send(self, command, **fields):
        """Send the child one command (a JSON line `{"cmd": command, ...}`)."""
        fields["cmd"] = command
        try:
            self.proc.stdin.write((json.dumps(fields) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._fail("gone when sent %r" % command)

    def cpu_seconds(self):
        """User + system CPU time the child has used so far (from /proc)."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        """Kill the child's whole process group and reap it; remove its log."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


class _Children:
    """The peers a test host started (`children`): `_start()` one, `_stop_children()` them all."""

    def _start(self, ns, script, args, env, name, cpu):
        child = Child(ns, script, args, env=env, name=name, cpu=cpu)
        self.children.append(child)
        return child

    def _stop_children(self):
        for child in self.children:
            child.stop()
        self.children = []


class Link(_Children):
    """Two namespaces joined by a veth pair: `server_ns` (`SERVER_IP`) and `client_ns`
    (`CLIENT_IP`), each end named `eth0`, loopback up in both.

    Faults: `blackhole(ns, ip)`, `shape(ns, ...)`, `down(ns)`; `spawn()` starts a peer script in a
    namespace. `close()` kills every child and deletes both namespaces.
    """

    def __init__(self):
        tag = "%s%d-%d" % (NS_PREFIX, os.getpid(), next(_counter))
        self.server_ns = tag + "-s"
        self.client_ns = tag + "-c"
        self.children = []
        self._made = []
        try:
            for ns in (self.server_ns, self.client_ns):
                run("ip", "netns", "add", ns)
                self._made.append(ns)
            run("ip", "-n", self.server_ns, "link", "add", DEV, "type", "veth",
                "peer", "name", DEV, "netns", self.client_ns)
            for ns, ip in ((self.server_ns, SERVER_IP), (self.client_ns, CLIENT_IP)):
                run("ip", "-n", ns, "addr", "add", ip + "/24", "dev", DEV)
                run("ip", "-n", ns, "link", "set", "lo", "up")
                run("ip", "-n", ns, "link", "set", DEV, "up")
        except BaseException:
            self.close()
            raise

    def ip(self, ns, *args, check=True):
        """`ip -n ns ARGS...`."""
        return run("ip", "-n", ns, *args, check=check)

    def exec(self, ns, *cmd, check=True):
        """Run a command inside namespace `ns`; its stdout."""
        return run("ip", "netns", "exec", ns, *cmd, check=check)

    def sysctl(self, ns, name, value):
        self.exec(ns, "sysctl", "-q", "-w", "%s=%s" % (name, value))

    def blackhole(self, ns, ip):
        """Packets from `ns` to `ip` leave its veth to a MAC nobody owns, and vanish."""
        self.ip(ns, "neigh", "replace", ip, "lladdr", DEAD_MAC, "dev", DEV, "nud", "permanent")

    def shape(self, ns, rate, burst, limit):
        """A token bucket on `ns`'s veth egress: `rate` (e.g. "5mbit"), bucket `burst` and queue
        `limit` (bytes, e.g. "16kb"); what overflows the queue is dropped."""
        self.ip(ns, "link", "set", DEV, "mtu", "1500")
        run("tc", "-n", ns, "qdisc", "replace", "dev", DEV, "root", "tbf", "rate", rate,
            "burst", burst, "limit", limit)

    def qdisc_stats(self, ns):
        """`tc -s qdisc show` of `ns`'s veth (sent, dropped, overlimits as text)."""
        return run("tc", "-n", ns, "-s", "qdisc", "show", "dev", DEV)

    def down(self, ns):
        """Take `ns`'s veth end down: its peer stops answering, without a FIN or a RST."""
        self.ip(ns, "link", "set", DEV, "down")

    def spawn(self, ns, script, *args, env=None, name=None, cpu=None):
        """Start `peers/<script> ARGS...` inside namespace `ns`; a `Child`. With `cpu`, pinned to
        that core (`taskset`), where the machine has more than one."""
        return self._start(ns, script, args, env, name, cpu)

    def close(self):
        self._stop_children()
        for ns in self._made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._made = []


class Local(_Children):
    """Peers on this host, talking over UNIX sockets in a private temporary directory (faults
    that need no network: `spawn()` as `Link.spawn`, `path(name)` a socket path there, `close()`
    kills every child and removes the directory)."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="frfault-unix-")
        self.children = []

    def path(self, name):
        return os.path.join(self.directory, name)

    def spawn(self, script, *args, env=None, name=None, cpu=None):
        return self._start(None, script, args, env, name, cpu)

    def close(self):
        self._stop_children()
        shutil.rmtree(self.directory, ignore_errors=True)


# The reactors a peer can run, as peers/peerlib.py names them.
NATIVE = "native"            # fastreactor's native face (global reactor, epoll)
TWISTED_FACE = "twisted-face"  # fastreactor.twisted.install(): Twisted's classes on fastreactor
TWISTED = "twisted"          # Twisted's own EPollReactor, the oracle


def native_on_every_poller():
    """`native:POLLER` for each poller fastreactor has here (epoll first)."""
    import fastreactor
    return ["%s:%s" % (NATIVE, p) for p in fastreactor.available_pollers()]


TLS_SUFFIX = "+tls"


def make_certificate(directory):
    """A self-signed EC certificate and its key as PEM files in `directory`; `CERT:KEY`, the value
    peers take in FAULTS_TLS."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastreactor fault tests")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return "%s:%s" % (cert_path, key_path)


def face_env(face, tls):
    """Split a test's face parameter (`twisted-face+tls`) into the peer's face and the environment
    that puts its connections on TLS (`tls`: the `tls` fixture's value, `CERT:KEY`)."""
    if face.endswith(TLS_SUFFIX):
        return face[:-len(TLS_SUFFIX)], {"FAULTS_TLS": tls}
    return face, {"FAULTS_TLS": ""}
