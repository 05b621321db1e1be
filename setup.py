"""Declares the compiled core, fastreactor._core; all metadata lives in pyproject.toml.

FASTREACTOR_DEBUG chooses the build: unset, an optimised build (-O2, NDEBUG); `1`, a debug build
(-O0 -g3, no NDEBUG of ours, Cython's annotated HTML beside the sources); `asan`, AddressSanitizer
and UndefinedBehaviorSanitizer (-fsanitize=address,undefined,float-cast-overflow -O1 -g), with C
asserts on (-UNDEBUG undoes the -DNDEBUG in Python's own CFLAGS, so the asserts in CPython's inline
header functions check the compiled core's use of them too). The `asan` build needs the ASan
runtime preloaded into the uninstrumented interpreter: see tools/asan_tests.sh and tests/README.md.
"""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

MODE = os.environ.get("FASTREACTOR_DEBUG", "") or "release"
if MODE not in ("release", "1", "asan"):
    sys.exit("FASTREACTOR_DEBUG=%r: use 1 (debug build) or asan (sanitizers), or leave it unset" % (MODE,))

# float-cast-overflow is not part of gcc's "undefined" group: it catches a double (a timeout, a
# delay) converted to an integer type that cannot hold it, e.g. `callLater(sys.maxsize, f)`.
SANITIZE = ["-fsanitize=address,undefined,float-cast-overflow", "-fno-omit-frame-pointer"]
compile_args = {
    "release": ["-O2"],
    "1": ["-O0", "-g3"],
    "asan": SANITIZE + ["-O1", "-g", "-UNDEBUG"],
}[MODE]
link_args = SANITIZE if MODE == "asan" else []
macros = [("NDEBUG", "1")] if MODE == "release" else []
if sys.platform.startswith("linux"):
    macros.append(("_GNU_SOURCE", "1"))


class build_ext_per_mode(build_ext):
    """build_ext that recompiles everything when the build flags differ from the previous build's
    in the same build/ directory (otherwise an object compiled without sanitizers, newer than the
    sources, would be reused for an `asan` build, and the other way round)."""

    def run(self):
        stamp = os.path.join(self.build_temp, "fastreactor-build-flags")
        flags = repr((MODE, compile_args, link_args, macros))
        try:
            with open(stamp) as f:
                previous = f.read()
        except OSError:
            previous = None
        if previous != flags:
            self.force = True
        super().run()
        os.makedirs(self.build_temp, exist_ok=True)
        with open(stamp, "w") as f:
            f.write(flags)


extension = Extension(
    "fastreactor._core",
    sources=["src/_core.pyx"],
    include_dirs=["src"],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
    define_macros=macros,
)

setup(
    cmdclass={"build_ext": build_ext_per_mode},
    ext_modules=cythonize(
        [extension],
        include_path=["src"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
            "freethreading_compatible": False,
        },
        annotate=MODE == "1",
    )
)
