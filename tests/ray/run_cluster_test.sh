#!/usr/bin/env bash
# CTest ray.cluster: runs cluster_test.py with the Python of scripts/python-test-env.sh's venv,
# or skips (exit 77, the test's SKIP_RETURN_CODE) when that venv is not there (fails in CI).
set -euo pipefail

venv="${XDG_CACHE_HOME:-$HOME/.cache}/tusk-tools/venv-serve"
if ! "$venv/bin/python" -c 'import ray.serve, libretranslatepy, psutil' 2>/dev/null; then
  echo "SKIPPED: no Ray Serve venv at $venv: run 'bash scripts/python-test-env.sh' to make it"
  [ -n "${CI:-}" ] && exit 1  # CI makes the venv (install-deps.sh): there, its absence fails
  exit 77
fi
exec "$venv/bin/python" "$(dirname "${BASH_SOURCE[0]}")/cluster_test.py"
