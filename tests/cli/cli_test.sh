#!/usr/bin/env bash
# Command-line behaviour of `tusk` that needs no model: help, usage errors (exit 2, naming the
# offending word), and clean failures (exit 1, "tusk: error: ...") for missing or bogus files.
# Usage: cli_test.sh TUSK_BINARY CASE
set -euo pipefail

tusk=$1
case_name=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cap=$root/cap   # captured output of the last command
tmp=$root/work  # files the case makes
mkdir "$cap" "$tmp"

fail() {
  echo "FAIL [$case_name]: $*" >&2
  echo "--- stdout" >&2; cat "$cap/out" >&2 || true
  echo "--- stderr" >&2; cat "$cap/err" >&2 || true
  exit 1
}

# expect RC REGEX CMD...: runs CMD with empty stdin; checks the exit status and that stderr
# (or stdout when RC is 0) matches REGEX.
expect() {
  local want=$1 regex=$2
  shift 2
  local rc=0
  "$@" >"$cap/out" 2>"$cap/err" </dev/null || rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
  local stream="$cap/err"
  [ "$want" -ne 0 ] || stream="$cap/out"
  grep -Eq -- "$regex" "$stream" || fail "'$*' output does not match /$regex/"
  if [ "$want" -ne 0 ]; then
    grep -q '^tusk: error: ' "$cap/err" || [ "$want" -eq 2 ] || fail "no 'tusk: error:' line"
  fi
}

case "$case_name" in
  help)
    expect 0 'Usage: tusk <command>' "$tusk" --help
    expect 0 'translate' "$tusk" -h
    expect 0 'Usage: tusk translate' "$tusk" translate --help
    expect 0 'Usage: tusk convert' "$tusk" convert --help
    expect 0 'Usage: tusk inspect' "$tusk" inspect --help
    expect 0 '--experts int4\|int8\|fp16\|fp32' "$tusk" convert --help
    expect 0 '--group-size N' "$tusk" convert --help
    expect 0 'Usage: tusk inspect \[--verbose\] FILE' "$tusk" inspect --help
    expect 0 'Usage: tusk translate' "$tusk" help translate
    # --help wins over other (even wrong) arguments
    expect 0 'Usage: tusk translate' "$tusk" translate --src en --help
    ;;
  version)
    expect 0 '^tusk [0-9]+\.[0-9]+\.[0-9]+ \(library [0-9]+\.[0-9]+\.[0-9]+\)$' "$tusk" --version
    ;;
  no_command)
    expect 2 'Usage: tusk <command>' "$tusk"
    ;;
  unknown_command)
    expect 2 "unknown command 'frobnicate'" "$tusk" frobnicate
    expect 2 "unknown option '--frobnicate'" "$tusk" --frobnicate
    ;;
  unknown_flag)
    expect 2 "unknown option '--bogus'" "$tusk" translate --src en --tgt de --bogus
    expect 2 "unknown option '--bogus'" "$tusk" translate --bogus=3
    expect 2 "unknown option '-x'" "$tusk" translate -x
    expect 2 "unknown option '--bogus'" "$tusk" convert --bogus
    expect 2 "unknown option '--bogus'" "$tusk" inspect --bogus model.tusk
    expect 2 "Try 'tusk translate --help'" "$tusk" translate --bogus
    ;;
  bad_number)
    expect 2 "invalid value 'abc' for --beam-size" "$tusk" translate --src en --tgt de --beam-size abc
    expect 2 "invalid value '0' for --beam-size" "$tusk" translate --src en --tgt de --beam-size 0
    expect 2 "invalid value '4x' for --beam-size" "$tusk" translate --src en --tgt de --beam-size=4x
    expect 2 "invalid value '-1' for --threads" "$tusk" translate --src en --tgt de --threads -1
    expect 2 "invalid value '1.5' for --max-batch-size" "$tusk" translate --src en --tgt de --max-batch-size 1.5
    expect 2 "invalid value '99999999999999999999' for --max-decoding-length" \
      "$tusk" translate --src en --tgt de --max-decoding-length 99999999999999999999
    expect 2 "invalid value 'nan' for --length-penalty" "$tusk" translate --src en --tgt de --length-penalty nan
    expect 2 "invalid value 'x' for --zstd-level" "$tusk" convert --from-hf d --out o --zstd-level x
    expect 2 "invalid value '-64' for --group-size" "$tusk" convert --from-hf d --out o --group-size -64
    expect 2 "invalid value '64k' for --group-size" "$tusk" convert --from-hf d --out o --group-size 64k
    ;;
  bad_weight_type)
    expect 2 "invalid value 'int3' for --experts: expected int4\|int8\|fp16\|fp32" \
      "$tusk" convert --from-hf d --out o --experts int3
    expect 2 "invalid value 'INT4' for --experts" "$tusk" convert --from-hf d --out o --experts INT4
    expect 2 "invalid value 'int2' for --dense: expected int4\|int8\|fp16\|fp32" \
      "$tusk" convert --from-hf d --out o --dense int2
    expect 2 "option '--experts' needs a value" "$tusk" convert --from-hf d --out o --experts
    expect 2 "option '--verbose' takes no value" "$tusk" inspect --verbose=1 model.tusk
    ;;
  bad_calibration)
    printf 'A man.\n' >"$tmp/one.txt"
    expect 2 "invalid item 'en-de' for --calibrate: expected SRC-TGT=FILE" \
      "$tusk" convert --from-hf d --out o --calibrate en-de
    expect 2 "invalid item 'ende=x' for --calibrate" "$tusk" convert --from-hf d --out o --calibrate ende=x
    expect 2 "--calibrate: cannot open $tmp/none.txt" \
      "$tusk" convert --from-hf d --out o --calibrate "en-de=$tmp/one.txt,de-en=$tmp/none.txt"
    expect 2 "exclude each other" \
      "$tusk" convert --from-hf d --out o --calibrate "en-de=$tmp/one.txt" --expert-usage t.tsv
    expect 2 "--usage-out needs --calibrate" "$tusk" convert --from-hf d --out o --usage-out u.tsv
    expect 2 "--expert-usage: cannot open $tmp/none.tsv" "$tusk" convert --from-hf d --out o --expert-usage "$tmp/none.tsv"
    expect 2 "invalid value '0' for --calibration-limit" \
      "$tusk" convert --from-hf d --out o --calibrate "en-de=$tmp/one.txt" --calibration-limit 0
    expect 2 "invalid value 'maybe' for --warm-start" "$tusk" translate --src en --tgt de --warm-start maybe
    expect 2 "invalid value 'yes' for --direct-io" "$tusk" translate --src en --tgt de --direct-io yes
    ;;
  missing_value)
    expect 2 "option '--src' needs a value" "$tusk" translate --tgt de --src
    expect 2 "option '--truncate' takes no value" "$tusk" translate --src en --tgt de --truncate=1
    expect 2 "missing required option --src" "$tusk" translate --tgt de
    expect 2 "missing required option --tgt" "$tusk" translate --src en
    expect 2 "missing required option --out" "$tusk" convert --from-hf d
    expect 2 "missing model FILE" "$tusk" inspect
    expect 2 "unexpected argument 'extra'" "$tusk" translate --src en --tgt de extra
    ;;
  missing_model)
    expect 1 "model file $tmp/none.tusk does not exist" \
      "$tusk" translate --model "$tmp/none.tusk" --src en --tgt de
    expect 1 "model file $tmp/env.tusk \(from the TUSK_MODEL environment variable\) does not exist" \
      env TUSK_MODEL="$tmp/env.tusk" "$tusk" translate --src en --tgt de
    # --model wins over TUSK_MODEL
    expect 1 "model file $tmp/flag.tusk does not exist" \
      env TUSK_MODEL="$tmp/env.tusk" "$tusk" translate --model "$tmp/flag.tusk" --src en --tgt de
    expect 1 "model file $tmp/none.tusk does not exist" "$tusk" inspect "$tmp/none.tusk"
    ;;
  not_a_model)
    printf 'this is not a model\n' >"$tmp/text.tusk"
    : >"$tmp/empty.tusk"
    head -c 100000 /dev/urandom >"$tmp/random.tusk"
    printf 'TUSK' >"$tmp/magic-only.tusk"
    mkdir "$tmp/dir.tusk"
    for f in text empty random magic-only dir; do
      expect 1 '^tusk: error: .+' "$tusk" inspect "$tmp/$f.tusk"
      expect 1 '^tusk: error: .+' "$tusk" translate --model "$tmp/$f.tusk" --src en --tgt de
    done
    ;;
  convert_bad_checkpoint)
    expect 1 '^tusk: error: .+' "$tusk" convert --from-hf "$tmp/no-such-dir" --out "$tmp/out.tusk"
    [ ! -e "$tmp/out.tusk" ] || fail "a failed conversion left $tmp/out.tusk"
    mkdir "$tmp/hf"
    printf '{ not json' >"$tmp/hf/config.json"
    expect 1 '^tusk: error: .+' "$tusk" convert --from-hf "$tmp/hf" --out "$tmp/out.tusk"
    [ ! -e "$tmp/out.tusk" ] || fail "a failed conversion left $tmp/out.tusk"
    [ "$(ls -A "$tmp")" = "hf" ] || fail "a failed conversion left files: $(ls -A "$tmp")"
    ;;
  *)
    echo "unknown case '$case_name'" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
