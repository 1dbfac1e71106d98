#!/usr/bin/env bash
# Runs a sample program and checks that it succeeds and prints exactly N non-empty lines.
# Usage: expect_lines.sh N COMMAND [ARG...]
set -uo pipefail
want=$1
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: '$*' exited $rc"; exit 1; }
got=$(printf '%s\n' "$out" | grep -c .)
[ "$got" -eq "$want" ] || { echo "FAIL: '$*' printed $got non-empty lines, expected $want"; exit 1; }
echo "ok: $want lines"
