#!/bin/sh
# The daemon's command line: --version, --help, and usage errors exit 2.
gand="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$gand" --version) || fail "--version exited $?"
echo "$out" | grep -Eq '^gand [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version printed '$out'"

"$gand" --help | grep -q -- '--version' || fail "--help does not list --version"

"$gand" --no-such-flag 2>/tmp/gand-cli-err.$$; rc=$?
[ "$rc" -eq 2 ] || fail "unknown flag exited $rc, want 2"
grep -q "unknown option '--no-such-flag'" /tmp/gand-cli-err.$$ || fail "unknown flag message: $(cat /tmp/gand-cli-err.$$)"
rm -f /tmp/gand-cli-err.$$

"$gand" stray 2>/dev/null; rc=$?
[ "$rc" -eq 2 ] || fail "stray argument exited $rc, want 2"
echo "ok"
