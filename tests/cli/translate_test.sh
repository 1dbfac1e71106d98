#!/usr/bin/env bash
# End-to-end `tusk translate` / `tusk inspect` with a real converted model.
# Usage: translate_test.sh TUSK_BINARY MODEL CASE
#   CASE default_model: MODEL must be the CLI's compile-time default (no --model, no TUSK_MODEL).
set -euo pipefail

tusk=$1
model=$2
case_name=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL [$case_name]: $*" >&2
  for f in "$tmp"/*.out "$tmp"/*.err; do
    [ -e "$f" ] || continue
    echo "--- $(basename "$f")" >&2
    head -c 4000 "$f" >&2
  done
  exit 1
}

[ -f "$model" ] || fail "model $model does not exist (the default_model fixture makes it)"

# translate NAME INPUT_FILE ARGS...: runs tusk translate, output in $tmp/NAME.out
translate() {
  local name=$1 input=$2
  shift 2
  local rc=0
  "$tusk" translate "$@" <"$input" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  [ "$rc" -eq 0 ] || fail "translate $* exited $rc"
}

line_count() { awk 'END { print NR }' "$1"; }

# Three lines with an empty middle one: three lines out, the middle one empty, the others not.
check_three() {
  local out=$1
  [ "$(line_count "$out")" -eq 3 ] || fail "$out has $(line_count "$out") lines, expected 3"
  [ -n "$(sed -n 1p "$out")" ] || fail "line 1 of $out is empty"
  [ -z "$(sed -n 2p "$out")" ] || fail "line 2 of $out is not empty"
  [ -n "$(sed -n 3p "$out")" ] || fail "line 3 of $out is empty"
}

printf 'A man rides a bike down the street.\n\nTwo dogs are playing in the snow.\n' >"$tmp/three.txt"

case "$case_name" in
  lines)
    translate greedy "$tmp/three.txt" --model "$model" --src en --tgt de
    check_three "$tmp/greedy.out"
    # Deterministic: the same input gives the same output.
    translate again "$tmp/three.txt" --model "$model" --src en --tgt de
    cmp -s "$tmp/greedy.out" "$tmp/again.out" || fail "two runs differ"
    # Full NLLB codes name the same languages as the short ones.
    translate long_codes "$tmp/three.txt" --model "$model" --src eng_Latn --tgt deu_Latn
    cmp -s "$tmp/greedy.out" "$tmp/long_codes.out" || fail "eng_Latn->deu_Latn differs from en->de"
    ;;
  options)
    translate beam "$tmp/three.txt" --model "$model" --src en --tgt de --beam-size 4 \
      --length-penalty 1.0 --threads 1 --max-batch-size 2 --max-decoding-length 64 --truncate
    check_three "$tmp/beam.out"
    ;;
  line_endings)
    translate lf "$tmp/three.txt" --model "$model" --src en --tgt de
    # CRLF line ends and a missing final newline change nothing.
    sed 's/$/\r/' "$tmp/three.txt" >"$tmp/crlf.txt"
    translate crlf "$tmp/crlf.txt" --model "$model" --src en --tgt de
    cmp -s "$tmp/lf.out" "$tmp/crlf.out" || fail "CRLF input gives different output"
    printf '%s' "$(cat "$tmp/three.txt")" >"$tmp/nofinal.txt"
    translate nofinal "$tmp/nofinal.txt" --model "$model" --src en --tgt de
    cmp -s "$tmp/lf.out" "$tmp/nofinal.out" || fail "input without final newline differs"
    # Empty input: empty output.
    : >"$tmp/empty.txt"
    translate empty "$tmp/empty.txt" --model "$model" --src en --tgt de
    [ ! -s "$tmp/empty.out" ] || fail "empty input gave output"
    ;;
  chunks)
    # 600 lines cross the CLI's chunk boundaries (256 lines per library call); sentences sit at
    # lines 1, 256, 257 and 600, everything else is empty. Each output must be where its input
    # was, and equal to translating the four sentences as four consecutive lines.
    sentences=("A little girl is climbing a tree." "Two men are playing soccer on a field."
               "A woman is reading a book in the park." "A black dog runs through the grass.")
    printf '%s\n' "${sentences[@]}" >"$tmp/four.txt"
    translate four "$tmp/four.txt" --model "$model" --src en --tgt de
    for i in $(seq 1 600); do
      case $i in
        1) echo "${sentences[0]}" ;; 256) echo "${sentences[1]}" ;;
        257) echo "${sentences[2]}" ;; 600) echo "${sentences[3]}" ;; *) echo ;;
      esac
    done >"$tmp/many.txt"
    translate many "$tmp/many.txt" --model "$model" --src en --tgt de
    [ "$(line_count "$tmp/many.out")" -eq 600 ] || fail "600 lines in, $(line_count "$tmp/many.out") out"
    [ "$(grep -c . "$tmp/many.out")" -eq 4 ] || fail "expected 4 non-empty output lines"
    k=1
    for i in 1 256 257 600; do
      [ "$(sed -n "${i}p" "$tmp/many.out")" = "$(sed -n "${k}p" "$tmp/four.out")" ] ||
        fail "line $i differs from the same sentence translated as line $k"
      k=$((k + 1))
    done
    ;;
  env_model)
    translate flag "$tmp/three.txt" --model "$model" --src en --tgt de
    rc=0
    TUSK_MODEL="$model" "$tusk" translate --src en --tgt de <"$tmp/three.txt" >"$tmp/env.out" \
      2>"$tmp/env.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "TUSK_MODEL=$model exited $rc"
    cmp -s "$tmp/flag.out" "$tmp/env.out" || fail "TUSK_MODEL output differs from --model"
    ;;
  default_model)
    translate flag "$tmp/three.txt" --model "$model" --src en --tgt de
    rc=0
    env -u TUSK_MODEL "$tusk" translate --src en --tgt de <"$tmp/three.txt" >"$tmp/default.out" \
      2>"$tmp/default.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "translate without --model exited $rc"
    cmp -s "$tmp/flag.out" "$tmp/default.out" || fail "default-model output differs from --model"
    ;;
  unknown_language)
    rc=0
    "$tusk" translate --model "$model" --src en --tgt xx <"$tmp/three.txt" >"$tmp/xx.out" \
      2>"$tmp/xx.err" || rc=$?
    [ "$rc" -eq 1 ] || fail "unknown language exited $rc, expected 1"
    grep -q '^tusk: error: ' "$tmp/xx.err" || fail "no error message for an unknown language"
    grep -q "languages: .*en" "$tmp/xx.err" || fail "the model's languages are not listed"
    [ ! -s "$tmp/xx.out" ] || fail "unknown language printed output"
    ;;
  bad_input)
    # Invalid UTF-8 is refused with the exact line named; the other lines are translated
    # (--on-error continue, the default) and the exit status says a line failed.
    printf 'A dog runs.\n\nA cat \xff sleeps.\nTwo men play.\n' >"$tmp/utf8.txt"
    rc=0
    "$tusk" translate --model "$model" --src en --tgt de <"$tmp/utf8.txt" >"$tmp/utf8.out" \
      2>"$tmp/utf8.err" || rc=$?
    [ "$rc" -eq 1 ] || fail "invalid UTF-8 exited $rc, expected 1"
    grep -q '^tusk: error: input line 3 is not valid UTF-8' "$tmp/utf8.err" ||
      fail "the invalid UTF-8 line is not named"
    [ "$(line_count "$tmp/utf8.out")" -eq 4 ] || fail "continue: expected 4 output lines"
    [ -n "$(sed -n 1p "$tmp/utf8.out")" ] && [ -z "$(sed -n 3p "$tmp/utf8.out")" ] &&
      [ -n "$(sed -n 4p "$tmp/utf8.out")" ] || fail "continue: lines 1 and 4 translated, line 3 empty"
    # --on-error fail: all or nothing.
    rc=0
    "$tusk" translate --model "$model" --src en --tgt de --on-error fail <"$tmp/utf8.txt" \
      >"$tmp/utf8fail.out" 2>"$tmp/utf8fail.err" || rc=$?
    [ "$rc" -eq 1 ] || fail "--on-error fail exited $rc, expected 1"
    [ ! -s "$tmp/utf8fail.out" ] || fail "--on-error fail printed translations"
    # -i/-o and -s/-t stand for standard input and output and --src/--tgt; lines are numbered
    # across chunks (a bad line after the first 256 keeps its file-wide number).
    for _ in $(seq 1 300); do printf 'A dog runs.\n'; done >"$tmp/many.txt"
    printf 'A cat \xff sleeps.\n' >>"$tmp/many.txt"
    rc=0
    "$tusk" translate --model "$model" -s en -t de -i "$tmp/many.txt" -o "$tmp/many.out" 2>"$tmp/many.err" || rc=$?
    [ "$rc" -eq 1 ] || fail "-i/-o with a bad line exited $rc, expected 1"
    [ "$(line_count "$tmp/many.out")" -eq 301 ] || fail "-o: expected 301 lines"
    grep -q 'input line 301 ' "$tmp/many.err" || fail "the bad line's number is not file-wide: $(cat "$tmp/many.err")"
    # Text mode (the default): an over-long sentence is translated in pieces, with a warning.
    for _ in $(seq 1 400); do printf 'house '; done >"$tmp/long.txt"
    printf '\n' >>"$tmp/long.txt"
    translate pieces "$tmp/long.txt" --model "$model" --src en --tgt de
    [ "$(line_count "$tmp/pieces.out")" -eq 1 ] || fail "text mode: expected one line"
    grep -q 'input line 1 .*translated in pieces' "$tmp/pieces.err" || fail "text mode: no warning for pieces"
    # One sentence a line (--sentences): refused unless --truncate; then cut with a warning.
    rc=0
    "$tusk" translate --model "$model" --src en --tgt de --sentences <"$tmp/long.txt" >"$tmp/long.out" \
      2>"$tmp/long.err" || rc=$?
    [ "$rc" -eq 1 ] || fail "an over-long sentence exited $rc, expected 1"
    grep -q '^tusk: error: ' "$tmp/long.err" || fail "no error for an over-long sentence"
    grep -q -- '--truncate' "$tmp/long.err" || fail "no hint to --truncate"
    translate truncated "$tmp/long.txt" --model "$model" --src en --tgt de --sentences --truncate
    [ "$(line_count "$tmp/truncated.out")" -eq 1 ] || fail "--truncate: expected one line"
    grep -q 'input line 1 .*truncated' "$tmp/truncated.err" || fail "--truncate: no warning"
    # Text mode splits a line into sentences and keeps its spacing; --sentences does not split.
    printf '  A man is cooking in a kitchen. Two dogs play in the snow.\n' >"$tmp/para.txt"
    translate para "$tmp/para.txt" --model "$model" --src en --tgt de
    printf 'A man is cooking in a kitchen.\nTwo dogs play in the snow.\n' >"$tmp/split.txt"
    translate split "$tmp/split.txt" --model "$model" --src en --tgt de --sentences
    [ "$(cat "$tmp/para.out")" = "  $(head -1 "$tmp/split.out") $(tail -1 "$tmp/split.out")" ] ||
      fail "text mode: the line is not its sentences' translations with its spacing: $(cat "$tmp/para.out")"
    # A UTF-8 byte-order mark at the start of the input is not translated.
    printf '\xef\xbb\xbfA dog runs.\n' >"$tmp/bom.txt"
    printf 'A dog runs.\n' >"$tmp/nobom.txt"
    translate bom "$tmp/bom.txt" --model "$model" --src en --tgt de
    translate nobom "$tmp/nobom.txt" --model "$model" --src en --tgt de
    cmp -s "$tmp/bom.out" "$tmp/nobom.out" || fail "a byte-order mark changes the translation"
    ;;
  expert_budget)
    # Paging experts through a 25% cache changes nothing in the output; --stats writes the
    # cache counters as JSON. Enough sentences that the cache must evict.
    budget_lines=("A man rides a bike down the street." "Two dogs are playing in the snow."
                  "A little girl is climbing a tree." "Two men are playing soccer on a field."
                  "A woman is reading a book in the park." "A black dog runs through the grass."
                  "Three people sit on a bench near the water." "A boy in a red shirt jumps.")
    printf '%s\n' "${budget_lines[@]}" >"$tmp/eight.txt"
    translate resident "$tmp/eight.txt" --model "$model" --src en --tgt de --threads 1 \
      --stats "$tmp/resident.json"
    translate paged "$tmp/eight.txt" --model "$model" --src en --tgt de --threads 1 \
      --expert-budget 25% --stats "$tmp/paged.json"
    cmp -s "$tmp/resident.out" "$tmp/paged.out" || fail "--expert-budget 25% changes the output"
    translate single "$tmp/eight.txt" --model "$model" --src en --tgt de --threads 1 \
      --max-batch-size 1 --expert-budget=25%
    cmp -s "$tmp/resident.out" "$tmp/single.out" || fail "25%, one sentence per batch, differs"
    for eviction in lru layer-distance; do
      translate "$eviction" "$tmp/eight.txt" --model "$model" --src en --tgt de --threads 1 \
        --max-batch-size 1 --expert-budget 25% --eviction "$eviction"
      cmp -s "$tmp/resident.out" "$tmp/$eviction.out" || fail "--eviction $eviction changes the output"
    done
    for prefetch in on off; do
      translate "prefetch-$prefetch" "$tmp/eight.txt" --model "$model" --src en --tgt de --threads 1 \
        --max-batch-size 1 --expert-budget 25% --prefetch "$prefetch" --stats "$tmp/prefetch-$prefetch.json"
      cmp -s "$tmp/resident.out" "$tmp/prefetch-$prefetch.out" || fail "--prefetch $prefetch changes the output"
    done
    python3 - "$tmp/prefetch-on.json" "$tmp/prefetch-off.json" <<'PY' || fail "--prefetch: wrong stats"
import json, sys
on, off = (json.load(open(p)) for p in sys.argv[1:])
assert on["prefetch_issued"] > 0 and 0 < on["prefetch_used"] <= on["prefetch_issued"], on
assert 0 < on["prefetch_precision"] <= 1 and 0 < on["prefetch_recall"] <= 1, on
assert off["prefetch_issued"] == 0 and off["prefetch_precision"] is None and off["prefetch_recall"] == 0, off
PY
    # --warm-start off loads nothing ahead.
    translate cold "$tmp/eight.txt" --model "$model" --src en --tgt de --threads 1 \
      --expert-budget 25% --warm-start off --stats "$tmp/cold.json"
    cmp -s "$tmp/resident.out" "$tmp/cold.out" || fail "--warm-start off changes the output"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["warm_start_loaded"] == 0, d' \
      "$tmp/cold.json" || fail "--warm-start off loaded experts"
    # 100% is all resident, like no flag.
    translate full "$tmp/eight.txt" --model "$model" --src en --tgt de --threads 1 \
      --expert-budget 100% --stats "$tmp/full.json"
    cmp -s "$tmp/resident.out" "$tmp/full.out" || fail "--expert-budget 100% changes the output"
    python3 - "$tmp/paged.json" "$tmp/resident.json" "$tmp/full.json" >"$tmp/json.err" 2>&1 <<'PY' ||
import json, sys
keys = ["hits", "misses", "evictions", "bytes_loaded", "prefetch_issued", "prefetch_used",
        "stall_ms", "peak_cache_bytes", "budget_bytes", "expert_bytes_total"]
docs = [json.load(open(p)) for p in sys.argv[1:]]
for path, d in zip(sys.argv[1:], docs):
    assert isinstance(d, dict), path + ": not a JSON object"
    missing = [k for k in keys if k not in d]
    assert not missing, path + ": missing keys " + ", ".join(missing)
    assert all(isinstance(d[k], (int, float)) and d[k] >= 0 for k in keys), path + ": bad values"
paged, resident, full = docs
total = paged["expert_bytes_total"]
assert paged["budget_bytes"] == total // 4, paged
# Loaded on a miss or ahead by the prefetcher, which may win every race.
assert paged["misses"] + paged["prefetch_used"] > 0 and paged["hits"] + paged["misses"] > 0, paged
assert paged["evictions"] > 0, paged
assert 0 < paged["peak_cache_bytes"] <= paged["budget_bytes"], paged
assert paged["bytes_loaded"] >= paged["peak_cache_bytes"], paged
assert paged["hit_rate"] == round(paged["hits"] / (paged["hits"] + paged["misses"]), 6), paged
# The committed model is calibrated, so the default warm start loads something.
assert paged["warm_start_loaded"] > 0, paged
for d in (resident, full):
    assert d["budget_bytes"] == 0 and d["hits"] == 0 and d["misses"] == 0, d
    assert d["peak_cache_bytes"] == total and d["hit_rate"] is None, d
PY
      fail "stats JSON: $(cat "$tmp/json.err")"
    ;;
  expert_budget_invalid)
    # Malformed sizes and a budget below the largest expert are command-line mistakes (exit 2).
    for bad in abc 0 0% 150% -5 12X 1.5G 25%% '' 99999999999999999999; do
      rc=0
      "$tusk" translate --model "$model" --src en --tgt de --expert-budget "$bad" \
        <"$tmp/three.txt" >"$tmp/bad.out" 2>"$tmp/bad.err" || rc=$?
      [ "$rc" -eq 2 ] || fail "--expert-budget '$bad' exited $rc, expected 2"
      grep -q -- '--expert-budget' "$tmp/bad.err" || fail "--expert-budget '$bad': flag not named"
      [ ! -s "$tmp/bad.out" ] || fail "--expert-budget '$bad' printed output"
    done
    rc=0
    "$tusk" translate --model "$model" --src en --tgt de --expert-budget 1K \
      <"$tmp/three.txt" >"$tmp/small.out" 2>"$tmp/small.err" || rc=$?
    [ "$rc" -eq 2 ] || fail "--expert-budget 1K exited $rc, expected 2"
    grep -q 'minimum budget for this model is [0-9][0-9]* bytes' "$tmp/small.err" ||
      fail "--expert-budget 1K: the minimum is not given"
    # Suffixes are powers of 1024: 1G holds every expert of the bundled model.
    translate big "$tmp/three.txt" --model "$model" --src en --tgt de --expert-budget 1g \
      --stats "$tmp/big.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["budget_bytes"] == 1 << 30 and d["evictions"] == 0, d' \
      "$tmp/big.json" || fail "--expert-budget 1g: wrong budget_bytes or evictions"
    # --eviction takes a policy name.
    rc=0
    "$tusk" translate --model "$model" --src en --tgt de --expert-budget 25% --eviction mru \
      <"$tmp/three.txt" >"$tmp/mru.out" 2>"$tmp/mru.err" || rc=$?
    [ "$rc" -eq 2 ] || fail "--eviction mru exited $rc, expected 2"
    grep -q -- '--eviction' "$tmp/mru.err" || fail "--eviction mru: flag not named"
    # --prefetch takes on or off.
    rc=0
    "$tusk" translate --model "$model" --src en --tgt de --expert-budget 25% --prefetch maybe \
      <"$tmp/three.txt" >"$tmp/maybe.out" 2>"$tmp/maybe.err" || rc=$?
    [ "$rc" -eq 2 ] || fail "--prefetch maybe exited $rc, expected 2"
    grep -q -- '--prefetch' "$tmp/maybe.err" || fail "--prefetch maybe: flag not named"
    # --stats needs a file name.
    rc=0
    "$tusk" translate --model "$model" --src en --tgt de --stats= <"$tmp/three.txt" \
      >"$tmp/nostats.out" 2>"$tmp/nostats.err" || rc=$?
    [ "$rc" -eq 2 ] || fail "--stats= exited $rc, expected 2"
    ;;
  inspect)
    rc=0
    "$tusk" inspect "$model" >"$tmp/inspect.out" 2>"$tmp/inspect.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "inspect exited $rc"
    [ -s "$tmp/inspect.out" ] || fail "inspect printed nothing"
    grep -qw en "$tmp/inspect.out" || fail "inspect does not list the language en"
    grep -qw de "$tmp/inspect.out" || fail "inspect does not list the language de"
    ;;
  inspect_verbose)
    rc=0
    "$tusk" inspect --verbose "$model" >"$tmp/verbose.out" 2>"$tmp/verbose.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "inspect --verbose exited $rc"
    "$tusk" inspect "$model" >"$tmp/plain.out" 2>/dev/null || fail "inspect exited non-zero"
    # The plain description first, then the quantization summary and one line per tensor.
    head -c "$(wc -c <"$tmp/plain.out")" "$tmp/verbose.out" | cmp -s - "$tmp/plain.out" ||
      fail "inspect --verbose does not start with the plain description"
    grep -q '^quantization:  ' "$tmp/verbose.out" || fail "no quantization summary"
    grep -Eq '^  name +dtype +shape +group +max abs err +rel RMS +bytes$' "$tmp/verbose.out" ||
      fail "no tensor table header"
    grep -Eq '^  model\.shared\.weight +(f32|f16|i8) ' "$tmp/verbose.out" || fail "no model.shared.weight line"
    grep -Eq '^  model\.decoder\.layers\.[0-9]+\.ffn\.experts\.expert_0\.fc1\.weight ' "$tmp/verbose.out" ||
      fail "no expert tensor line"
    grep -q '^totals by dtype:' "$tmp/verbose.out" || fail "no totals"
    ;;
  model_overwritten)
    # The model file overwritten in place (as `cp` does) while the CLI reads its input from a
    # pipe: the first line's translation reaches stdout, the next is refused by name, and the
    # process exits with an error, not a signal.
    cp "$model" "$tmp/m.tusk"
    mkfifo "$tmp/in"
    "$tusk" translate --model "$tmp/m.tusk" -s en -t de <"$tmp/in" >"$tmp/overwrite.out" 2>"$tmp/overwrite.err" &
    pid=$!
    exec 3>"$tmp/in"
    echo "A dog runs." >&3
    for _ in $(seq 300); do [ -s "$tmp/overwrite.out" ] && break; sleep 0.1; done
    [ -s "$tmp/overwrite.out" ] || { exec 3>&-; fail "no output for the first line while the input stays open"; }
    head -c 100000 "$model" >"$tmp/small.tusk"
    cp "$tmp/small.tusk" "$tmp/m.tusk"
    echo "Two cats sleep." >&3
    exec 3>&-
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -ne 0 ] || fail "translating with a model overwritten in place succeeded"
    [ "$rc" -lt 128 ] || fail "the CLI died of signal $((rc - 128))"
    [ "$(line_count "$tmp/overwrite.out")" -ge 1 ] || fail "the first line's translation was lost"
    [ -n "$(sed -n 1p "$tmp/overwrite.out")" ] || fail "the first output line is empty"
    grep -q "changed in place" "$tmp/overwrite.err" || fail "the error does not say the model file changed"
    ;;
  killed_mid_run)
    # Stopped (SIGKILL) mid-run, the CLI leaves whole lines in input order: a prefix of a
    # complete run's output, as long as the chunks it had finished.
    zcat "$TUSK_SHARED_DIR/data/multi30k/test_2016_flickr.en.gz" | head -800 >"$tmp/in.txt"
    translate full "$tmp/in.txt" -s en -t de --sentences
    "$tusk" translate -s en -t de --sentences -i "$tmp/in.txt" -o "$tmp/killed.out" 2>"$tmp/killed.err" &
    pid=$!
    for _ in $(seq 600); do [ -s "$tmp/killed.out" ] && break; sleep 0.1; done
    sleep 0.3
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    n=$(line_count "$tmp/killed.out")
    [ "$n" -ge 1 ] || fail "nothing was written before the kill"
    [ "$(tail -c 1 "$tmp/killed.out" | od -An -c | tr -d ' ')" = '\n' ] || fail "the output ends inside a line"
    head -n "$n" "$tmp/full.out" | cmp -s - "$tmp/killed.out" || fail "the $n lines written are not the first $n of a full run"
    echo "killed after $n of 800 lines"
    ;;
  *)
    echo "unknown case '$case_name'" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
