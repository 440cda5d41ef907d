#!/usr/bin/env bash
# Show the whole call center: install what pycc needs, then run `pycc demo`.
#
#   scripts/demo.sh [pycc demo options...]        e.g. scripts/demo.sh --seconds 120 --agents 12
#
# A switch on 127.0.0.1 with an embedded SQLite database in a temporary directory (or
# --data-dir DIR to keep it), simulated agents, customers and inbound callers, a predictive
# campaign and an inbound queue for a minute under a live view, then the reports. Nothing
# leaves the machine. Ctrl-C ends it early and still prints the reports.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh

python_bin=python3
[ -x .venv/bin/python ] && python_bin="$root/.venv/bin/python"
pycc="$("$python_bin" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/pycc"
[ -x "$pycc" ] || pycc="$(command -v pycc)"

exec "$pycc" demo "$@"
