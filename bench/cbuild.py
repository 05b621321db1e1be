"""Build the suite's C programs (loadgen, c_echo, c_udp_echo; uring_echo on demand) into bench/bin/
with the system compiler."""
import glob
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "bin")
PROGRAMS = ("loadgen", "c_echo", "c_udp_echo")


class BuildError(RuntimeError):
    """The C compiler is missing or failed."""


def compiler():
    """The C compiler to use: $CC, else cc, else gcc, else clang."""
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise BuildError("no C compiler found (set CC or install cc)")


def build(name):
    """Path of bench/bin/NAME, compiled from bench/NAME.c if missing or older than its source or
    than a header of bench/ (echo_common.h: the programs include their headers from there)."""
    src = os.path.join(HERE, name + ".c")
    out = os.path.join(BIN, name)
    sources = [src] + glob.glob(os.path.join(HERE, "*.h"))
    if os.path.exists(out) and os.path.getmtime(out) >= max(map(os.path.getmtime, sources)):
        return out
    os.makedirs(BIN, exist_ok=True)
    tmp = out + ".tmp%d" % os.getpid()
    cmd = [compiler(), "-O2", "-Wall", "-o", tmp, src]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("%s failed:\n%s" % (" ".join(cmd), proc.stderr))
    os.replace(tmp, out)  # atomic: concurrent runs never see a half-written binary
    return out


def build_all():
    """Build every C program of the suite; return {name: path}."""
    return {name: build(name) for name in PROGRAMS}
