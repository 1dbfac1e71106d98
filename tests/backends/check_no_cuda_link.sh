#!/usr/bin/env bash
# Usage: check_no_cuda_link.sh LIBRARY. Fails when the library needs a CUDA library
# (libtusk.so loads the CUDA backend at run time instead, so it runs without CUDA).
set -euo pipefail
deps=$(ldd "$1")
if grep -Ei 'libcuda|libcudart|libcublas|libnvrtc|libnvidia' <<<"$deps"; then
  echo "FAIL: $1 depends on CUDA libraries (above)"
  exit 1
fi
echo "ok: $1 needs no CUDA library ($(wc -l <<<"$deps") dependencies)"
