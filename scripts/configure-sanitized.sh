#!/usr/bin/env bash
# Configures a sanitizer build of the project in its own folder, for scripts/sanitize.sh and
# scripts/tsan.sh: Release, CUDA off, ccache when present, COMPILE_FLAGS on C and C++ and
# LINK_FLAGS on executables and shared libraries.
#
# Usage: bash scripts/configure-sanitized.sh BUILD_DIR COMPILE_FLAGS LINK_FLAGS
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=$1
compile_flags=$2
link_flags=$3
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTUSK_CUDA=OFF "${launcher[@]}" \
  -DCMAKE_C_FLAGS="$compile_flags" -DCMAKE_CXX_FLAGS="$compile_flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$link_flags" -DCMAKE_SHARED_LINKER_FLAGS="$link_flags"
