#!/usr/bin/env bash
# Builds the project with ThreadSanitizer into a separate build folder (default build-tsan) and
# runs the C and C++ thread tests there: thread_c/* (GoogleTest, through the C ABI, including
# the stress run: 8 threads, 2 translators, expert paging on, 1,000 translations, outputs equal
# to a single-threaded run) and thread_c_pthreads (plain C), and `tusk serve`'s tests (serve/*
# and serve.http: the batch queue, the translator pool, HTTP threads, shutdown; cpp-httplib
# itself is not instrumented: scripts/tsan.supp's one suppression, with its reason). Any other
# report fails the run. oneDNN (not built for TSan) needs none: it creates primitives under our own lock
# (backends/cpu/onednn_matmul.cc), and the tests' translators use one intra-op thread, so
# libgomp's pool (also uninstrumented) is not involved. The bindings' thread tests are left
# out (the JVM, Mono and CPython are not built for TSan).
#
# Usage: bash scripts/tsan.sh [BUILD_DIR]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=${1:-build-tsan}
flags="-fsanitize=thread -fno-omit-frame-pointer -g1"
bash scripts/configure-sanitized.sh "$build_dir" "$flags" "-fsanitize=thread" >/dev/null
cmake --build "$build_dir" -j2 --target test_threads c_threads_test tusk_cli test_serve_batch_queue

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 suppressions=$PWD/scripts/tsan.supp"
ctest --test-dir "$build_dir" -R '^thread_c(/|_pthreads)|^serve' --output-on-failure
