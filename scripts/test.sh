#!/usr/bin/env bash
# Run every check of pycc: install what the tests need, then ruff, mypy and the pytest suite.
#
#   scripts/test.sh [pytest options...]           e.g. scripts/test.sh -k sipp -x
#
# pytest runs the tests in several processes (pytest-xdist, "-n auto": one worker per CPU, at
# least 3, or PYCC_TEST_WORKERS of them; see tests/peers/parallel.py). To run them in one
# process, pass -n 0 or -p no:xdist, or set PYCC_TEST_WORKERS=0; -n N and --dist choose for
# themselves, and --pdb and --trace run in one process.
#
# The pytest run happens inside a private network namespace that has only a loopback interface
# (unshare -n) when running as root, so the tests and the peers they start (SIPp, baresip,
# Kamailio, PostgreSQL, SIPVicious) can reach nothing but 127.0.0.1. Without that possibility
# the tests run in the normal network, with a warning. Exits non-zero when any step fails,
# and when pytest collects no test at all.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "set-up"
bash scripts/setup.sh --test || { echo "test.sh: set-up failed" >&2; exit 1; }

python_bin=python3
[ -x .venv/bin/python ] && python_bin="$root/.venv/bin/python"

failed=()

step "ruff check src tests"
"$python_bin" -m ruff check src tests || failed+=(ruff)

step "mypy"
"$python_bin" -m mypy || failed+=(mypy)

# Tests that mostly wait (SIP timers, real peers, the media clock) share the CPUs well; the
# developer's own choice of processes, or a debugger, wins over the default.
parallel=(-n auto --dist worksteal)
previous=""
for arg in "$@"; do
    case "$arg" in
        -n | -n?* | --numprocesses | --numprocesses=* | --dist | --dist=* | -pno:xdist | \
            --pdb | --trace) parallel=() ;;
        no:xdist) [ "$previous" = -p ] && parallel=() ;;
    esac
    previous="$arg"
done
if ((${#parallel[@]})) && ! "$python_bin" -c 'import xdist' >/dev/null 2>&1; then
    echo "test.sh: warning: pytest-xdist is not installed; the tests run in one process" >&2
    parallel=()
fi
pytest_cmd=("$python_bin" -m pytest "${parallel[@]}" "$@")
# The tests start pycc (python -m pycc) hundreds of times: without a bytecode cache (as where
# PYTHONDONTWRITEBYTECODE is set) each start compiles pycc again, and each run rewrites the
# asserts of every test module again. The cache goes outside the work tree.
export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/pycc/pycache}"
unset PYTHONDONTWRITEBYTECODE
isolated=0
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
    unshare -n -- sh -c 'ip link set lo up' >/dev/null 2>&1; then
    isolated=1
fi

step "pytest ${parallel[*]:-} ${*:-}"
log="$(mktemp -t pycc-pytest.XXXXXX)"
if ((isolated)); then
    echo "(in a network namespace with loopback only)"
    # "$0" of the inner shell is the interpreter, "$@" the pytest arguments.
    unshare -n -- sh -c 'ip link set lo up && exec "$0" "$@"' "${pytest_cmd[@]}" 2>&1 |
        tee "$log"
else
    echo "test.sh: warning: cannot make a loopback-only network namespace (needs root and" \
        "unshare); running the tests in the normal network" >&2
    "${pytest_cmd[@]}" 2>&1 | tee "$log"
fi
pytest_status=${PIPESTATUS[0]}
# "=== 3 failed, 20 passed in 5.20s ===", or without the rules under -q.
summary="$(grep -E '^(=+ )?(no tests ran|[0-9]+ [a-z]+).* in [0-9.]+s( \([0-9:]+\))?( =+)?$' "$log" |
    tail -n 1)"
rm -f "$log"
case "$pytest_status" in
    0) ;;
    5) echo "test.sh: pytest collected no tests" >&2; failed+=("pytest (no tests)") ;;
    *) failed+=("pytest (exit $pytest_status)") ;;
esac

step "summary"
echo "pytest: ${summary:-no summary line (exit $pytest_status)}"
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all checks passed"
