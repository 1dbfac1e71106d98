#!/usr/bin/env bash
# Usage: check_cuda_fatbin.sh LIBRARY ARCH... (CMake's CUDA_ARCHITECTURES entries: "80-real"
# wants SASS for sm_80, "90" SASS and PTX for sm_90). Checks the library's fat binary with
# cuobjdump; exits 77 (CTest: skipped) when no cuobjdump is found.
set -euo pipefail
library=$1
shift
tool=""
for candidate in "$(command -v cuobjdump || true)" "${CUDA_HOME:-/usr/local/cuda}/bin/cuobjdump" \
                 "${XDG_CACHE_HOME:-$HOME/.cache}/tusk-tools/cuobjdump/bin/cuobjdump"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then tool=$candidate; break; fi
done
if [ -z "$tool" ]; then
  echo "SKIP: no cuobjdump (not on PATH, in the CUDA toolkit or fetched by scripts/install-deps.sh)"
  exit 77
fi
elf=$("$tool" --list-elf "$library")
ptx=$("$tool" --list-ptx "$library")
status=0
for arch in "$@"; do
  sm=${arch%%-*}
  if ! grep -q "\.sm_${sm}\.cubin" <<<"$elf"; then echo "FAIL: no SASS for sm_${sm}"; status=1; fi
  case $arch in
    *-real) ;;
    *) if ! grep -q "\.sm_${sm}\.ptx" <<<"$ptx"; then echo "FAIL: no PTX for compute_${sm}"; status=1; fi ;;
  esac
done
echo "$tool --list-elf:"
sort -t. -k3 -u <<<"$elf" | sed 's/^/  /'
[ "$status" -eq 0 ] && echo "ok: SASS and PTX for: $*"
exit "$status"
