"""The benchmark suite must keep running: a tiny configuration, every row present, no speed checked."""
import json
import os
import subprocess
import sys

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
    for name in ("fastreactor", "fastreactor-twisted", "twisted", "asyncio", "uvloop", "c"):
        assert name in proc.stdout


def test_peers_that_are_installed_are_measured(tiny_run):
    """Only what cannot be imported may be reported as not available: the floor always runs."""
    _, result = tiny_run
    expected = {"c": True, "twisted": importable("twisted.internet.epollreactor"), "asyncio": True,
                "uvloop": importable("uvloop"), "fastreactor": fastreactor_ready()}
    for name, available in expected.items():
        if available:
            for workload in ("echo", "connect", "idle"):
                assert name not in result["unavailable"][workload], (workload, name,
                                                                      result["unavailable"][workload].get(name))


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

