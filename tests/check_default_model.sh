#!/usr/bin/env bash
# Checks that the committed default model is exactly what the converter makes from the
# checkpoint with the committed settings: converts into OUT and compares bytes.
# Usage: check_default_model.sh TUSK CHECKPOINT_DIR OUT COMMITTED SETTINGS_FILE
set -euo pipefail
tusk=$1 checkpoint=$2 out=$3 committed=$4 settings=$5
cd "$(dirname "$settings")/.."  # the settings name files relative to the repository
# shellcheck disable=SC2046  # the settings file holds converter flags, split on purpose
"$tusk" convert --from-hf "$checkpoint" --out "$out" $(cat "$settings") 2>/dev/null
if cmp "$out" "$committed"; then
  echo "$committed: reproduced byte for byte ($(stat -c %s "$committed") bytes)"
else
  echo "$committed differs from a fresh conversion ($out)." >&2
  echo "If the converter change is intended: scripts/make-default-model.sh --force, and commit the model." >&2
  exit 1
fi
