#!/usr/bin/env python3
"""Runaway guards against BLEU: which defaults cost nothing on Multi30k's val sets.

For each guard setting (`tusk translate` flags) it translates the Multi30k val sets (1014
sentences) in the six directions with the default model, greedy, and reports sacreBLEU
against the references next to the unguarded run (all guards off, measured in the same run),
the change, how many outputs differ from the unguarded ones, and the longest output in
tokens-per-source-token terms. A setting passes when no direction loses more than MAX_DROP
BLEU (0.1, the issue's bar). It also translates the runaway probes ("Hello.", a markup line)
and prints what each setting makes of them.

  python3 bench/guards.py                       # the candidate settings below
  python3 bench/guards.py --setting "r2=--max-length-ratio 2 --max-length-offset 10"

Needs sacrebleu and a built build/bin/tusk. About 10 s per setting and direction on 2 cores.
"""
import argparse
import shlex
import subprocess
import sys

import benchlib

DIRECTIONS = [("en", "de"), ("en", "fr"), ("en", "cs"), ("de", "en"), ("fr", "en"), ("cs", "en")]
OFF = "--max-length-ratio 0 --no-repeat-ngram-size 0 --repetition-penalty 1"
CANDIDATES = [
    ("ratio1.5+10", "--max-length-ratio 1.5 --max-length-offset 10"),
    ("ratio2+10", "--max-length-ratio 2 --max-length-offset 10"),
    ("ratio3+10", "--max-length-ratio 3 --max-length-offset 10"),
    ("ngram3", "--no-repeat-ngram-size 3"),
    ("ngram4", "--no-repeat-ngram-size 4"),
    ("penalty1.1", "--repetition-penalty 1.1"),
]
PROBES = ["Hello.", "<b>Hand</b> <i>schuhe</i> &amp; <br/>"]
MAX_DROP = 0.1


def translate(tusk, src, tgt, lines, flags, threads):
    cmd = [tusk, "translate", "--src", src, "--tgt", tgt, "--sentences", "--threads", str(threads)] + flags
    run = subprocess.run(cmd, input="".join(l + "\n" for l in lines), capture_output=True, text=True,
                         encoding="utf-8")
    if run.returncode != 0:
        raise benchlib.BenchError(f"{' '.join(cmd)} failed:\n{run.stderr.strip()}")
    out = run.stdout.split("\n")
    return out[:len(lines)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", action="append", metavar="LABEL=FLAGS", help="a guard setting (repeatable)")
    ap.add_argument("--tusk", default=benchlib.DEFAULT_TUSK)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, help="only the first N sentences")
    a = ap.parse_args()
    import sacrebleu

    tusk = benchlib.check_tusk(a.tusk)
    settings = [s.split("=", 1) for s in a.setting] if a.setting else CANDIDATES
    data = {lang: benchlib.read_lines(lang, a.limit, split="val") for lang in ("en", "de", "fr", "cs")}
    bleu = sacrebleu.BLEU()
    off = {}
    for src, tgt in DIRECTIONS:
        hyps = translate(tusk, src, tgt, data[src], shlex.split(OFF), a.threads)
        off[src, tgt] = (hyps, bleu.corpus_score(hyps, [data[tgt]]).score)
    print(f"Multi30k val, {len(data['en'])} sentences a direction, greedy, default model; "
          f"baseline: all guards off ({OFF})")
    print(f"BLEU: {bleu.get_signature()}\n")
    header = ["setting"] + [f"{s}→{t}" for s, t in DIRECTIONS] + ["outputs changed", f"gate Δ≥-{MAX_DROP}"]
    rows = [["off"] + [f"{off[d][1]:.2f}" for d in DIRECTIONS] + ["0", ""]]
    for label, flags in settings:
        cells, changed, ok = [label], 0, True
        for d in DIRECTIONS:
            hyps = translate(tusk, d[0], d[1], data[d[0]], shlex.split(flags), a.threads)
            score = bleu.corpus_score(hyps, [data[d[1]]]).score
            delta = score - off[d][1]
            ok = ok and delta >= -MAX_DROP
            changed += sum(h != o for h, o in zip(hyps, off[d][0]))
            cells.append(f"{score:.2f} ({delta:+.2f})")
        rows.append(cells + [str(changed), "PASS" if ok else "FAIL"])
        print(f"{label}: done", file=sys.stderr, flush=True)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print("\nRunaway probes, en->de:")
    for label, flags in [("off", OFF)] + settings:
        outs = translate(tusk, "en", "de", PROBES, shlex.split(flags), a.threads)
        print(f"  {label}: " + " | ".join(f"{o[:80]}{'…' if len(o) > 80 else ''} ({len(o)} chars)" for o in outs))


if __name__ == "__main__":
    sys.exit(main())
