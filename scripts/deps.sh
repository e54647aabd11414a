#!/bin/sh
# Installs every Debian package gand needs to build, run and test, then the
# monitoring page's npm packages (package-lock.json) and its vendor copy.
# Idempotent: runs apt-get only when something is missing and npm ci only
# when the lock file changed. apt-get needs root.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="
build-essential meson ninja-build pkg-config
libmicrohttpd-dev libcjson-dev libopenblas-dev libsqlite3-dev
libpng-dev zlib1g-dev libinih-dev libsystemd-dev libgif-dev
check libcurl4-openssl-dev curl
dataset-fashion-mnist
chromium
"
# The image may bring node from elsewhere (NodeSource's nodejs bundles npm):
# Debian's packages only when the commands are missing.
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "gand: missing packages:$missing; run this as root (or: sudo $0)" >&2
        exit 1
    fi
    echo "gand: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# uPlot for the page, playwright-core for its browser tests
stamp=node_modules/.gand-package-lock.json
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    echo "gand: npm ci" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
    cp package-lock.json "$stamp"
fi
sh scripts/www-vendor.sh
