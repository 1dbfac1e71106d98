#!/usr/bin/env bash
# CTest serve.http: serve_test.py with the Python of scripts/python-test-env.sh's venv (which
# has the libretranslatepy client), else Debian's python3 (that one test then skips, or fails
# in CI, which makes the venv).
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/tusk-tools/venv-serve"
python=/usr/bin/python3
[ -x "$venv/bin/python" ] && python="$venv/bin/python"
exec "$python" "$(dirname "${BASH_SOURCE[0]}")/serve_test.py" "$@"
