#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, AddressSanitizer and UBSan into a
# separate build folder, then fuzzes.
#
#   bash scripts/fuzz.sh [SECONDS [TARGET...]]   each target for SECONDS (default 60), from its
#                                                seed corpus; prints inputs run and inputs/s
#   bash scripts/fuzz.sh --ci                    CTest label fuzz: each target for a bounded
#                                                number of inputs (tests/fuzz/CMakeLists.txt)
#
# A crash stops the target and leaves its input as crash-* in the current folder: fix the bug,
# then add the input to tests/fuzz/corpus/<target>/ so it is run from then on.
# BUILD_DIR (default build-fuzz) names the build folder.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=${BUILD_DIR:-build-fuzz}
# -Wno-pass-failed: sanitizer instrumentation keeps clang from vectorizing some `omp simd` loops.
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-pass-failed"
link="-fsanitize=address,undefined"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTUSK_FUZZ=ON \
  -DTUSK_BUILD_TESTS=OFF -DTUSK_CUDA=OFF "${launcher[@]}" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" >/dev/null
cmake --build "$build_dir" -j2 --target fuzz_targets

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ "${1:-}" = --ci ]; then
  exec ctest --test-dir "$build_dir" -L fuzz --output-on-failure
fi

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_model_file fuzz_safetensors fuzz_hf_config fuzz_hf_tokenizer fuzz_translate
                                     fuzz_serve_request)
total=0
for t in "${targets[@]}"; do
  echo "== $t: $seconds s"
  out=$(bash tests/fuzz/run_fuzz_target.sh "$build_dir/bin/$t" "tests/fuzz/corpus/$t" -1 \
        -max_total_time="$seconds") || { echo "$out"; exit 1; }
  echo "$out"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' <<<"$out")
  total=$((total + ${runs:-0}))
done
echo "== $total inputs across ${#targets[@]} targets, no crash"
