"""Declares the compiled core, fastreactor._core; all metadata lives in pyproject.toml."""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("FASTREACTOR_DEBUG") == "1"
compile_args = ["-O0", "-g3"] if debug else ["-O2"]
macros = [] if debug else [("NDEBUG", "1")]
if sys.platform.startswith("linux"):
    macros.append(("_GNU_SOURCE", "1"))

extension = Extension(
    "fastreactor._core",
    sources=["src/_core.pyx"],
    include_dirs=["src"],
    extra_compile_args=compile_args,
    define_macros=macros,
)

setup(
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
        annotate=debug,
    )
)
