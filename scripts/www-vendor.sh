#!/bin/sh
# Copies the monitoring page's chart library (uPlot, installed by npm ci
# from package-lock.json) into www/vendor/, which gand serves. Idempotent:
# copies only files that differ (npm gives installed files a fixed old
# mtime, so contents are compared, not times).
set -eu
cd "$(dirname "$0")/.."

src=node_modules/uplot
if [ ! -d "$src/dist" ]; then
    echo "gand: $src is missing; run 'npm ci' in $(pwd) first" >&2
    exit 1
fi
mkdir -p www/vendor
for f in dist/uPlot.esm.js dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE; do
    dst=www/vendor/$(basename "$f")
    [ "$f" = LICENSE ] && dst=www/vendor/uPlot.LICENSE
    if ! cmp -s "$src/$f" "$dst"; then
        cp "$src/$f" "$dst"
    fi
done
