"""The type stubs of the compiled module: fastreactor/_core.pyi and py.typed are installed, name
every public thing _core has, and (where mypy is installed) agree with the runtime (stubtest)."""
import ast
import importlib.util
import inspect
import os
import subprocess
import sys

import pytest

import fastreactor
from fastreactor import _core

PACKAGE_DIR = os.path.dirname(fastreactor.__file__)
STUB = os.path.join(PACKAGE_DIR, "_core.pyi")
# Cython's own additions, not part of the API.
CYTHON_NAMES = {"__reduce_cython__", "__setstate_cython__", "__test__", "__pyx_unpickle_Enum"}


def stub_tree():
    """The parsed stub: {name: set of member names} for classes, None for other top-level names."""
    with open(STUB) as f:
        tree = ast.parse(f.read())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
            names[node.name] = members
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = None
    return names


def runtime_public():
    """{name: set of own public members} for _core's classes, None for its public functions and
    constants (imported modules and private names left out)."""
    result = {}
    for name, obj in vars(_core).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if inspect.isclass(obj):
            result[name] = {m for m in vars(obj) if not m.startswith("__") and m not in CYTHON_NAMES}
        else:
            result[name] = None
    return result


def test_the_stub_and_py_typed_are_installed():
    assert os.path.isfile(STUB)
    assert os.path.isfile(os.path.join(PACKAGE_DIR, "py.typed"))


def test_every_public_name_and_member_of_core_is_in_the_stub():
    stub = stub_tree()
    missing = []
    for name, members in runtime_public().items():
        if name not in stub:
            missing.append(name)
        elif members is not None:
            missing.extend("%s.%s" % (name, m) for m in sorted(members - (stub[name] or set())))
    assert missing == [], "not in fastreactor/_core.pyi: %s" % ", ".join(missing)


def test_the_stub_names_nothing_that_core_lacks():
    extra = []
    for name, members in stub_tree().items():
        obj = getattr(_core, name, None)
        if obj is None:
            extra.append(name)
        elif members:
            extra.extend("%s.%s" % (name, m) for m in sorted(members) if not hasattr(obj, m))
    assert extra == []


def mypy_missing():
    return importlib.util.find_spec("mypy") is None


@pytest.mark.skipif(mypy_missing(), reason="mypy is not installed (pip install mypy to check the stub)")
def test_stubtest_finds_the_stub_consistent_with_the_runtime(tmp_path):
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text("".join("fastreactor._core.%s\nfastreactor._core.\\w+\\.%s\n" % (n, n)
                                 for n in sorted(CYTHON_NAMES)))
    command = [sys.executable, "-m", "mypy.stubtest", "fastreactor._core", "--allowlist", str(allowlist),
               "--ignore-unused-allowlist"]
    help_text = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--help"],
                               capture_output=True, text=True).stdout
    if "--ignore-disjoint-bases" in help_text:
        command.append("--ignore-disjoint-bases")      # PEP 800 markers: not worth a typing_extensions import
    done = subprocess.run(command, capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(mypy_missing(), reason="mypy is not installed (pip install mypy to check the stub)")
def test_mypy_type_checks_code_using_the_engine_and_catches_a_mistake(tmp_path):
    good = tmp_path / "good.py"
    good.write_text(
        "from fastreactor import _core\n"
        "loop = _core.Loop('poll')\n"
        "dc: _core.DelayedCall = loop.callLater(1.0, print, 'x')\n"
        "t: float = dc.getTime()\n"
        "names: list[str] = _core.available_pollers()\n")
    bad = tmp_path / "bad.py"
    bad.write_text("from fastreactor import _core\nx: str = _core.Loop().seconds()\n")
    for path, ok in ((good, True), (bad, False)):
        done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", os.devnull,
                               str(path)], capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
        assert (done.returncode == 0) == ok, done.stdout + done.stderr
