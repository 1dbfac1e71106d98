#!/usr/bin/env python3
"""Interleaved A/B of the `tusk` CLI between two builds: a refactor's speed and output check.

Builds BASE (a commit, default HEAD~1) in a git worktree under build-ab/ (Release, ccache), then
runs `tusk translate` from BASE's build and from the current build (--new-build, default build/)
alternately on the same sentences and threads, and prints per setting the minimum and median
wall time of each and their ratios (new / base), plus whether the outputs are byte-identical.
Both run BASE's default model unless --model is given, so a format change shows up as a diff.

  python3 bench/ab_commits.py --base 8d466cb --runs 10 --batch 1 32 --beam 1 4

Python standard library only. The machine is shared: keep nothing else running meanwhile.
"""
import argparse, gzip, hashlib, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def build_base(commit, where):
    if not os.path.isdir(where):
        run(["git", "-C", ROOT, "worktree", "add", "--detach", where, commit], stdout=subprocess.DEVNULL)
    else:
        run(["git", "-C", where, "checkout", "-q", "--detach", commit])
    build = os.path.join(where, "build")
    env = dict(os.environ, CCACHE_BASEDIR=where)
    run(["cmake", "-S", where, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DTUSK_BUILD_TESTS=OFF"],
        stdout=subprocess.DEVNULL, env=env)
    run(["cmake", "--build", build, "-j2", "--target", "tusk_cli"], stdout=subprocess.DEVNULL, env=env)
    return os.path.join(build, "bin", "tusk")


def translate(tusk, args, text):
    start = time.perf_counter()
    out = run([tusk, "translate"] + args, input=text, stdout=subprocess.PIPE).stdout
    return time.perf_counter() - start, hashlib.md5(out).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD~1", help="commit to compare against")
    ap.add_argument("--new-build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", help="model file for both (default: BASE's models/multi30k-moe.tusk)")
    ap.add_argument("--src", default="en")
    ap.add_argument("--tgt", default="de")
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--beam", type=int, nargs="+", default=[1])
    ap.add_argument("--runs", type=int, default=8)
    a = ap.parse_args()

    where = os.path.join(ROOT, "build-ab")
    base_tusk = build_base(a.base, where)
    new_tusk = os.path.join(a.new_build, "bin", "tusk")
    model = a.model or os.path.join(where, "models", "multi30k-moe.tusk")
    data = os.path.join(ROOT, "..", "shared", "data", "multi30k", f"test_2016_flickr.{a.src}.gz")
    with gzip.open(data, "rb") as f:
        text = b"".join(f.readlines()[: a.sentences])

    print(f"base {a.base} vs {a.new_build}; {a.sentences} {a.src}->{a.tgt} sentences, "
          f"{a.threads} thread(s), {a.runs} interleaved runs; load average {os.getloadavg()[0]:.2f}")
    same_all = True
    for batch in a.batch:
        for beam in a.beam:
            args = ["--model", model, "--src", a.src, "--tgt", a.tgt, "--threads", str(a.threads),
                    "--max-batch-size", str(batch), "--beam-size", str(beam)]
            times = {"base": [], "new": []}
            digests = set()
            for _ in range(a.runs):
                for name, tusk in (("base", base_tusk), ("new", new_tusk)):
                    t, digest = translate(tusk, args, text)
                    times[name].append(t)
                    digests.add((name, digest))
            same = len({d for _, d in digests}) == 1
            same_all &= same
            mb, mn = min(times["base"]), min(times["new"])
            db, dn = statistics.median(times["base"]), statistics.median(times["new"])
            print(f"batch {batch:3d} beam {beam}: min base {mb:.3f}s new {mn:.3f}s ({mn / mb:.3f}x); "
                  f"median base {db:.3f}s new {dn:.3f}s ({dn / db:.3f}x); outputs "
                  f"{'identical' if same else 'DIFFER'}")
    return 0 if same_all else 1


if __name__ == "__main__":
    sys.exit(main())
