#!/usr/bin/env bash
# Build fastreactor with AddressSanitizer + UndefinedBehaviorSanitizer into its own venv and run the
# engine tests under them.
#
# Usage, from anywhere:  tools/asan_tests.sh [pytest arguments...]
#   default arguments: the engine tests (loop, TCP, framing, the stream error paths) and those of
#                      every compiled transport (UNIX, UDP, TLS, processes), but for the RSS test
#                      (see below)
#   ASAN_VENV=DIR      the venv (default .venv-asan/ at the repository root; reused, rebuilt into)
#   ASAN_LOGS=DIR      where the sanitizer reports go (default: a new temporary directory)
#
# Linux with gcc (the compiler setuptools uses; Debian: build-essential python3-dev python3-venv).
# The interpreter is not instrumented, so:
#   LD_PRELOAD=libasan  the ASan runtime must be loaded before anything else for the instrumented
#                       _core to be dlopen-ed ("ASan runtime does not come first" otherwise);
#   PYTHONMALLOC=malloc Python objects are allocated with malloc, which ASan watches, instead of
#                       pymalloc's arenas, where a use-after-free of an object goes unseen;
#   detect_leaks=0      CPython does not free everything at exit (interned strings, static types,
#                       module state), so LeakSanitizer would report thousands of leaks that are not ours.
# ASan reports and aborts the process; its reports go to files (log_path). UBSan reports and goes
# on, on stderr (with libasan preloaded, UBSan ignores log_path), which pytest captures: pytest runs
# with -rA, so the captured output of passed tests is kept too, into $ASAN_LOGS/pytest.log, and the
# script looks for "runtime error:" there. Reports from a subprocess whose stderr a test reads
# itself are not seen. The exit status is 1 when any report was found or a test failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv=${ASAN_VENV:-$top/.venv-asan}
logs=${ASAN_LOGS:-$(mktemp -d /tmp/fastreactor-asan.XXXXXX)}
mkdir -p "$logs"

libasan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
    echo "tools/asan_tests.sh: gcc has no libasan.so ($libasan); install gcc's sanitizer runtime (libasan)" >&2
    exit 2
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
. "$venv/bin/activate"
FASTREACTOR_DEBUG=asan pip install -q ".[test]"
(cd / && python -c 'import fastreactor._core') >/dev/null 2>&1 && {
    echo "tools/asan_tests.sh: _core imported without the ASan runtime: not an asan build" >&2; exit 2; }

if [ $# -eq 0 ]; then
    # The RSS test is left out: ASan keeps freed blocks in quarantine (256 MiB by default, so that
    # a use-after-free hits poisoned memory), so RSS grows over 75,000 connections by design.
    set -- tests/test_loop_*.py tests/test_tcp_*.py tests/test_basic*.py tests/test_stream_queue.py \
        tests/test_abort.py tests/test_close_paths.py tests/test_engine_interrupts.py \
        tests/test_log_safety.py tests/test_accept_errors.py tests/test_unix_native.py \
        tests/test_udp.py tests/test_tls_native.py tests/test_process.py \
        --deselect "tests/test_tcp_memory.py::test_rss_is_flat_over_many_connect_close_cycles"
fi
status=0
LD_PRELOAD="$libasan" PYTHONMALLOC=malloc \
    ASAN_OPTIONS="detect_leaks=0:log_path=$logs/asan:${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}" \
    pytest -q -p no:randomly -rA "$@" > "$logs/pytest.log" 2>&1 || status=$?
# pytest's own summary, without the captured output of every passed test that -rA adds.
sed -n '/short test summary info/,$p' "$logs/pytest.log" | grep -v '^PASSED ' || tail -n 20 "$logs/pytest.log"

found=0
asan_reports=$(find "$logs" -type f -name 'asan.*' | sort)
for f in $asan_reports; do echo "=== ASan report $f"; cat "$f"; found=1; done
if grep -q "runtime error:" "$logs/pytest.log"; then
    echo "=== UBSan reports (with the test each came from) in $logs/pytest.log:"
    grep -n -E "^_+ .* _+$|^-+ Captured|runtime error:" "$logs/pytest.log" | grep -B2 "runtime error:"
    found=1
fi
if [ $found = 1 ]; then
    exit 1
fi
echo "no sanitizer report (full pytest output: $logs/pytest.log)"
exit $status
