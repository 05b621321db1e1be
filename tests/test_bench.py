"""The benchmark suite must keep running: a tiny configuration, every row present, no speed checked."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bench/ uses epoll and /proc")


def importable(*modules):
    """True when every module imports in a fresh interpreter like the one the suite uses."""
    code = "import " + ", ".join(modules)
    return subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True).returncode == 0


def fastreactor_ready():
    return subprocess.run([sys.executable, "-c", "import fastreactor; fastreactor.Reactor"], cwd="/",
                          capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-out")
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "run.py"), "--tiny", "--out", str(out),
                           "--no-progress", "--no-results-md"],
                          capture_output=True, text=True, timeout=120, cwd="/")
    path = out / "latest-tiny.json"
    result = json.loads(path.read_text()) if path.exists() else None
    return proc, result


def test_tiny_run_finishes_and_writes_json(tiny_run):
    proc, result = tiny_run
    assert result is not None, proc.stdout + proc.stderr
    failed = [(r["workload"], r["case"]["id"], r["impl"], r["error"]) for r in result["runs"] if "error" in r]
    assert not failed, failed
    assert proc.returncode == 0, proc.stderr
    assert result["elapsed_s"] < 60


def test_every_row_is_present(tiny_run):
    """Each (workload, case, implementation) has a measurement or a stated reason it is not available."""
    proc, result = tiny_run
    sys.path.insert(0, BENCH)
    try:
        import plan
    finally:
        sys.path.remove(BENCH)
    measured = {(r["workload"], r["case"]["id"], r["impl"]) for r in result["runs"] if "metrics" in r}
    for workload in plan.WORKLOADS:
        assert result["cases"][workload], workload
        for case in result["cases"][workload]:
            for name in plan.participants(workload):
                reason = result["unavailable"][workload].get(name)
                if reason is not None:
                    assert reason.strip(), (workload, name)
                    continue
                assert (workload, case["id"], name) in measured, (workload, case["id"], name)
    # the table names every implementation, measured or not
    for name in ("fastreactor", "fastreactor-twisted", "twisted", "asyncio", "uvloop", "rloop", "aiofastnet", "c"):
        assert name in proc.stdout


def test_peers_that_are_installed_are_measured(tiny_run):
    """Only what cannot be imported may be reported as not available: the floor always runs."""
    _, result = tiny_run
    expected = {"c": True, "twisted": importable("twisted.internet.epollreactor"), "asyncio": True,
                "uvloop": importable("uvloop"), "rloop": importable("rloop"),
                "aiofastnet": importable("aiofastnet", "uvloop"), "fastreactor": fastreactor_ready()}
    for name, available in expected.items():
        if available:
            for workload in ("echo", "connect", "idle"):
                assert name not in result["unavailable"][workload], (workload, name,
                                                                      result["unavailable"][workload].get(name))
    web = {"twisted": importable("twisted.web.server", "twisted.internet.epollreactor"),
           "fastreactor-twisted": fastreactor_ready() and importable("twisted.web.server", "fastreactor.twisted")}
    for name, available in web.items():
        if available:
            assert name not in result["unavailable"]["web"], (name, result["unavailable"]["web"].get(name))


def test_web_workload_serves_requests(tiny_run):
    """Every twisted.web run answered real requests, all with 200, and shows up in the table."""
    proc, result = tiny_run
    runs = [r for r in result["runs"] if r["workload"] == "web"]
    measured = {r["impl"] for r in runs if "metrics" in r}
    assert measured | set(result["unavailable"]["web"]) == {"fastreactor-twisted", "twisted"}
    for run in runs:
        m = run["metrics"]
        assert m["mode"] == "http" and m["count"] > 0 and m["rate"] > 0, run
        assert m["errors"] == 0 and m["bad_status"] == 0, run
        assert 0 < m["p50_us"] <= m["p99_us"], run
        assert "server_cpu_pct" in m, run
    assert "twisted.web hello world" in proc.stdout
    if {"fastreactor-twisted", "twisted"} <= measured:
        assert "fastreactor-twisted / twisted" in proc.stdout


def test_ratios_compare_ours_to_uvloop_and_twisted():
    sys.path.insert(0, BENCH)
    try:
        import report
    finally:
        sys.path.remove(BENCH)
    case = {"id": "echo-64-1", "label": "64 B x 1 conn"}

    def run(impl, rate, rep):
        return {"workload": "echo", "case": case, "impl": impl, "rep": rep,
                "metrics": {"rate": rate, "mib_s": rate / 1000, "p50_us": 100.0, "p99_us": 200.0}}

    runs = [run(i, r * k, k) for k in (1, 2, 3) for i, r in (("fastreactor", 300), ("uvloop", 200), ("twisted", 100))]
    rows = report.summarize(runs)
    ratios = report.ratios(rows)[("echo", "echo-64-1", "fastreactor")]
    assert ratios["uvloop"]["rate"] == pytest.approx(1.5)
    assert ratios["twisted"]["rate"] == pytest.approx(3.0)
    assert ratios["twisted"]["p99_us"] == pytest.approx(1.0)
    median = next(r for r in rows if r["impl"] == "fastreactor")["median"]
    assert median["rate"] == 600 and median["p50_us"] == 100.0


def _http_peer(responses):
    """A one-connection HTTP server on 127.0.0.1 answering the i-th request with RESPONSES[i], a list
    of byte chunks sent with a pause between them (so the client sees them in separate reads).
    Returns (port, requests received, thread)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    requests = []

    def serve():
        conn, _ = lsock.accept()
        lsock.close()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        with conn:
            for chunks in responses:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buf += data
                request, buf = buf.split(b"\r\n\r\n", 1)
                requests.append(request + b"\r\n\r\n")
                for chunk in chunks:
                    conn.sendall(chunk)
                    time.sleep(0.002)
            conn.recv(1)  # until the client closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return lsock.getsockname()[1], requests, thread


def _loadgen_http(port, messages):
    sys.path.insert(0, BENCH)
    try:
        import cbuild
        import procs
    finally:
        sys.path.remove(BENCH)
    return procs.run_loadgen(cbuild.build_all()["loadgen"], ["http", "--port", port, "--conns", 1,
                                                             "--messages", messages], procs.cpus()[1], timeout=60)


def test_loadgen_http_parses_split_and_large_responses():
    """http mode reads responses split anywhere (even inside the blank line), bodies larger than its
    read buffer and empty bodies; a non-200 status counts as an error, not as a request."""
    hello = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 13\r\n\r\nHello, world!"
    k = hello.index(b"\r\n\r\n")
    split = [hello[:5], hello[5:k + 1], hello[k + 1:k + 3], hello[k + 3:k + 6], hello[k + 6:]]  # cut the blank line
    big_body = b"x" * 300_000  # more than loadgen's 256 KiB read buffer
    big = [b"HTTP/1.1 200 OK\r\ncontent-length:  300000\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n" + big_body]
    not_found = [b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"]
    empty = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r", b"\n"]
    port, requests, thread = _http_peer([split, big, not_found, empty] * 2)
    result = _loadgen_http(port, 8)
    thread.join(10)
    assert result["count"] == 6 and result["bad_status"] == 2 and result["errors"] == 2, result
    assert requests == [b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"] * 8


def test_loadgen_http_rejects_undelimited_responses():
    """A response without Content-Length cannot be delimited on a keep-alive connection: an error."""
    port, _, thread = _http_peer([[b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nHello"]])
    result = _loadgen_http(port, 3)
    thread.join(10)
    assert result["count"] == 0 and result["errors"] == 1, result


def test_webprof_profiles_requests():
    """bench/webprof.py runs the web server under cProfile for exactly N requests and reports them."""
    impl = "fastreactor-twisted" if fastreactor_ready() and importable("fastreactor.twisted") else "twisted"
    if not importable("twisted.web.server"):
        pytest.skip("twisted.web is not installed")
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "webprof.py"), impl, "--requests", "300",
                           "--warmup", "50", "--top", "5"], capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "profiled 300 requests" in proc.stdout and "twisted.web" in proc.stdout, proc.stdout


def test_loadgen_sends_exactly_m_messages():
    """The C load generator builds and its echo mode counts exactly M messages against the C floor."""
    sys.path.insert(0, BENCH)
    try:
        import cbuild
        import impls
        import procs
    finally:
        sys.path.remove(BENCH)
    bins = cbuild.build_all()
    with procs.Server(impls.server_command("c", bins), procs.cpus()[0]) as server:
        result = procs.run_loadgen(bins["loadgen"], ["echo", "--port", server.port, "--conns", 1, "--size", 1000,
                                                     "--messages", 500], procs.cpus()[1])
    assert result["count"] == 500 and result["errors"] == 0
    assert 0 < result["p50_us"] <= result["p99_us"]



@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_python_protocol_floor_echoes_through_a_python_protocol(over, tmp_path):
    """c-python (bench/c_echo.c with echo_python.h) builds against this interpreter and echoes
    every byte through its Python protocol, over TCP and over a UNIX socket."""
    sys.path.insert(0, BENCH)
    try:
        import cbuild
        import impls
        import procs
    finally:
        sys.path.remove(BENCH)
    bins = cbuild.build_all()
    assert "c_echo_python" in bins, bins.get("c_echo_python_error")
    unix = str(tmp_path / "echo.sock") if over == "unix" else None
    with procs.Server(impls.server_command("c-python", bins, unix=unix), procs.cpus()[0]) as server:
        where = ["--unix", unix] if unix else ["--port", server.port]
        result = procs.run_loadgen(bins["loadgen"], ["echo"] + where + ["--conns", 2, "--size", 3000,
                                                                        "--messages", 400], procs.cpus()[1],
                                    timeout=30)
    assert result["count"] == 400 and result["errors"] == 0, result


@pytest.mark.parametrize("program", ["c_echo", "c_echo_python", "uring_echo"])
def test_c_floors_echo_a_bulk_stream_intact(program):
    """Each C floor echoes a 3 MB stream sent while it answers, byte for byte, and closes once the
    peer half-closed and everything went back (uring_echo used to send from a buffer it grew
    while the send was in flight: it returned 16 KiB of a 3 MB stream)."""
    sys.path.insert(0, BENCH)
    try:
        import cbuild
        import procs
    finally:
        sys.path.remove(BENCH)
    try:
        path = cbuild.build(program)
    except cbuild.BuildError as e:
        pytest.fail("%s did not build: %s" % (program, e))
    data = os.urandom(3_000_000)
    try:
        server = procs.Server([path, "0"], procs.cpus()[0]).start()
    except procs.Unavailable as e:
        pytest.skip("%s: %s (io_uring refused by this kernel)" % (program, e))
    try:
        conn = socket.create_connection(("127.0.0.1", int(server.port)), timeout=30)

        def send():
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        got = bytearray()
        while True:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        sender.join(30)
        conn.close()
    finally:
        server.stop()
    assert len(got) == len(data) and bytes(got) == data, (program, len(got))
