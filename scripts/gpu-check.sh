#!/usr/bin/env bash
# One command on a GPU machine: builds Tusk with CUDA for this GPU's architecture, runs every
# GPU test (the backend conformance suite on CUDA and the CPU, the CUDA plugin's tests, CUDA
# against the CPU end to end) and bench/gpu_bench, then prints a summary. It works from the
# repository alone: run scripts/gpu-bundle.sh first on a Debian 12 machine and send the tree
# with its .gpu-bundle/ (the machine needs the CUDA toolkit, CMake, ninja, a C++ compiler and
# dpkg; no network). Logs go to $OUT when set (the device tool's output folder), else to
# build-gpu/. Must finish within 8 minutes on one H100.
#
# Usage: scripts/gpu-check.sh [--skip-bench]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
bundle=$PWD/.gpu-bundle
prefix=$bundle/prefix
build=build-gpu
logs=${OUT:-$build}
mkdir -p "$logs" "$build"
skip_bench=0
[ "${1:-}" = "--skip-bench" ] && skip_bench=1

step() { echo "::: $* ($(( $(date +%s) - start )) s)"; }
fail() { echo "gpu-check: $*" >&2; exit 1; }

[ -d "$bundle/debs" ] || fail "no $bundle/debs: run scripts/gpu-bundle.sh on a Debian 12 machine first"
command -v nvcc >/dev/null || fail "no nvcc on PATH"
gpu=$(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu" ] || fail "nvidia-smi sees no GPU"
arch=$(echo "$gpu" | cut -d, -f2 | tr -d ' .')
step "GPU: $gpu; building for sm_$arch"

step "unpacking $(ls "$bundle"/debs/*.deb | wc -l) Debian packages into $prefix"
rm -rf "$prefix" && mkdir -p "$prefix"
for deb in "$bundle"/debs/*.deb; do dpkg -x "$deb" "$prefix" || fail "dpkg -x $deb"; done
libdir=$prefix/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# pkg-config files say prefix=/usr: the sysroot points them into the bundle.
export PKG_CONFIG_SYSROOT_DIR=$prefix
export PKG_CONFIG_LIBDIR=$libdir/pkgconfig:$prefix/usr/share/pkgconfig
pkg_config=$(command -v pkg-config || true)
[ -n "$pkg_config" ] || pkg_config=$prefix/usr/bin/pkgconf

step "configure"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTUSK_CUDA=ON \
  -DTUSK_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DCMAKE_PREFIX_PATH="$prefix/usr" -DCMAKE_LIBRARY_ARCHITECTURE=x86_64-linux-gnu \
  -DPKG_CONFIG_EXECUTABLE="$pkg_config" -DTUSK_SHARED_DIR="$bundle/shared" \
  > "$logs/configure.log" 2>&1 || { tail -30 "$logs/configure.log"; fail "configure failed"; }

step "build"
targets=(tusk tusk_cuda tusk_cli test_backends test_cuda_agreement cuda_plugin_probe gpu_bench)
for n in 1 2 3; do targets+=("fake_cuda_plugin_$n"); done
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" > "$logs/build.log" 2>&1 ||
  { grep -E "error|Error" "$logs/build.log" | head -30; fail "build failed"; }

step "the CUDA backend here"
probe=$("$build/bin/cuda_plugin_probe" 2>&1)
echo "$probe"
grep -q "backend: cuda" <<<"$probe" || fail "no CUDA backend on this machine (above): nothing ran on the GPU"

step "GPU tests"
ctest --test-dir "$build" -R '^backends\.|^cuda/' --output-on-failure -j 4 > "$logs/tests.log" 2>&1
tests_rc=$?
grep -E "tests passed|tests failed" "$logs/tests.log"
grep -E "\(Failed\)|\(SEGFAULT\)|\(Timeout\)|Exception" "$logs/tests.log" | head -20
cuda_cases=$(grep -cE "(cuda_threads[12]|/cuda\b|^.*cuda/CudaAgreement).*Passed" "$logs/tests.log")
agreement=$(grep -E "cuda vs cpu:" "$logs/tests.log" | head -1)

if [ "$skip_bench" -eq 0 ]; then
  step "gpu_bench"
  zcat "$bundle/shared/data/multi30k/test_2016_flickr.en.gz" > "$build/sentences.en"
  "$build/bin/gpu_bench" --device cuda --sentences "$build/sentences.en" --count 256 \
    > "$logs/gpu_bench.log" 2>&1
  cat "$logs/gpu_bench.log"
fi

step "summary"
echo "GPU: $gpu"
echo "tests: $(grep -E "tests passed" "$logs/tests.log" || echo "no summary"), CUDA cases passed: $cuda_cases"
[ -n "$agreement" ] && echo "$agreement"
echo "took $(( $(date +%s) - start )) s; logs in $logs"
exit "$tests_rc"
