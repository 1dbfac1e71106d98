#!/usr/bin/env bash
# Compares the dynamic symbols a shared library defines with a checked-in list, so that an
# accidental ABI change (a new, renamed or leaked symbol) fails the build's tests.
#
#   check_exports.sh LIBRARY EXPECTED_LIST
#
# EXPECTED_LIST holds one symbol per line, sorted (LC_ALL=C). Every exported symbol must also
# carry the tusk_ prefix: anything else (a C++ symbol, a libstdc++ or oneDNN symbol) is a
# visibility leak.
set -euo pipefail
export LC_ALL=C

if [[ $# -ne 2 ]]; then
  echo "usage: $0 LIBRARY EXPECTED_LIST" >&2
  exit 2
fi
lib=$1
expected=$2
for f in "$lib" "$expected"; do
  if [[ ! -r $f ]]; then
    echo "check_exports: cannot read $f" >&2
    exit 2
  fi
done
if ! command -v nm >/dev/null; then
  echo "check_exports: nm (binutils) not found" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "ADDRESS TYPE NAME[@VERSION]" -> NAME. Symbol versions (@/@@) are dropped: the list is
# about names.
nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/actual"
grep -v '^[[:space:]]*$' "$expected" | grep -v '^#' | sort -u >"$tmp/expected"

status=0
if ! cmp -s "$tmp/expected" "$tmp/actual"; then
  echo "check_exports: exported symbols of $lib differ from $expected"
  echo "('-' expected but not exported, '+' exported but not expected):"
  diff -u "$tmp/expected" "$tmp/actual" | tail -n +3 | grep '^[-+]' || true
  echo "hint: if the ABI change is intended, update c_api/exported_symbols.txt"
  echo "      (one symbol per line, sorted with LC_ALL=C sort)."
  status=1
fi

if grep -v '^tusk_' "$tmp/actual" >"$tmp/foreign"; then
  echo "check_exports: $(wc -l <"$tmp/foreign") symbols without the tusk_ prefix are exported" \
       "(visibility leak; -fvisibility=hidden and c_api/tusk.map should hide them), first 20:"
  head -n 20 "$tmp/foreign" | sed 's/^/  /'
  status=1
fi

if [[ $status -eq 0 ]]; then
  echo "check_exports: $(wc -l <"$tmp/actual") symbols, all tusk_*, match $expected"
fi
exit $status
