#!/usr/bin/env bash
# Makes the Python venv of the serving tests: Ray Serve (deploy/ray/requirements.txt, pinned) for
# the Ray deployment and its test (CTest label ray), and the libretranslatepy client, which the
# `tusk serve` tests use as a LibreTranslate client would. Prints the venv's path.
#
#   bash scripts/python-test-env.sh
#
# The venv is "${XDG_CACHE_HOME:-$HOME/.cache}/tusk-tools/venv-serve", made with Debian's
# /usr/bin/python3 (python3-venv: scripts/install-deps.sh). Idempotent: a venv that already
# holds exactly these pins is left as it is (a second run takes well under a second); a changed
# requirements file installs again into it. Needs PyPI the first time.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${XDG_CACHE_HOME:-$HOME/.cache}/tusk-tools/venv-serve"
requirements=(-r deploy/ray/requirements.txt "libretranslatepy==2.1.1")
# What was installed, to tell whether the venv is up to date: the pins and this list.
want="$(cat deploy/ray/requirements.txt; echo "${requirements[*]}")"
stamp="$venv/.tusk-installed"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$venv"
  exit 0
fi
if ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python-test-env: /usr/bin/python3 cannot make venvs: run scripts/install-deps.sh (python3-venv)" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
rm -f "$stamp"  # written again only once the install succeeded
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
printf '%s' "$want" > "$stamp"
echo "$venv"
