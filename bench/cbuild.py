"""Build the suite's C programs (loadgen, c_echo, c_udp_echo; uring_echo on demand) into bench/bin/
with the system compiler."""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig

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


def python_embedding_flags():
    """Compiler and linker flags that embed the running interpreter in a C program (its headers,
    its libpython, its home so the program finds the standard library), as `python3-config --embed`
    gives them."""
    libdir = sysconfig.get_config_var("LIBDIR")
    ldversion = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
    home = sys.base_prefix.replace("\\", "\\\\").replace('"', '\\"')
    flags = ["-I" + sysconfig.get_paths()["include"], '-DECHO_PYTHON_HOME="%s"' % home,
             "-L" + libdir, "-Wl,-rpath," + libdir, "-lpython" + ldversion]
    flags += (sysconfig.get_config_var("LIBS") or "").split()
    flags += (sysconfig.get_config_var("SYSLIBS") or "").split()
    return flags


# Programs built from another program's source with extra flags: name -> (source, flags()).
VARIANTS = {
    # bench/c_echo.c with every message handed to a Python protocol (bench/echo_python.h).
    "c_echo_python": ("c_echo", lambda: ["-DECHO_PYTHON_PROTOCOL"] + python_embedding_flags()),
}


def build(name):
    """Path of bench/bin/NAME, compiled from bench/NAME.c (or a VARIANTS entry's source) if missing,
    older than its source or than a header of bench/ (echo_common.h: the programs include their
    headers from there), or built with other flags (a variant embedding another interpreter)."""
    source, flags = VARIANTS.get(name, (name, list))
    src = os.path.join(HERE, source + ".c")
    out = os.path.join(BIN, name)
    extra = flags()
    stamp = out + ".flags"
    sources = [src] + glob.glob(os.path.join(HERE, "*.h"))
    built_with = open(stamp).read() if os.path.exists(stamp) else ""
    if (os.path.exists(out) and os.path.getmtime(out) >= max(map(os.path.getmtime, sources))
            and built_with == " ".join(extra)):
        return out
    os.makedirs(BIN, exist_ok=True)
    tmp = out + ".tmp%d" % os.getpid()
    cmd = [compiler(), "-O2", "-Wall", "-o", tmp, src] + extra
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("%s failed:\n%s" % (" ".join(cmd), proc.stderr))
    os.replace(tmp, out)  # atomic: concurrent runs never see a half-written binary
    with open(stamp, "w") as f:
        f.write(" ".join(extra))
    return out


# Built when they can be (they embed the running interpreter, which needs its libpython); when one
# cannot, build_all() maps NAME + "_error" to the reason instead, and its server reports itself
# unavailable.
OPTIONAL = ("c_echo_python",)


def build_all():
    """Build every C program of the suite; return {name: path} (see OPTIONAL for the others)."""
    bins = {name: build(name) for name in PROGRAMS}
    for name in OPTIONAL:
        try:
            bins[name] = build(name)
        except BuildError as e:
            bins[name + "_error"] = str(e).splitlines()[0]
    return bins
