#!/bin/sh
# Prints "tests: N passed, N failed, N skipped" from a meson testlog.json.
log="$1"
[ -f "$log" ] || { echo "tests: 0 passed, 1 failed (no test log at $log)"; exit 0; }
passed=$(grep -c '"result": "OK"' "$log")
skipped=$(grep -c '"result": "SKIP"' "$log")
total=$(grep -c '"result": ' "$log")
failed=$((total - passed - skipped))
echo "tests: $passed passed, $failed failed, $skipped skipped"
