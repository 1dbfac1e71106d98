#!/usr/bin/env python3
"""What the safe default for model files costs: TUSK_OPT_MAP_MODEL 0 (dense weights copied into
private memory at open; no change to the file can crash the process) against 1 (used in place
from a mapping), per model: time to open, private (RssAnon) and file-backed (RssFile) memory
after open and after translating, and the translation time. Each measurement runs in a fresh
process, the file already in the page cache (read once before), median of --runs.

    python3 bench/model_residency.py [MODEL.tusk ...] [--runs 5] [--sentences 50]

Prints map/copy ratios; both modes must give the same translations (checked).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

CHILD = r"""
import json, sys, time
import tusk

def rss():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) * 1024
    return fields

path, map_model, sentences = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3])
before = rss()
start = time.perf_counter()
model = tusk.Model(path, map_model=map_model)
opened = time.perf_counter() - start
after_open = rss()
with tusk.Translator(model, threads=1) as tr:
    start = time.perf_counter()
    out = tr.translate(sentences, src="en", tgt="de")
    translated = time.perf_counter() - start
    after_translate = rss()
model.close()
print(json.dumps({"open_s": opened, "translate_s": translated, "out": out,
                  "anon_open": after_open["RssAnon"] - before["RssAnon"],
                  "file_open": after_open["RssFile"] - before["RssFile"],
                  "anon_run": after_translate["RssAnon"] - before["RssAnon"],
                  "file_run": after_translate["RssFile"] - before["RssFile"]}))
"""


def measure(model, map_model, sentences, runs):
    env = dict(os.environ, PYTHONPATH=os.path.join(benchlib.REPO, "bindings", "python"),
               TUSK_LIBRARY=os.environ.get("TUSK_LIBRARY", benchlib.DEFAULT_LIB))
    samples = []
    for _ in range(runs):
        run = subprocess.run([sys.executable, "-c", CHILD, model, "1" if map_model else "0", json.dumps(sentences)],
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            raise benchlib.BenchError(f"measuring {model}: {run.stderr.strip()}")
        samples.append(json.loads(run.stdout))
    median = {k: statistics.median(s[k] for s in samples) for k in samples[0] if k != "out"}
    median["out"] = samples[0]["out"]
    return median


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=[os.path.join(benchlib.REPO, "models", "multi30k-moe.tusk")])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=50)
    args = parser.parse_args()
    sentences = benchlib.read_lines("en", limit=args.sentences)
    mib = 1024 * 1024
    print(f"{'model':<28} {'mode':<5} {'open ms':>8} {'anon MiB':>9} {'file MiB':>9} "
          f"{'anon run':>9} {'file run':>9} {'translate s':>11}")
    for model in args.models:
        with open(model, "rb") as f:  # into the page cache, so both modes start alike
            while f.read(1 << 24):
                pass
        rows = {}
        for mode in ("copy", "map"):
            r = rows[mode] = measure(model, mode == "map", sentences, args.runs)
            print(f"{os.path.basename(model):<28} {mode:<5} {r['open_s'] * 1e3:8.1f} {r['anon_open'] / mib:9.1f} "
                  f"{r['file_open'] / mib:9.1f} {r['anon_run'] / mib:9.1f} {r['file_run'] / mib:9.1f} "
                  f"{r['translate_s']:11.2f}")
        if rows["copy"]["out"] != rows["map"]["out"]:
            raise benchlib.BenchError(f"{model}: the two modes translate differently")
        c, m = rows["copy"], rows["map"]
        print(f"{'':<28} map/copy: open {m['open_s'] / c['open_s']:.2f}x, translate "
              f"{m['translate_s'] / c['translate_s']:.2f}x, private memory after the run "
              f"{(c['anon_run'] - m['anon_run']) / mib:+.1f} MiB for copy; same translations")


if __name__ == "__main__":
    try:
        main()
    except benchlib.BenchError as e:
        benchlib.die(str(e))
