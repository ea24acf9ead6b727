#!/usr/bin/env bash
# Installs what `make run` and `make check` need on Debian 12, only what is missing:
# Debian packages through apt-get, and the node test dependencies from the committed lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    build-essential pkg-config libssl-dev liburcu-dev libsqlite3-dev libmicrohttpd-dev libjansson-dev openssl
    libcurl4-openssl-dev  # HTTP client of the CLI and the control plane (common/http_client.c)
    ca-certificates procps
    redis-server redis-tools nutcracker iproute2
    python3 python3-redis python3-pytest
    clang valgrind  # make fuzz (libFuzzer), the valgrind run of .ci/run
    chromium  # the web console's test drives it headless (playwright-core, no browser download)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm are checked as commands: a machine may carry another build of Node.js (e.g.
# NodeSource's, which bundles npm and conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
    # Debian starts a system redis-server on 6379 when the package is installed; Stratus runs its
    # own engines and wants that port for its endpoint.
    if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
        $SUDO systemctl disable --now redis-server || true
    elif pgrep -f '^/usr/bin/redis-server 127.0.0.1:6379' >/dev/null 2>&1; then
        $SUDO service redis-server stop >/dev/null 2>&1 || true
    fi
fi

if [ -f tests/node/package-lock.json ]; then
    if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
        (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
