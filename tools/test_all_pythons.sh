#!/usr/bin/env bash
# Run the test suite on every supported CPython that pyenv has here, one fresh venv per version.
#
#   tools/test_all_pythons.sh [PYTEST ARGS...]      (default: -q -x -p no:randomly tests)
#
# For each pyenv version 3.10 or newer (the supported floor; see README "Supported Python
# versions"), it makes /tmp/fastreactor-py<VERSION> from scratch, installs ".[test]" into it (a
# full build of the extension), and runs pytest from the repository root against the installed
# package. Prints one summary line per version and exits non-zero if any version failed.
# Versions older than the floor are listed as skipped, with the reason.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-q -x -p no:randomly tests)
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
floor_minor=10
summary=()
failed=0
for dir in $(ls -d "$root"/versions/3.* | sort -V); do
    [ -x "$dir/bin/python3" ] || continue
    version=$(basename "$dir")
    minor=$(echo "$version" | cut -d. -f2)
    if [ "$minor" -lt "$floor_minor" ]; then
        summary+=("$version: skipped (below the supported floor 3.$floor_minor)")
        continue
    fi
    venv=/tmp/fastreactor-py$version
    log=/tmp/fastreactor-py$version.log
    echo "=== CPython $version (log: $log)"
    rm -rf "$venv"
    if ! { "$dir/bin/python3" -m venv "$venv" \
           && "$venv/bin/python" -m pip install -q --upgrade pip \
           && "$venv/bin/python" -m pip install -q ".[test]"; } >"$log" 2>&1; then
        summary+=("$version: INSTALL FAILED (see $log)")
        failed=1
        continue
    fi
    # pytest with SIGINT set back to Python's default: a shell started in the background (nohup,
    # `&`) hands its children SIGINT ignored, and the tests that send SIGINT would then hang.
    # (sys.path[0] is dropped: with -c it is the repository root, whose fastreactor/ is the
    # source tree, not the installed package.)
    if "$venv/bin/python" -c 'import sys; sys.path.pop(0)
import signal, pytest
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.exit(pytest.main(sys.argv[1:]))' "${args[@]}" 2>&1 | tee -a "$log" | tail -3; then
        summary+=("$version: $(tail -1 "$log")")
    else
        summary+=("$version: FAILED: $(tail -1 "$log")")
        failed=1
    fi
done
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit $failed
