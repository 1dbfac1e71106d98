#!/usr/bin/env python3
"""Expert paging under a memory budget (issue 4, requirement 8), measured in one run.

Translates Multi30k test_2016_flickr (the first --limit sentences) with `tusk translate` in
each direction, one sentence at a time (--max-batch-size 1, the interactive case) and with
default batching, under expert budgets of 12.5%, 25%, 50% and 100% of the model's expert
bytes, for these configurations:

  resident         no budget: every expert decoded once and kept (the baseline)
  naive            --eviction none: load an expert on every use, keep nothing, no prefetch
  lru              LRU eviction, no prefetch, no warm start
  layer-distance   the translation-aware policy, no prefetch, no warm start
  +prefetch        layer-distance with the prefetch thread
  +warm            layer-distance with the warm start from the model's calibration table
  default          layer-distance + prefetch + warm start (what `--expert-budget` alone does)

For each it prints hit rate, prefetch recall/precision, stall, sentences/s, the speed ratio to
resident and to naive (same direction, batching and thread count), and the peak RSS of the
process (ru_maxrss). Budget 100% is given in bytes, so it runs through the cache (the CLI's
`100%` means resident). Every output must equal resident's: the script fails otherwise.
Rows are interleaved across repeats and the fastest repeat is kept; the load average is printed
(2-core machine: measure when idle). Timings are reported, never asserted; the targets of the
issue (25%, one sentence at a time: hit rate >= 0.75, speed >= 0.8x resident, >= 2.5x naive)
are printed as PASS/FAIL for the default configuration.

  python3 bench/expert_paging.py                          # 200 sentences, repeat 3
  python3 bench/expert_paging.py --limit 50 --repeat 1    # quick look
  python3 bench/expert_paging.py --direct-io              # loads from storage, not the page cache
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

CONFIGS = [
    ("lru", ["--eviction", "lru", "--prefetch", "off", "--warm-start", "off"]),
    ("layer-distance", ["--eviction", "layer-distance", "--prefetch", "off", "--warm-start", "off"]),
    ("+prefetch", ["--eviction", "layer-distance", "--prefetch", "on", "--warm-start", "off"]),
    ("+warm", ["--eviction", "layer-distance", "--prefetch", "off", "--warm-start", "on"]),
    ("default", []),
]


def run_tusk(tusk, model, args, input_path, stats_path, scratch):
    """Runs one translation with stdin from input_path; returns (seconds, output bytes, stats
    dict or None, peak RSS bytes of that process from wait4)."""
    cmd = [tusk, "translate", "--model", model] + args
    if stats_path:
        cmd += ["--stats", stats_path]
    out_path, err_path = os.path.join(scratch, "out.txt"), os.path.join(scratch, "err.txt")
    with open(input_path, "rb") as fin, open(out_path, "wb") as fout, open(err_path, "wb") as ferr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(err_path) as f:
            raise benchlib.BenchError(f"{' '.join(cmd)} failed ({proc.returncode}): {f.read().strip()}")
    with open(out_path, "rb") as f:
        out = f.read()
    stats = None
    if stats_path:
        with open(stats_path) as f:
            stats = json.load(f)
    return seconds, out, stats, usage.ru_maxrss * 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tusk", default=benchlib.DEFAULT_TUSK)
    p.add_argument("--model", default=os.path.join(benchlib.REPO, "models", "multi30k-moe.tusk"))
    p.add_argument("--directions", default="en-de,de-en")
    p.add_argument("--limit", type=int, default=200, help="sentences per direction (default 200)")
    p.add_argument("--repeat", type=int, default=3, help="keep the fastest of R interleaved runs")
    p.add_argument("--threads", type=int, default=2, help="translation threads (default 2)")
    p.add_argument("--budgets", default="12.5,25,50,100", help="percentages of the expert bytes")
    p.add_argument("--modes", default="single,batched", help="single (--max-batch-size 1), batched")
    p.add_argument("--direct-io", action="store_true",
                   help="paged rows read experts with O_DIRECT (past the page cache: storage speed)")
    p.add_argument("--json", help="also write every measured row to this file")
    a = p.parse_args()
    try:
        tusk = benchlib.check_tusk(a.tusk)
        budgets = [float(b) for b in a.budgets.split(",")]
        directions = [d.split("-") for d in a.directions.split(",")]
        modes = a.modes.split(",")
        scratch = tempfile.mkdtemp(prefix="tusk-paging-")
        inputs = {}
        for src, _ in directions:
            inputs[src] = os.path.join(scratch, f"input.{src}")
            with open(inputs[src], "w", encoding="utf-8") as f:
                f.write("\n".join(benchlib.read_lines(src, a.limit)) + "\n")
        stats_path = os.path.join(scratch, "stats.json")
        # The model's expert bytes, from a resident run's stats.
        _, _, probe, _ = run_tusk(tusk, a.model, ["--src", "en", "--tgt", "de", "--threads", "1"],
                                  inputs[directions[0][0]], stats_path, scratch)
        total = probe["expert_bytes_total"]
    except (benchlib.BenchError, ValueError) as e:
        benchlib.die(str(e))

    # Rows: (direction, mode, label, budget%). Each gets its command-line flags.
    rows = []
    for src, tgt in directions:
        for mode in modes:
            base = ["--src", src, "--tgt", tgt, "--threads", str(a.threads)]
            if mode == "single":
                base += ["--max-batch-size", "1"]
            rows.append(((src, tgt), mode, "resident", None, base))
            if a.direct_io:
                base = base + ["--direct-io", "on"]
            rows.append(((src, tgt), mode, "naive", 25.0,
                         base + ["--expert-budget", "25%", "--eviction", "none", "--prefetch", "off",
                                 "--warm-start", "off"]))
            for b in budgets:
                size = str(total) if b >= 100 else f"{b:g}%"
                for label, flags in CONFIGS:
                    rows.append(((src, tgt), mode, label, b, base + ["--expert-budget", size] + flags))

    load_before = os.getloadavg()[0]
    best = {}
    rss = {}
    outputs = {}
    for rep in range(a.repeat):
        for i, (direction, mode, label, budget, args) in enumerate(rows):
            seconds, out, stats, peak = run_tusk(tusk, a.model, args, inputs[direction[0]], stats_path, scratch)
            key = (direction, mode)
            if label == "resident":
                outputs[key] = out
            elif out != outputs.get(key, out):
                benchlib.die(f"{label} at {budget}% ({'-'.join(direction)}, {mode}) translated differently "
                             f"from resident", 1)
            if i not in best or seconds < best[i][0]:
                best[i] = (seconds, stats)
            rss[i] = max(rss.get(i, 0), peak)
        print(f"  repeat {rep + 1}/{a.repeat} done", file=sys.stderr)
    load_after = os.getloadavg()[0]

    print(f"Expert paging: {a.limit} sentences of test_2016_flickr per direction, {a.threads} threads, "
          f"{'O_DIRECT' if a.direct_io else 'buffered (page cache)'} expert reads, "
          f"best of {a.repeat}; expert bytes {total:,}; load average {load_before:.2f} before, "
          f"{load_after:.2f} after\n")
    records = []
    verdicts = []
    for src, tgt in directions:
        for mode in modes:
            idx = [i for i, r in enumerate(rows) if r[0] == (src, tgt) and r[1] == mode]
            resident = next(best[i][0] for i in idx if rows[i][2] == "resident")
            naive = next(best[i][0] for i in idx if rows[i][2] == "naive")
            print(f"### {src}→{tgt}, {'one sentence at a time' if mode == 'single' else 'batched (up to 32)'}\n")
            print("| config | budget | hit rate | recall | precision | stall ms | sent/s | × resident | × naive | peak RSS MB |")
            print("|---|---|---|---|---|---|---|---|---|---|")
            for i in idx:
                _, _, label, budget, _ = rows[i]
                seconds, st = best[i]
                sps = a.limit / seconds

                def fmt(key, digits=3):
                    v = st.get(key) if st else None
                    return "–" if v is None else f"{v:.{digits}f}"

                print(f"| {label} | {'–' if budget is None else f'{budget:g}%'} | {fmt('hit_rate')} | "
                      f"{fmt('prefetch_recall', 2)} | {fmt('prefetch_precision', 2)} | {fmt('stall_ms', 0)} | "
                      f"{sps:.1f} | {resident / seconds:.2f} | {naive / seconds:.2f} | {rss[i] / 2**20:.1f} |")
                records.append({"direction": f"{src}-{tgt}", "mode": mode, "config": label, "budget": budget,
                                "seconds": seconds, "stats": st, "peak_rss": rss[i]})
                if mode == "single" and label == "default" and budget == 25.0:
                    hit = st["hit_rate"]
                    verdicts.append((f"{src}-{tgt}", hit, resident / seconds, naive / seconds))
            print()
    if verdicts:
        print("Targets at 25%, one sentence at a time, default configuration "
              "(hit rate >= 0.75, >= 0.8x resident, >= 2.5x naive):\n")
        for d, hit, vs_res, vs_naive in verdicts:
            ok = hit >= 0.75 and vs_res >= 0.8 and vs_naive >= 2.5
            print(f"- {d}: hit rate {hit:.3f}, {vs_res:.2f}x resident, {vs_naive:.2f}x naive: "
                  f"{'PASS' if ok else 'FAIL'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
