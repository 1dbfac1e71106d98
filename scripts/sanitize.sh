#!/usr/bin/env bash
# Builds the project with AddressSanitizer + UndefinedBehaviorSanitizer into a separate build
# folder (default build-asan) and runs the tests there, `unit` and `model` labels alike:
# out-of-bounds reads, leaks and undefined behaviour fail the run. CI calls it after the
# README's test command.
#
# Usage: bash scripts/sanitize.sh [BUILD_DIR]
# Release flags without -g, so ccache hits do not depend on the folder's path; frame pointers
# keep the reports' stacks readable. The language bindings are left out: the JVM, Mono and
# CPython would need the sanitizer runtime preloaded (so is the Ray Serve test, label ray, whose
# replicas load the library into Python); so are the install tests (label install),
# whose consumer programs are built without it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=${1:-build-asan}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

bash scripts/configure-sanitized.sh "$build_dir" "$flags" "-fsanitize=address,undefined"
cmake --build "$build_dir" -j2

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build_dir" -j2 --output-on-failure -LE 'install|ray' \
  -E '^(binding_|sample_(java|csharp|python)|thread_(java|csharp|python))'
