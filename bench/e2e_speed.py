#!/usr/bin/env python3
"""End-to-end translation speed: Tusk models vs Hugging Face transformers, in one run.

What it measures: sentences per second translating the same sentences (default: the first 200
lines of Multi30k test_2016_flickr.en, en->de), greedy, with the same thread count (default 2),
at batch 1 and batch 32, for
  * each Tusk model variant (default fp32, int4 experts, int4 experts + int8 dense; a variant
    whose converter flags this build lacks is skipped with a note), through the C ABI
    (build/lib/libtusk.so via ctypes): tusk_translate on each group of `batch` consecutive
    sentences. Timed: the tusk_translate calls only (tokenization, batching, encoding, search
    and detokenization inside the library). Not timed: tusk_model_open + tusk_translator_create,
    reported separately as load time.
  * Hugging Face transformers' NllbMoeForConditionalGeneration.generate on the same checkpoint
    (PyTorch CPU, fp32, torch.set_num_threads(threads)), greedy: num_beams=1, do_sample=False,
    forced_bos_token_id = target-language token, decoder_start_token_id=2, max_new_tokens=128.
    Inputs are tokenized as the reference does, [src_lang] + pieces + [eos], right-padded with
    pad_id and an attention mask for batches. Timed: generate() only (tokenization and
    detokenization happen outside the timer, which favours HF slightly).
    Tusk's limit is set to 127 generated tokens after the language code, the same as HF's 128
    new tokens, which count the forced language code.
Every row gets an untimed warm-up on its first group; then all rows are timed round-robin
--repeat R times and each keeps its fastest run (the machine is shared: interleaving spreads a
burst of outside load over all rows; load averages are printed). Ratios are against HF at the
same batch size and against the Tusk fp32 model at the same batch size, all from this run.

Sanity: the output ids of every row are compared with Tusk fp32 at batch 1 ("same ids"). HF
must equal Tusk fp32 on the first 5 sentences at batch 1 or the script fails (the HF setup
would be wrong: tokens, start token or forced language); quantized variants may differ.

Needs Debian's /usr/bin/python3 with python3-torch and python3-sentencepiece (apt) and
transformers (pip), see bench/requirements.txt; without them only the Tusk rows are measured.

  /usr/bin/python3 bench/e2e_speed.py                       # default: 200 sentences, 2 threads
  /usr/bin/python3 bench/e2e_speed.py --limit 20 --no-hf    # quick Tusk-only check
  /usr/bin/python3 bench/e2e_speed.py --variant fp32=models/multi30k-moe.tusk --batch-sizes 1
"""
import argparse
import ctypes
import os
import platform
import subprocess
import sys
import tempfile
import time

import benchlib

LANG_TOKENS = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "cs": "ces_Latn"}
OPT_THREADS, OPT_BEAM_SIZE, OPT_MAX_DECODING_LENGTH, OPT_MAX_BATCH_SIZE = 1, 2, 3, 4
MAX_NEW_TOKENS = 128  # HF's limit, counting the forced language code
SANITY_SENTENCES = 5


class Tusk:
    """The few C ABI calls the benchmark needs, through ctypes."""

    def __init__(self, path):
        if not os.path.isfile(path):
            raise benchlib.BenchError(f"{path} not found (build the library, or pass --lib)")
        L = self.lib = ctypes.CDLL(path)
        P, H = ctypes.POINTER, ctypes.c_void_p
        sigs = {
            "tusk_last_error": ([], ctypes.c_char_p),
            "tusk_options_create": ([P(H)], ctypes.c_int),
            "tusk_options_destroy": ([H], None),
            "tusk_options_set_int": ([H, ctypes.c_int, ctypes.c_int64], ctypes.c_int),
            "tusk_model_open": ([ctypes.c_char_p, H, P(H)], ctypes.c_int),
            "tusk_model_close": ([H], None),
            "tusk_translator_create": ([H, H, P(H)], ctypes.c_int),
            "tusk_translator_destroy": ([H], None),
            "tusk_translate": ([H, ctypes.c_char_p, ctypes.c_char_p, P(ctypes.c_char_p),
                                ctypes.c_size_t, P(H)], ctypes.c_int),
            "tusk_result_tokens": ([H, ctypes.c_size_t, P(P(ctypes.c_int32))], ctypes.c_size_t),
            "tusk_result_free": ([H], None),
        }
        for name, (args, res) in sigs.items():
            fn = getattr(L, name)
            fn.argtypes, fn.restype = args, res

    def check(self, status, what):
        if status != 0:
            raise benchlib.BenchError(f"{what}: status {status}: {self.lib.tusk_last_error().decode()}")

    def open(self, model_path, threads, max_batch):
        """(model, translator) handles; the caller times this as load time."""
        L, opt, model, tr = self.lib, ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        self.check(L.tusk_options_create(ctypes.byref(opt)), "tusk_options_create")
        for key, value in ((OPT_THREADS, threads), (OPT_BEAM_SIZE, 1), (OPT_MAX_BATCH_SIZE, max_batch),
                           (OPT_MAX_DECODING_LENGTH, MAX_NEW_TOKENS - 1)):
            self.check(L.tusk_options_set_int(opt, key, value), f"tusk_options_set_int({key})")
        try:
            self.check(L.tusk_model_open(model_path.encode(), opt, ctypes.byref(model)), model_path)
            self.check(L.tusk_translator_create(model, opt, ctypes.byref(tr)), "tusk_translator_create")
        finally:
            L.tusk_options_destroy(opt)
        return model, tr

    def close(self, model, tr):
        self.lib.tusk_translator_destroy(tr)
        self.lib.tusk_model_close(model)

    def translate_timed(self, tr, src, tgt, texts):
        """(seconds inside tusk_translate, output ids per sentence: language code .. eos)."""
        arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        res = ctypes.c_void_p()
        t0 = time.perf_counter()
        status = self.lib.tusk_translate(tr, src.encode(), tgt.encode(), arr, len(texts), ctypes.byref(res))
        seconds = time.perf_counter() - t0
        self.check(status, "tusk_translate")
        out = []
        for i in range(len(texts)):
            ids = ctypes.POINTER(ctypes.c_int32)()
            n = self.lib.tusk_result_tokens(res, i, ctypes.byref(ids))
            out.append(ids[:n])
        self.lib.tusk_result_free(res)
        return seconds, out


class HF:
    """transformers' NllbMoeForConditionalGeneration on the checkpoint, tokenized like the reference."""

    def __init__(self, checkpoint, threads):
        import torch
        import sentencepiece as spm
        import transformers
        from transformers import NllbMoeForConditionalGeneration
        self.torch = torch
        torch.set_num_threads(threads)
        self.versions = f"torch {torch.__version__}, transformers {transformers.__version__}"
        self.sp = spm.SentencePieceProcessor(model_file=os.path.join(checkpoint, "sentencepiece.model"))
        self.model = NllbMoeForConditionalGeneration.from_pretrained(checkpoint).eval()
        cfg = self.model.config
        self.pad, self.eos, self.start = cfg.pad_token_id, cfg.eos_token_id, cfg.decoder_start_token_id

    def encode(self, text, src):
        pieces = self.sp.encode(text, out_type=str)
        return [self.sp.piece_to_id(LANG_TOKENS[src])] + [self.sp.piece_to_id(p) for p in pieces] + [self.eos]

    def translate_timed(self, batch_ids, tgt):
        torch = self.torch
        width = max(len(ids) for ids in batch_ids)
        input_ids = torch.tensor([ids + [self.pad] * (width - len(ids)) for ids in batch_ids])
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in batch_ids])
        with torch.no_grad():
            t0 = time.perf_counter()
            out = self.model.generate(input_ids=input_ids, attention_mask=mask, num_beams=1,
                                      do_sample=False, max_new_tokens=MAX_NEW_TOKENS,
                                      decoder_start_token_id=self.start,
                                      forced_bos_token_id=self.sp.piece_to_id(LANG_TOKENS[tgt]))
            seconds = time.perf_counter() - t0
        result = []
        for row in out.tolist():
            row = row[1:]  # drop decoder_start; keep language code .. first eos, as Tusk reports
            if self.eos in row:
                row = row[:row.index(self.eos) + 1]
            result.append(row)
        return seconds, result


def groups(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def time_pass(translate_group, chunks):
    """One timed pass over all groups: (seconds, output ids of every sentence)."""
    total, outs = 0.0, []
    for chunk in chunks:
        seconds, ids = translate_group(chunk)
        total += seconds
        outs += ids
    return total, outs


def cpu_name():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def table(headers, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in rows])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", metavar="LABEL=SOURCE",
                    help="Tusk model: LABEL=FILE.tusk or LABEL=CONVERT-FLAGS (repeatable; "
                         "default fp32, int4, int4-int8). The label 'fp32' is the Tusk baseline.")
    ap.add_argument("--limit", type=int, default=200, help="sentences (default 200)")
    ap.add_argument("--src", default="en", choices=LANG_TOKENS)
    ap.add_argument("--tgt", default="de", choices=LANG_TOKENS)
    ap.add_argument("--threads", type=int, default=2, help="Tusk and torch threads (default 2)")
    ap.add_argument("--batch-sizes", default="1,32", help="comma-separated (default 1,32)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per row; the fastest is kept")
    ap.add_argument("--no-hf", action="store_true", help="skip Hugging Face transformers")
    ap.add_argument("--lib", default=benchlib.DEFAULT_LIB, help="libtusk.so (default build/lib/libtusk.so)")
    ap.add_argument("--tusk", default=benchlib.DEFAULT_TUSK, help="tusk CLI, for converting variants")
    a = ap.parse_args()
    batch_sizes = [int(b) for b in a.batch_sizes.split(",")]

    runners = []     # (system, batch, translate_group, groups of inputs)
    loads = []       # (system, seconds)
    notes = []
    handles = []
    hf_versions = None
    load_before = os.getloadavg()
    work = tempfile.TemporaryDirectory(prefix="tusk-speed-")
    try:
        texts = benchlib.read_lines(a.src, a.limit)
        tusk = Tusk(a.lib)
        cli = benchlib.check_tusk(a.tusk)
        variants = ([benchlib.parse_variant(v) for v in a.variant] if a.variant else
                    [("fp32", benchlib.default_fp32_flags(cli)), ("int4", "--experts int4 --dense fp32"),
                     ("int4-int8", "--experts int4 --dense int8")])
        for label, source in variants:
            try:
                path = benchlib.materialize(label, source, cli, work.name)
            except benchlib.Unavailable as e:
                notes.append(f"not measured: {e}")
                print(f"SKIPPED {e}", file=sys.stderr)
                continue
            t0 = time.perf_counter()
            model, tr = tusk.open(path, a.threads, max(batch_sizes))
            loads.append((f"tusk {label}", time.perf_counter() - t0))
            handles.append((model, tr))
            for b in batch_sizes:
                runners.append((f"tusk {label}", b, lambda g, tr=tr: tusk.translate_timed(tr, a.src, a.tgt, g),
                                groups(texts, b)))
    except benchlib.BenchError as e:
        benchlib.die(str(e))

    if a.no_hf:
        notes.append("HF not measured (--no-hf)")
    else:
        try:
            t0 = time.perf_counter()
            hf = HF(benchlib.CHECKPOINT, a.threads)
            loads.append(("HF transformers", time.perf_counter() - t0))
            hf_versions = hf.versions
            inputs = [hf.encode(t, a.src) for t in texts]
            for b in batch_sizes:
                runners.append(("HF transformers", b, lambda g: hf.translate_timed(g, a.tgt), groups(inputs, b)))
        except ImportError as e:
            notes.append(f"HF not measured: {e} (run with /usr/bin/python3 after "
                         f"`apt-get install python3-torch python3-sentencepiece` and "
                         f"`pip install -r bench/requirements.txt`)")
            print(f"SKIPPED HF: {e}", file=sys.stderr)

    # Warm up every row, then time the rows round-robin `repeat` times and keep each row's best:
    # interleaving spreads any burst of outside load over all rows instead of one.
    for system, b, translate_group, chunks in runners:
        translate_group(chunks[0])
    best = {}
    for r in range(a.repeat):
        for system, b, translate_group, chunks in runners:
            seconds, outs = time_pass(translate_group, chunks)
            print(f"run {r + 1}/{a.repeat} {system} batch {b}: {len(texts) / seconds:.1f} sentences/s",
                  file=sys.stderr, flush=True)
            if (system, b) not in best or seconds < best[system, b][0]:
                best[system, b] = (seconds, outs)
    rows = [(system, b) + best[system, b] for system, b, _, _ in runners]
    for model, tr in handles:
        tusk.close(model, tr)
    work.cleanup()
    load_after = os.getloadavg()

    find = lambda system, b: next((r for r in rows if r[0] == system and r[1] == b), None)
    ref = find("tusk fp32", 1) or find("tusk fp32", batch_sizes[0])
    n = len(texts)
    print(f"{n} sentences of Multi30k test_2016_flickr.{a.src}, {a.src}→{a.tgt}, greedy, "
          f"{a.threads} threads, best of {a.repeat}; {cpu_name()}, {os.cpu_count()} CPUs")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}"
          + (f"; {hf_versions}" if hf_versions else ""))
    if load_before[0] > 0.5:
        print("WARNING: the machine was busy before the run (1-minute load average > 0.5); other "
              "processes competing for the cores can slow multi-threaded runs several-fold.")
    headers = ["system", "batch", "seconds", "sentences/s", "tokens/s", "× HF", "× tusk fp32",
               f"same ids as tusk fp32{' b1' if ref and ref[1] == 1 else ''}"]
    out_rows = []
    for system, b, seconds, outs in rows:
        hf_row, fp32_row = find("HF transformers", b), find("tusk fp32", b)
        tokens = sum(len(o) - 1 for o in outs)  # generated tokens, language code excluded
        same = f"{sum(x == y for x, y in zip(outs, ref[3]))}/{n}" if ref else "-"
        out_rows.append([system, b, f"{seconds:.2f}", f"{n / seconds:.1f}", f"{tokens / seconds:.0f}",
                         f"{hf_row[2] / seconds:.2f}" if hf_row else "-",
                         f"{fp32_row[2] / seconds:.2f}" if fp32_row else "-", same])
    print()
    print(table(headers, out_rows))
    print("\nload time (not in the timings above)")
    print(table(["system", "seconds"], [[s, f"{t:.2f}"] for s, t in loads]))
    for note in notes:
        print(f"\n{note}")

    hf1 = find("HF transformers", 1) or find("HF transformers", batch_sizes[0])
    if hf1 and ref:
        bad = [i for i in range(min(SANITY_SENTENCES, n)) if hf1[3][i] != ref[3][i]]
        if bad:
            i = bad[0]
            print(f"\nERROR: HF output differs from tusk fp32 on sentence {i}: {texts[i]!r}\n"
                  f"  HF:   {hf1[3][i]}\n  tusk: {ref[3][i]}\nCheck the HF setup (tokens, start, forced language).")
            return 1
        print(f"\nHF sanity: HF (batch {hf1[1]}) = tusk fp32 (batch {ref[1]}) token for token on the "
              f"first {min(SANITY_SENTENCES, n)} sentences.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
