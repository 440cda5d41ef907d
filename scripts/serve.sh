#!/usr/bin/env bash
# Run the pycc switch: install what it needs, create the data directory on the first run, serve.
#
#   scripts/serve.sh [pycc serve options...]      e.g. scripts/serve.sh --sip-port 5070
#
# The data directory is $PYCC_DATA_DIR, or ./data in the repository: an embedded SQLite
# database, pycc.toml and the TLS certificate. Stop with Ctrl-C or SIGTERM.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${PYCC_DATA_DIR:-$root/data}"
case "$data_dir" in
    /*) ;;
    *) data_dir="$PWD/$data_dir" ;;  # relative to where the command was given
esac
cd "$root"

bash scripts/setup.sh

python_bin=python3
[ -x .venv/bin/python ] && python_bin="$root/.venv/bin/python"
pycc="$("$python_bin" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/pycc"
[ -x "$pycc" ] || pycc="$(command -v pycc)"

if [ ! -f "$data_dir/pycc.toml" ]; then
    "$pycc" init --data-dir "$data_dir"
fi
exec "$pycc" serve --data-dir "$data_dir" "$@"
