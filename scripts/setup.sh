#!/usr/bin/env bash
# Install what pycc needs on a Debian 12 machine; safe to run again (it only adds what is missing).
#
#   scripts/setup.sh           OS libraries pycc runs with, then pycc itself (pip install -e .)
#   scripts/setup.sh --test    also the real SIP peers the tests start (SIPp, baresip, Kamailio,
#                              PostgreSQL, SIPVicious ...), Debian's chromium for the browser
#                              tests (Playwright drives it; no `playwright install` browser)
#                              and the test tools (pip .[test])
#
# OS packages come from apt-get (as root, or through sudo). Kamailio and PostgreSQL are only
# used as programs the tests start themselves: their system services are stopped and disabled
# when this script installs them.
#
# Python: the first python3 on PATH (>= 3.11). When it is Debian's own interpreter, which does
# not allow pip to install into it (PEP 668), pycc goes into a virtual environment in .venv;
# scripts/demo.sh, scripts/serve.sh and scripts/test.sh use .venv when it exists.
set -euo pipefail

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

with_test=0
for arg in "$@"; do
    case "$arg" in
        --test) with_test=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "setup.sh: unknown option: $arg (try --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { echo "setup: $*" >&2; }

# --- OS packages -------------------------------------------------------------------------------

# What pycc itself loads or runs: Opus and G.729 codec libraries, openssl for the TLS
# certificate, espeak-ng and sox for text-to-speech prompts and prompt conversion.
runtime_packages=(libopus0 libbcg729-0 openssl espeak-ng sox)
# What the tests start as real peers, iproute2 for the loopback-only test network, and
# chromium for the browser tests (Playwright launches this one through executable_path).
test_packages=(sip-tester baresip-core sipvicious kamailio kamailio-tls-modules postgresql iproute2
               chromium)
# Services that must not run on their own: the tests start private instances.
quiet_services=(kamailio postgresql)

packages=("${runtime_packages[@]}")
if ((with_test)); then
    packages+=("${test_packages[@]}")
fi
if ! command -v python3 >/dev/null 2>&1; then
    packages+=(python3 python3-venv)
fi

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "setup.sh: missing OS packages and not root (no sudo either); run as root" >&2
        exit 1
    fi
}

apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup.sh: apt-get not found; install by hand: ${missing[*]}" >&2
        exit 1
    fi
    log "installing ${missing[*]}"

    # Keep apt from starting services while it installs them (invoke-rc.d asks policy-rc.d;
    # 101 = action forbidden). An existing policy is left as it is.
    local policy=/usr/sbin/policy-rc.d
    local own_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        own_policy=1
    fi
    local status=0
    if [ -z "${PYCC_APT_UPDATED:-}" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || status=$?
        export PYCC_APT_UPDATED=1
    fi
    if ((status == 0)); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
            status=$?
    fi
    if ((own_policy)); then
        as_root rm -f "$policy"
    fi
    if ((status != 0)); then
        echo "setup.sh: apt-get failed ($status) installing: ${missing[*]}" >&2
        exit "$status"
    fi

    # The services this run installed are stopped and disabled.
    local service
    for service in "${quiet_services[@]}"; do
        local pkg_installed_now=0
        for pkg in "${missing[@]}"; do
            [ "$pkg" = "$service" ] && pkg_installed_now=1
        done
        ((pkg_installed_now)) || continue
        quiet_service "$service"
    done
}

quiet_service() {
    local service="$1"
    log "stopping and disabling the $service service (tests run their own)"
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
    if command -v service >/dev/null 2>&1; then
        as_root service "$service" stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        as_root update-rc.d "$service" disable >/dev/null 2>&1 || true
    fi
}

apt_install "${packages[@]}"

# --- Python ------------------------------------------------------------------------------------

python_bin="python3"
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: pycc needs Python >= 3.11; $(command -v python3) is $(python3 -V 2>&1)" >&2
    exit 1
fi
externally_managed="$(python3 - <<'EOF'
import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
print(int(managed and sys.prefix == sys.base_prefix))
EOF
)"
if [ -x .venv/bin/python ] || [ "$externally_managed" = 1 ]; then
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv 2>/dev/null || {
            apt_install python3-venv
            rm -rf .venv
            python3 -m venv .venv
        }
        log "created virtual environment .venv (python3 is managed by Debian)"
    fi
    python_bin="$root/.venv/bin/python"
fi
if ! "$python_bin" -m pip --version >/dev/null 2>&1; then
    "$python_bin" -m ensurepip --upgrade >/dev/null 2>&1 || apt_install python3-pip
fi

# pip install only when something is missing: the installed pycc must be this checkout, and
# every requirement of pyproject.toml (with the test extras for --test) must be satisfied.
extras="accel"
((with_test)) && extras="test,accel"
if "$python_bin" - "$root" "$extras" <<'EOF'
import importlib.metadata as md
import json
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

root, extras = Path(sys.argv[1]), [e for e in sys.argv[2].split(",") if e]
project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
try:
    dist = md.distribution(project["name"])
    url = json.loads(dist.read_text("direct_url.json") or "{}")
except md.PackageNotFoundError:
    sys.exit(1)
if Path(url.get("url", "").removeprefix("file://")).resolve() != root.resolve():
    sys.exit(1)
if dist.version != project["version"]:
    sys.exit(1)
wanted = list(project.get("dependencies", []))
for extra in extras:
    wanted += project.get("optional-dependencies", {}).get(extra, [])
for text in wanted:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate():
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        sys.exit(1)
    if not req.specifier.contains(version, prereleases=True):
        sys.exit(1)
EOF
then
    log "python packages up to date ($python_bin)"
else
    target="."
    [ -n "$extras" ] && target=".[$extras]"
    log "pip install -e '$target' ($python_bin)"
    "$python_bin" -m pip install -q --disable-pip-version-check -e "$target"
fi

# --- the compiled SIP core ---------------------------------------------------------------------

# `pycc accel build` compiles the SIP core with mypyc (a C compiler and Python's headers) into
# ~/.cache/pycc/accel, once per version of its sources; pycc runs without it, only slower.
command -v gcc >/dev/null 2>&1 || apt_install gcc
if ! "$python_bin" -c 'import pathlib, sys, sysconfig
sys.exit(not (pathlib.Path(sysconfig.get_paths()["include"]) / "Python.h").is_file())'; then
    if "$python_bin" -c 'import sys; sys.exit(sys.base_prefix != "/usr")'; then
        apt_install python3-dev
    fi
fi
"$python_bin" -m pycc accel build ||
    log "the compiled SIP core was not built; pycc runs its pure Python modules"
