#!/usr/bin/env python3
"""Translation quality of Tusk model variants: sacreBLEU and chrF on Multi30k test_2016.

What it measures: for each model variant (fp32, int4 experts, int4 experts + int8 dense, ...)
it translates the 1000-sentence Multi30k test_2016_flickr set in the six directions en->de,
en->fr, en->cs, de->en, fr->en, cs->en with greedy search (`tusk translate --beam-size 1`, the
real CLI, so tokenization and detokenization are the SDK's), and scores the output against the
references with sacreBLEU: corpus BLEU with the default 13a tokenizer, and corpus chrF.
It prints a table direction x variant with each variant's BLEU change against the baseline
(fp32) and PASS/FAIL against the issue-3 thresholds: a variant passes a direction when its
BLEU is at most MAX_DROP below the baseline's (an improvement always passes).
Defaults: int4 experts (dense fp32) may drop 0.5 BLEU, int4 experts + int8 dense 1.0.

Variants are LABEL=SOURCE, SOURCE being a .tusk file or the flags for `tusk convert`, which
converts the shared checkpoint into a scratch folder (see benchlib.py). Without --variant:
  fp32=--experts fp32 --dense fp32   (or no flags while the converter has no such options)
  int4=--experts int4 --dense fp32
  int4-int8=--experts int4 --dense int8

Exit status: 0 every threshold passed; 1 some threshold failed; 3 a variant with a threshold
could not be measured (the converter lacks its flags); 2 usage or setup error.
Too slow for CI (about 7 s per direction and variant on 2 idle cores, far more when other work
shares them), so it is a manual gate, not a CTest test.

  python3 bench/quality.py                      # full run, default variants
  python3 bench/quality.py --limit 100          # quick look on the first 100 sentences
  python3 bench/quality.py --variant fp32=models/multi30k-moe.tusk \\
      --variant g64="--experts int4 --group-size 64" --threshold g64=0.5
  python3 bench/quality.py --baseline default --variant default=models/multi30k-moe.tusk \\
      --variant a8=models/multi30k-moe.tusk --translate-flags a8=--int8-activations

Needs: Python 3.8+ with sacrebleu (bench/requirements.txt) and a built build/bin/tusk.
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time

import benchlib

DIRECTIONS = [("en", "de"), ("en", "fr"), ("en", "cs"), ("de", "en"), ("fr", "en"), ("cs", "en")]
DEFAULT_THRESHOLDS = {"int4": 0.5, "int4-int8": 1.0}


def default_variants(tusk):
    return [("fp32", benchlib.default_fp32_flags(tusk)),
            ("int4", "--experts int4 --dense fp32"),
            ("int4-int8", "--experts int4 --dense int8")]


def translate(tusk, model, src, tgt, lines, threads, extra=()):
    cmd = [tusk, "translate", "--model", model, "--src", src, "--tgt", tgt,
           "--beam-size", "1", "--threads", str(threads)] + list(extra)
    run = subprocess.run(cmd, input="".join(line + "\n" for line in lines),
                         capture_output=True, text=True, encoding="utf-8")
    if run.returncode != 0:
        raise benchlib.BenchError(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stderr.strip()}")
    out = run.stdout.split("\n")
    if out and out[-1] == "":
        out.pop()
    if len(out) != len(lines):
        raise benchlib.BenchError(f"{src}->{tgt}: {len(lines)} sentences in, {len(out)} lines out")
    return out


def table(headers, rows):
    """A Markdown table (readable as plain text too)."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in rows])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", metavar="LABEL=SOURCE",
                    help="model variant: LABEL=FILE.tusk or LABEL=CONVERT-FLAGS (repeatable)")
    ap.add_argument("--baseline", default="fp32", help="label the others are compared with (default fp32)")
    ap.add_argument("--translate-flags", action="append", default=[], metavar="LABEL=FLAGS",
                    help="extra `tusk translate` flags for one variant, e.g. a8=--int8-activations (repeatable)")
    ap.add_argument("--threshold", action="append", default=[], metavar="LABEL=MAX_DROP",
                    help="largest allowed BLEU drop vs the baseline (default int4=0.5, int4-int8=1.0)")
    ap.add_argument("--limit", type=int, help="only the first N sentences (quick runs)")
    ap.add_argument("--directions", help="comma-separated subset, e.g. en-de,de-en (default all six)")
    ap.add_argument("--tusk", default=benchlib.DEFAULT_TUSK, help="tusk CLI (default build/bin/tusk)")
    ap.add_argument("--threads", type=int, default=2, help="tusk --threads (default 2)")
    ap.add_argument("--out-dir", help="keep hypotheses as OUT_DIR/LABEL.SRC-TGT.txt")
    a = ap.parse_args()

    try:
        import sacrebleu
    except ImportError:
        benchlib.die("sacrebleu is not installed: pip install -r bench/requirements.txt")

    try:
        tusk = benchlib.check_tusk(a.tusk)
        variants = [benchlib.parse_variant(v) for v in a.variant] if a.variant else default_variants(tusk)
        thresholds = dict(DEFAULT_THRESHOLDS)
        for t in a.threshold:
            label, _, drop = t.partition("=")
            thresholds[label] = float(drop)
        thresholds = {k: v for k, v in thresholds.items() if k in dict(variants) and k != a.baseline}
        if a.baseline not in dict(variants):
            raise benchlib.BenchError(f"no variant is labelled '{a.baseline}' (the baseline)")
        translate_flags = {}
        for spec in a.translate_flags:
            label, sep, flags = spec.partition("=")
            if not sep or label not in dict(variants):
                raise benchlib.BenchError(f"--translate-flags {spec}: not LABEL=FLAGS for a variant's label")
            translate_flags[label] = shlex.split(flags)
        directions = DIRECTIONS
        if a.directions:
            directions = [tuple(d.split("-")) for d in a.directions.split(",")]
        data = {}
        for lang in sorted({l for d in directions for l in d}):
            data[lang] = benchlib.read_lines(lang, a.limit)
        if a.out_dir:
            os.makedirs(a.out_dir, exist_ok=True)

        bleu_metric, chrf_metric = sacrebleu.BLEU(), sacrebleu.CHRF()
        bleu, chrf, unavailable = {}, {}, {}
        with tempfile.TemporaryDirectory(prefix="tusk-quality-") as work:
            for label, source in variants:
                try:
                    model = benchlib.materialize(label, source, tusk, work)
                except benchlib.Unavailable as e:
                    unavailable[label] = str(e)
                    print(f"SKIPPED {e}", file=sys.stderr)
                    continue
                for src, tgt in directions:
                    t0 = time.time()
                    hyps = translate(tusk, model, src, tgt, data[src], a.threads, translate_flags.get(label, []))
                    refs = data[tgt]
                    bleu[label, src, tgt] = bleu_metric.corpus_score(hyps, [refs])
                    chrf[label, src, tgt] = chrf_metric.corpus_score(hyps, [refs])
                    print(f"{label} {src}->{tgt}: BLEU {bleu[label, src, tgt].score:.2f} "
                          f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
                    if a.out_dir:
                        with open(os.path.join(a.out_dir, f"{label}.{src}-{tgt}.txt"), "w",
                                  encoding="utf-8") as f:
                            f.writelines(h + "\n" for h in hyps)
        if a.baseline in unavailable:
            raise benchlib.BenchError(f"the baseline could not be built: {unavailable[a.baseline]}")
    except benchlib.BenchError as e:
        benchlib.die(str(e))

    measured = [label for label, _ in variants if label not in unavailable]
    n = len(next(iter(data.values())))
    print(f"Multi30k test_2016_flickr, {n} sentences, greedy, tusk --threads {a.threads}")
    print(f"BLEU: {bleu_metric.get_signature()}\nchrF: {chrf_metric.get_signature()}\n")

    headers = ["direction"]
    for label in measured:
        headers.append(f"{label} BLEU")
        if label != a.baseline:
            headers.append(f"Δ {label}")
            if label in thresholds:
                headers.append(f"gate Δ≥-{thresholds[label]:g}")
    rows, failed = [], []
    for src, tgt in directions:
        base = bleu[a.baseline, src, tgt].score
        row = [f"{src}→{tgt}"]
        for label in measured:
            score = bleu[label, src, tgt].score
            row.append(f"{score:.2f}")
            if label != a.baseline:
                row.append(f"{score - base:+.2f}")
                if label in thresholds:
                    ok = score - base >= -thresholds[label]
                    row.append("PASS" if ok else "FAIL")
                    if not ok:
                        failed.append(f"{label} {src}→{tgt} ({score - base:+.2f})")
        rows.append(row)
    print(table(headers, rows))

    print("\nchrF")
    rows = [[f"{s}→{t}"] + [f"{chrf[l, s, t].score:.2f}" for l in measured] for s, t in directions]
    print(table(["direction"] + measured, rows))

    if failed:
        print(f"\nFAIL: {'; '.join(failed)}")
        return 1
    missing = [label for label in thresholds if label in unavailable]
    if missing:
        print()
        for label in missing:
            print(f"NOT MEASURED: {unavailable[label]}")
        return 3
    print("\nPASS: every threshold met" if thresholds else "\n(no thresholds to check)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
