#!/usr/bin/env bash
# Model file sizes per weight storage setting (issue 3, requirement 4).
#
# Converts the shared fp32 checkpoint with `tusk convert` into a scratch folder once per
# setting and prints, per setting: the .tusk file size, that size as a share of the fp32
# safetensors checkpoint, and for each section kind (from `tusk inspect`) the bytes stored
# over the bytes once decoded: the zstd ratio of the expert frames (dense tensors are stored
# raw for mmap, so theirs is 1). The int4-expert + int8-dense file must be at most 22% of the
# checkpoint; the last line says whether it is (exit status 1 if not).
#
#   bench/model_sizes.sh [BUILD_DIR]       BUILD_DIR holds bin/tusk (default: build)
#
# Environment: TUSK_CHECKPOINT (default ../shared/models/multi30k-moe next to the repository),
# ZSTD_LEVEL (default: the converter's, 3). About 2 s per setting.
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
[[ $build = /* ]] || build=$repo/$build
tusk=$build/bin/tusk
checkpoint=${TUSK_CHECKPOINT:-$repo/../shared/models/multi30k-moe}
target_percent=22

[[ -x $tusk ]] || { echo "model_sizes: $tusk not found (build the tusk_cli target)" >&2; exit 2; }
[[ -r $checkpoint/model.safetensors ]] || {
  echo "model_sizes: no $checkpoint/model.safetensors (set TUSK_CHECKPOINT)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# label|convert flags
settings=(
  "fp32|--experts fp32 --dense fp32"
  "fp16|--experts fp16 --dense fp16"
  "int8|--experts int8 --dense int8"
  "int4-experts|--experts int4 --dense fp32"
  "int4-experts+int8-dense|--experts int4 --dense int8"
)

file_bytes() { stat -c %s "$1"; }

# "stored/raw" of one section kind in `tusk inspect` output, e.g. "7833657/8716288 (0.899)".
section() {
  awk -v kind="$2" '
    $1 == (kind ":") {
      for (i = 1; i <= NF; ++i) {
        if ($(i) == "stored,") stored = $(i - 2)
        if ($(i) == "raw," || $(i) == "raw") raw = $(i - 1)
      }
    }
    END {
      if (raw == "") { print "-"; exit }
      ratio = raw > 0 ? stored / raw : 1
      printf "%d/%d (%.3f)", stored, raw, ratio
    }' "$1"
}

ckpt_bytes=$(file_bytes "$checkpoint/model.safetensors")
echo "checkpoint: $checkpoint/model.safetensors, $ckpt_bytes bytes (fp32)"
echo "tusk:       $tusk"
echo
printf '%-24s %12s %9s  %-28s %-28s %s\n' setting "file bytes" "% ckpt" \
  "dense stored/raw" "experts stored/raw (zstd)" "metadata+tokenizer"
status=0
for entry in "${settings[@]}"; do
  label=${entry%%|*}
  read -r -a flags <<<"${entry#*|}"
  [[ -z ${ZSTD_LEVEL:-} ]] || flags+=(--zstd-level "$ZSTD_LEVEL")
  out=$work/$label.tusk
  if ! "$tusk" convert --from-hf "$checkpoint" --out "$out" "${flags[@]}" 2>"$work/convert.err"; then
    echo "model_sizes: converting $label failed:" >&2
    cat "$work/convert.err" >&2
    exit 1
  fi
  "$tusk" inspect "$out" >"$work/$label.txt"
  bytes=$(file_bytes "$out")
  percent=$(awk -v a="$bytes" -v b="$ckpt_bytes" 'BEGIN { printf "%.2f", 100 * a / b }')
  meta=$(awk '$1 == "metadata:" || $1 == "tokenizer:" { for (i = 1; i <= NF; ++i) if ($(i) == "stored,") s += $(i - 2) }
              END { print s + 0 }' "$work/$label.txt")
  printf '%-24s %12d %8s%%  %-28s %-28s %s\n' "$label" "$bytes" "$percent" \
    "$(section "$work/$label.txt" dense)" "$(section "$work/$label.txt" experts)" "$meta"
  if [[ $label = int4-experts+int8-dense ]]; then
    final_percent=$percent
  fi
  rm -f "$out"
done
echo
if awk -v p="$final_percent" -v t="$target_percent" 'BEGIN { exit !(p <= t) }'; then
  echo "int4-experts+int8-dense: $final_percent% of the checkpoint (target <= $target_percent%): PASS"
else
  echo "int4-experts+int8-dense: $final_percent% of the checkpoint (target <= $target_percent%): FAIL"
  status=1
fi
exit $status
