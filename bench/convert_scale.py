#!/usr/bin/env python3
"""Peak memory and time of `tusk convert` on a checkpoint with nllb-moe-54b's widths (issue 12,
requirement 7).

The converter must stream tensor by tensor: its peak RSS should be about the largest tensor
(as fp32, the form it quantizes from) plus a constant, never the checkpoint. This script

  * makes the checkpoint with bench/make_wide_nllb_moe.py unless it exists (d_model 2048,
    FFN 8192, vocabulary 256206, 2+2 layers, 16 experts, bf16: ~3.5 GB, about a minute),
  * converts it with `tusk convert` (default int4 experts + int8 dense, as shipped models are),
    measuring wall time and peak RSS (wait4's ru_maxrss of that process alone),
  * as the baseline in the same run, loads the same checkpoint with transformers'
    from_pretrained (what a Python converter starts with) and measures its peak RSS,
  * translates a sentence with the converted file and prints the ids it produced (random
    weights: the text means nothing, but every layer and expert ran),
  * with --parity N, also converts at fp32 and compares Tusk's greedy ids on N Multi30k
    sentences with transformers' generate() on the same checkpoint (upcast to fp32): parity
    at nllb-moe-54b's widths and padded vocabulary (needs ~7 GB of disk and ~8 GB of memory).

  /usr/bin/python3 bench/convert_scale.py [--checkpoint /tmp/wide-nllb-moe] [--out /tmp/wide.tusk]
      [--convert-flags "--experts int4 --dense int8"] [--no-hf] [--parity N]
"""
import argparse
import json
import os
import shlex
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

GiB = 1 << 30
# generate() on the checkpoint in fp32; prints [ids, log-probabilities of the generated ids]
# as JSON for each line of stdin.
HF_GENERATE = """
import json, sys, torch
from transformers import NllbMoeForConditionalGeneration, NllbTokenizer
path, new = sys.argv[1], int(sys.argv[2])
tok = NllbTokenizer.from_pretrained(path, src_lang="eng_Latn")
m = NllbMoeForConditionalGeneration.from_pretrained(path, torch_dtype=torch.float32).eval()
for line in sys.stdin:
    enc = tok(line.rstrip("\\n"), return_tensors="pt")
    with torch.no_grad():
        out = m.generate(**enc, decoder_start_token_id=2, forced_bos_token_id=tok.convert_tokens_to_ids("deu_Latn"),
                         num_beams=1, do_sample=False, max_new_tokens=new, output_scores=True,
                         return_dict_in_generate=True)
    ids = out.sequences[0].tolist()[1:]
    lps = [float(torch.log_softmax(s[0].float(), -1)[ids[i + 1]]) for i, s in enumerate(out.scores[1:])]
    print(json.dumps([ids, lps]), flush=True)
"""
HF_LOAD = """
import resource, sys, torch
from transformers import NllbMoeForConditionalGeneration
m = NllbMoeForConditionalGeneration.from_pretrained(sys.argv[1], torch_dtype=torch.bfloat16)
print(sum(p.numel() for p in m.parameters()))
"""


def measured(cmd):
    """Runs cmd under wait4 and returns (seconds, peak RSS bytes, stdout)."""
    start = time.time()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        os.close(r)
        os.execvp(cmd[0], cmd)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.time() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise benchlib.BenchError(f"{' '.join(cmd[:4])} exited with {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss * 1024, b"".join(chunks).decode()


def largest_tensor(folder):
    """(name, elements, stored bytes, total checkpoint bytes) from the safetensors headers."""
    best, total = ("", 0, 0), 0
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".safetensors"):
            continue
        path = os.path.join(folder, f)
        total += os.path.getsize(path)
        with open(path, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
        for name, t in header.items():
            if name == "__metadata__":
                continue
            elements = 1
            for d in t["shape"]:
                elements *= d
            if elements > best[1]:
                best = (name, elements, t["data_offsets"][1] - t["data_offsets"][0])
    return best + (total,)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default="/tmp/wide-nllb-moe")
    ap.add_argument("--out", default="/tmp/wide.tusk")
    ap.add_argument("--convert-flags", default="--experts int4 --dense int8")
    ap.add_argument("--tusk", default=benchlib.DEFAULT_TUSK)
    ap.add_argument("--no-hf", action="store_true", help="skip the transformers baseline")
    ap.add_argument("--parity", type=int, default=0, metavar="N",
                    help="also compare greedy ids with transformers on N sentences (fp32 conversion)")
    a = ap.parse_args()
    tusk = benchlib.check_tusk(a.tusk)

    if not os.path.isfile(os.path.join(a.checkpoint, "config.json")):
        print(f"making {a.checkpoint} with bench/make_wide_nllb_moe.py ...", flush=True)
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "make_wide_nllb_moe.py"),
                        a.checkpoint], check=True)
    name, elements, stored, total = largest_tensor(a.checkpoint)
    as_f32 = elements * 4
    print(f"checkpoint: {a.checkpoint}, {total / GiB:.2f} GiB; largest tensor {name}: "
          f"{stored / GiB:.2f} GiB stored, {as_f32 / GiB:.2f} GiB as fp32")

    cmd = [tusk, "convert", "--from-hf", a.checkpoint, "--out", a.out] + shlex.split(a.convert_flags)
    seconds, rss, _ = measured(cmd)
    print(f"tusk convert {a.convert_flags}: {seconds:.1f} s, peak RSS {rss / GiB:.2f} GiB = "
          f"{rss / as_f32:.2f}x the largest tensor as fp32, {rss / total:.2f}x the checkpoint; "
          f"wrote {os.path.getsize(a.out) / GiB:.2f} GiB")

    if not a.no_hf:
        hf_seconds, hf_rss, _ = measured([sys.executable, "-c", HF_LOAD, a.checkpoint])
        print(f"baseline, transformers from_pretrained (bf16): {hf_seconds:.1f} s, peak RSS "
              f"{hf_rss / GiB:.2f} GiB; tusk convert's peak is {rss / hf_rss:.2f}x of it")

    os.environ.setdefault("TUSK_LIBRARY", benchlib.DEFAULT_LIB)
    sys.path.insert(0, os.path.join(benchlib.REPO, "bindings", "python"))
    import tusk as tusk_py  # noqa: E402
    start = time.time()
    with tusk_py.Model(a.out) as model, tusk_py.Translator(model, max_decoding_length=16) as tr:
        r = tr.translate_detailed(["A man rides a bike down the street."], "eng_Latn", "deu_Latn")[0]
    print(f"translates: en->de produced {len(r.tokens)} ids {list(r.tokens)} in {time.time() - start:.1f} s "
          f"(open + translate; random weights, so the text means nothing: {r.text!r})")
    if a.parity:
        parity(a, tusk, tusk_py, benchlib.read_lines("en", a.parity))


def parity(a, tusk, tusk_py, sentences):
    """Greedy ids of an fp32 conversion against transformers' generate() on the same weights."""
    fp32 = os.path.splitext(a.out)[0] + "-fp32.tusk"
    seconds, rss, _ = measured([tusk, "convert", "--from-hf", a.checkpoint, "--out", fp32])
    print(f"tusk convert (fp32): {seconds:.1f} s, peak RSS {rss / GiB:.2f} GiB, wrote "
          f"{os.path.getsize(fp32) / GiB:.2f} GiB")
    new = 16  # generate()'s max_new_tokens counts the forced language code
    with tusk_py.Model(fp32) as model, tusk_py.Translator(model, max_decoding_length=new - 1) as tr:
        ours = tr.translate_detailed(sentences, "en", "de")
    hf = [json.loads(line) for line in subprocess.run(
        [sys.executable, "-c", HF_GENERATE, a.checkpoint, str(new)], input="\n".join(sentences) + "\n",
        capture_output=True, text=True, check=True).stdout.splitlines() if line]
    equal, worst = 0, 0.0
    for o, (ids, lps) in zip(ours, hf):
        equal += list(o.tokens) == ids
        for mine, theirs in zip(o.logprobs, lps):
            worst = max(worst, abs(mine - theirs))
        print(f"  tusk {list(o.tokens)}\n  hf   {ids}")
    print(f"parity at 54B widths: {equal} of {len(sentences)} sentences with identical greedy ids; "
          f"largest |log-probability difference| of a generated token: {worst:.2e}")
    os.remove(fp32)


if __name__ == "__main__":
    try:
        main()
    except benchlib.BenchError as e:
        benchlib.die(str(e))
