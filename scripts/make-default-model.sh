#!/usr/bin/env bash
# Produces the default model models/multi30k-moe.tusk (the one `tusk translate` uses without
# --model) from the shared Hugging Face checkpoint, with the project's own converter.
#
# Usage: scripts/make-default-model.sh [--force] [--recalibrate] [BUILD_DIR]
#   BUILD_DIR      the CMake build folder holding bin/tusk (default: build)
#   --force        convert even if the model already exists
#   --recalibrate  first measure the expert usage table models/multi30k-moe.usage.tsv again
#                  (translates the Multi30k val files in all six directions, about a minute)
# Environment: TUSK_SHARED_DIR  the shared folder (default: <repo>/../shared)
#
# Conversion is deterministic: re-running with --force reproduces the same bytes. The usage
# table is an input (models/multi30k-moe.settings names it), because calibration translates,
# and translation's last float bits, hence a few routing choices, differ between CPUs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
force=0
recalibrate=0
build=build
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --recalibrate) recalibrate=1; force=1 ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "make-default-model: unknown option '$arg'" >&2; exit 2 ;;
    *) build=$arg ;;
  esac
done

# A relative BUILD_DIR is taken from the current folder, else from the repository root.
if [ -d "$build" ]; then
  build=$(cd "$build" && pwd)
elif [ -d "$repo/$build" ]; then
  build="$repo/$build"
fi
tusk="$build/bin/tusk"

# Same paths as the build's TUSK_DEFAULT_MODEL / TUSK_SHARED_DIR when it has them, so the file
# lands where that build's CLI looks for it.
cache_value() {
  [ -f "$build/CMakeCache.txt" ] || return 0
  sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1
}
out=$(cache_value TUSK_DEFAULT_MODEL)
[ -n "$out" ] || out="$repo/models/multi30k-moe.tusk"
shared=${TUSK_SHARED_DIR:-$(cache_value TUSK_SHARED_DIR)}
[ -n "$shared" ] || shared="$repo/../shared"
[ ! -d "$shared" ] || shared=$(cd "$shared" && pwd)
checkpoint="$shared/models/multi30k-moe"

if [ -f "$out" ] && [ "$force" -eq 0 ]; then
  echo "make-default-model: $out already exists (use --force to convert again)"
  exit 0
fi
if [ ! -f "$checkpoint/config.json" ]; then
  echo "make-default-model: error: no Hugging Face checkpoint at $checkpoint" >&2
  echo "  (expected config.json, sentencepiece.model and model.safetensors there;" >&2
  echo "   set TUSK_SHARED_DIR to the folder holding models/multi30k-moe)" >&2
  exit 1
fi
if [ ! -x "$tusk" ]; then
  echo "make-default-model: error: $tusk not found; build first:" >&2
  echo "  cmake -S . -B build && cmake --build build -j2" >&2
  exit 1
fi

cd "$repo"  # the settings name files relative to the repository
settings=$(cat models/multi30k-moe.settings)
if [ "$recalibrate" -eq 1 ]; then
  data="$shared/data/multi30k"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for l in en de fr cs; do gzip -dc "$data/val.$l.gz" >"$tmp/val.$l"; done
  echo "make-default-model: measuring expert usage -> models/multi30k-moe.usage.tsv"
  # The settings without their --expert-usage FILE: this run measures that file.
  # shellcheck disable=SC2086
  flags=$(echo $settings | sed 's/--expert-usage [^ ]*//')
  # shellcheck disable=SC2086
  "$tusk" convert --from-hf "$checkpoint" --out "$tmp/calibrated.tusk" $flags --threads 1 \
    --calibrate "en-de=$tmp/val.en,de-en=$tmp/val.de,en-fr=$tmp/val.en,fr-en=$tmp/val.fr,en-cs=$tmp/val.en,cs-en=$tmp/val.cs" \
    --usage-out models/multi30k-moe.usage.tsv
fi
mkdir -p "$(dirname "$out")"
echo "make-default-model: converting $checkpoint -> $out"
# shellcheck disable=SC2086
"$tusk" convert --from-hf "$checkpoint" --out "$out" $settings
