#!/bin/sh
# Installs every Debian package gand needs to build, run and test.
# Idempotent: runs apt-get only when something is missing. Needs root.
set -eu

PACKAGES="
build-essential meson ninja-build pkg-config
libmicrohttpd-dev libcjson-dev libopenblas-dev libsqlite3-dev
libpng-dev zlib1g-dev libinih-dev libsystemd-dev libgif-dev
check libcurl4-openssl-dev curl
dataset-fashion-mnist
"

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
