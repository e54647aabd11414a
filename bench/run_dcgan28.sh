#!/bin/sh
# DCGAN-28 training throughput, gand against PyTorch 1.13 (bench/README.md).
#
# usage: bench/run_dcgan28.sh [STEPS [ROUNDS]]     (defaults 100 and 2)
#
# Builds gand in release mode (BUILD_DIR, default build/release), then runs
# ROUNDS rounds of: gand, torch with 1 thread, torch with 2 threads, one
# after another so that load from other work on the machine is shared out.
# Each contender keeps its best round; torch is the better of its thread
# counts. The last line is the summary:
#   dcgan28 batch=64 gand=<img/s> torch=<img/s> ratio=<gand/torch> gand_rss_mb=<MB>
set -eu
cd "$(dirname "$0")/.."

steps=${1:-100}
rounds=${2:-2}
warmup=5
build=${BUILD_DIR:-build/release}
python=/usr/bin/python3

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" bench/dcgan28_bench >/dev/null

# field NAME LINE: the value of NAME=value in LINE
field() {
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
# max A B
max() {
    awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? a : b }'
}

gand=0
torch=0
rss=0
r=1
while [ "$r" -le "$rounds" ]; do
    line=$("$build/bench/dcgan28_bench" "$steps" "$warmup")
    echo "round $r: $line"
    gand=$(max "$gand" "$(field img_per_s "$line")")
    rss=$(max "$rss" "$(field rss_mb "$line")")
    for t in 1 2; do
        line=$("$python" bench/dcgan28_torch.py "$t" "$steps" "$warmup")
        echo "round $r: $line"
        torch=$(max "$torch" "$(field img_per_s "$line")")
    done
    r=$((r + 1))
done

awk -v g="$gand" -v t="$torch" -v m="$rss" 'BEGIN {
    printf "dcgan28 batch=64 gand=%.1f torch=%.1f ratio=%.2f gand_rss_mb=%.1f\n", g, t, g / t, m
}'
