#!/usr/bin/env bash
# Run every check of pycc: install what the tests need, then ruff, mypy and the pytest suite.
#
#   scripts/test.sh [pytest options...]           e.g. scripts/test.sh -k sipp -x
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

pytest_cmd=("$python_bin" -m pytest "$@")
isolated=0
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
    unshare -n -- sh -c 'ip link set lo up' >/dev/null 2>&1; then
    isolated=1
fi

step "pytest ${*:-}"
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
