#!/usr/bin/env python3
"""Peak memory of `tusk translate` under expert budgets (issue 4, requirement 7).

Expert frames are read with pread (or O_DIRECT) into the translator's cache, so a process
should hold its dense weights, at most the budget of decoded experts, and some working memory:
peak RSS < dense bytes + budget + 64 MB. This script measures peak RSS (wait4's ru_maxrss) of
`tusk translate` on

  * the bundled model (Multi30k test sentences, one at a time), and
  * a synthetic model with 256 experts of NLLB-MoE-54B's shape (d_model 2048, FFN 8192, int4:
    16.8 MB each, 4.3 GB of experts), written by build/bin/make_synthetic_model unless
    --synthetic names an existing file (random weights: the output is nonsense, the memory is
    real),

for several budgets, resident (no budget) as the baseline, with buffered and O_DIRECT reads,
and prints each peak against the bound with PASS/FAIL. Needs about 5 GB of free disk for the
synthetic model (kept for reruns at --synthetic's path) and 5 GB of memory for its resident run.

  python3 bench/memory.py
  python3 bench/memory.py --skip-synthetic          # bundled model only (seconds)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

MB = 1 << 20


def dense_bytes(tusk, model):
    text = subprocess.run([tusk, "inspect", model], capture_output=True, text=True, check=True).stdout
    m = re.search(r"dense: \d+ items, (\d+) bytes stored", text)
    e = re.search(r"experts: \d+ items, \d+ bytes stored, (\d+) raw", text)
    return int(m.group(1)), int(e.group(1))


def peak_rss(cmd, input_path):
    with open(input_path, "rb") as fin:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise benchlib.BenchError(f"{' '.join(cmd)} failed: {err.decode().strip()}")
    return usage.ru_maxrss * 1024, seconds


def measure(tusk, model, input_path, budgets, extra, label):
    dense, experts = dense_bytes(tusk, model)
    print(f"### {label}\n")
    print(f"dense {dense / MB:.1f} MB, experts {experts / MB:.1f} MB ({os.path.basename(model)})\n")
    print("| reads | budget | budget MB | peak RSS MB | bound MB (dense + budget + 64) | seconds | |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    base = [tusk, "translate", "--model", model, "--src", "en", "--tgt", "de"] + extra
    rss, secs = peak_rss(base, input_path)
    print(f"| – | resident | {experts / MB:.1f} | {rss / MB:.1f} | – | {secs:.1f} | baseline |")
    for direct in ("off", "on"):
        for b in budgets:
            budget = int(experts * b / 100)
            rss, secs = peak_rss(base + ["--expert-budget", f"{b:g}%", "--direct-io", direct], input_path)
            bound = dense + budget + 64 * MB
            verdict = "PASS" if rss < bound else "FAIL"
            ok &= rss < bound
            reads = "O_DIRECT" if direct == "on" else "pread"
            print(f"| {reads} | {b:g}% | {budget / MB:.1f} | {rss / MB:.1f} | {bound / MB:.1f} | {secs:.1f} | {verdict} |")
    print()
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tusk", default=benchlib.DEFAULT_TUSK)
    p.add_argument("--generator", default=os.path.join(benchlib.REPO, "build", "bin", "make_synthetic_model"))
    p.add_argument("--model", default=os.path.join(benchlib.REPO, "models", "multi30k-moe.tusk"))
    p.add_argument("--synthetic", default=os.path.join(tempfile.gettempdir(), "tusk-synthetic-54b-256.tusk"))
    p.add_argument("--skip-synthetic", action="store_true")
    p.add_argument("--limit", type=int, default=100, help="sentences for the bundled model (default 100)")
    a = p.parse_args()
    try:
        tusk = benchlib.check_tusk(a.tusk)
        scratch = tempfile.mkdtemp(prefix="tusk-memory-")
        inputs = os.path.join(scratch, "input.en")
        with open(inputs, "w", encoding="utf-8") as f:
            f.write("\n".join(benchlib.read_lines("en", a.limit)) + "\n")
        ok = measure(tusk, a.model, inputs, [12.5, 25, 50], ["--threads", "2", "--max-batch-size", "1"],
                     f"bundled model, {a.limit} sentences one at a time")
        if not a.skip_synthetic:
            if not os.path.isfile(a.synthetic):
                print(f"writing {a.synthetic} ...", file=sys.stderr)
                subprocess.run([a.generator, "--like", a.model, "--out", a.synthetic], check=True)
            short = os.path.join(scratch, "short.en")
            with open(short, "w", encoding="utf-8") as f:
                f.write("\n".join(benchlib.read_lines("en", 10)) + "\n")
            ok &= measure(tusk, a.synthetic, short, [2, 5, 12.5],
                          ["--threads", "2", "--max-batch-size", "1", "--max-decoding-length", "16"],
                          "synthetic model: 256 experts of NLLB-MoE-54B shape, 10 sentences, 16 tokens each")
    except (benchlib.BenchError, subprocess.CalledProcessError) as e:
        benchlib.die(str(e))
    print("Result:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
