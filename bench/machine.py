"""Describe the machine and software a run happened on."""
import os
import platform
import sys


def cpu_model():
    """The CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version_of(module):
    """MODULE's version string, or 'not installed'."""
    try:
        mod = __import__(module)
    except Exception:  # noqa: BLE001
        return "not installed"
    version = getattr(mod, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(module)
        except Exception:  # noqa: BLE001
            version = "unknown"
    return str(version)


def describe():
    """A dict: CPU model, cores, kernel, Python, and the versions of the peers."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "kernel": "%s %s" % (platform.system(), platform.release()),
        "python": "%s %s" % (platform.python_implementation(), platform.python_version()),
        "python_executable": sys.executable,
        "versions": {m: version_of(m) for m in ("fastreactor", "twisted", "uvloop", "rloop", "aiofastnet")},
    }
