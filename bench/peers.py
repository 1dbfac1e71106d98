#!/usr/bin/env python3
"""Tusk against CTranslate2 on the same dense NLLB-200-shaped checkpoint, same machine, one run.

1. Makes (once, cached in --cache, outside the repository) a random-weight M2M100 checkpoint of
   nllb-200-distilled-600M's shape (d_model 1024, 12+12 layers, 16 heads, ffn 4096) with
   transformers' save_pretrained, and an NLLB tokenizer whose SentencePiece model is a small
   BPE trained on Multi30k padded to 256,000 pieces (vocabulary 256,204 with NllbTokenizer's
   added tokens, as NLLB-200's).
2. Converts it with `tusk convert` (fp32, int8 and int4 dense weights, one scale per output
   channel) and with `ct2-transformers-converter` (float32, and int8).
3. Decodes the same Multi30k test sentences with both engines, greedy, exactly --tokens target
   tokens per sentence (end of sentence suppressed: CTranslate2 min_decoding_length =
   max_decoding_length, Tusk --min-decoding-length), at each batch size and thread count, each
   measurement in a fresh process (load time and peak RSS are per process). Rows: fp32, int8
   (against CTranslate2 int8), int8 with Tusk's opt-in 8-bit activations
   (TUSK_OPT_INT8_ACTIVATIONS, an approximation; also against CTranslate2 int8, whose int8
   quantizes activations the same way) and Tusk int4 (no CTranslate2 counterpart); --dtypes
   picks a subset (then the README is left alone).
4. Prints tokens/s and Tusk/CTranslate2 ratios, peak RSS, load time, model size, the batch-1
   rows as a fraction of the bandwidth bound (weight bytes a decoder step reads / read
   bandwidth measured in this run), checks that at fp32 both engines produce the same tokens on
   the first --check sentences (else the comparison is void: exit 1), and writes the table into
   bench/README.md between its peers.py markers (--no-readme to skip).

  /usr/bin/python3 bench/peers.py [--sentences 64] [--tokens 50] [--batch 1 16] [--threads 1 2]

Needs Debian's python3 with python3-torch and python3-sentencepiece, and pip
transformers==4.40.2 "protobuf<4" ctranslate2==4.3.1 (bench/requirements.txt). With --worker it
is the measuring child process (internal).
"""
import argparse, datetime, gzip, json, os, platform, resource, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("TUSK_SHARED_DIR", os.path.join(os.path.dirname(REPO), "shared"))
DATA = os.path.join(SHARED, "data", "multi30k")
SRC_CODE, TGT_CODE = "eng_Latn", "deu_Latn"
SHAPE = dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
             decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096,
             max_position_embeddings=1024)
SPM_PIECES = 256000
MARK_BEGIN, MARK_END = "<!-- peers.py: begin -->", "<!-- peers.py: end -->"


# Rows measured: a label -> the weights it runs. "int8-a8" is Tusk's int8 model with its opt-in
# 8-bit activations (TUSK_OPT_INT8_ACTIVATIONS, an approximation), against CTranslate2 int8.
DTYPES = {"fp32": "fp32", "int8": "int8", "int8-a8": "int8", "int4": "int4"}
DTYPE_LABELS = {"int8-a8": "int8, 8-bit activations (opt-in)"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def lines(split, lang, n=None):
    with gzip.open(os.path.join(DATA, f"{split}.{lang}.gz"), "rt", encoding="utf-8") as f:
        out = [l.rstrip("\n") for l in f]
    return out[:n] if n else out


# ---------------------------------------------------------------- checkpoint

def padded_spm(out_path, work):
    """A BPE model trained on Multi30k, padded with never-produced pieces to SPM_PIECES."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    text = os.path.join(work, "train.txt")
    with open(text, "w", encoding="utf-8") as f:
        for lang in ("en", "de", "fr", "cs"):
            f.write("\n".join(lines("train", lang, 8000)) + "\n")
    prefix = os.path.join(work, "sp")
    spm.SentencePieceTrainer.train(input=text, model_prefix=prefix, vocab_size=8000, model_type="bpe",
                                   character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   normalization_rule_name="nmt_nfkc", minloglevel=2)
    m = pb.ModelProto()
    with open(prefix + ".model", "rb") as f:
        m.ParseFromString(f.read())
    lowest = min(p.score for p in m.pieces)
    for i in range(SPM_PIECES - len(m.pieces)):
        p = m.pieces.add()
        p.piece = f"\u2581zzpad{i}"  # a word nobody writes, scored below every real merge
        p.score = lowest - 1.0 - i
        p.type = pb.ModelProto.SentencePiece.NORMAL
    with open(out_path, "wb") as f:
        f.write(m.SerializeToString())


def make_checkpoint(hf_dir):
    if os.path.isfile(os.path.join(hf_dir, "config.json")):
        return
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer
    log(f"making the random NLLB-200-shaped checkpoint in {hf_dir} (once)")
    work = tempfile.mkdtemp()
    try:
        sp = os.path.join(work, "sentencepiece.bpe.model")
        padded_spm(sp, work)
        tok = NllbTokenizer(vocab_file=sp, legacy_behaviour=False)
        torch.manual_seed(1)
        cfg = M2M100Config(vocab_size=len(tok), scale_embedding=True, activation_function="relu",
                           pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                           dropout=0.1, **SHAPE)
        model = M2M100ForConditionalGeneration(cfg).eval()
        tmp = hf_dir + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True, max_shard_size="1GB")
        tok.save_pretrained(tmp)
        os.replace(tmp, hf_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def size_of(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def convert_tusk(tusk, hf_dir, out, dense):
    if os.path.isfile(out):
        return None
    r = subprocess.run([tusk, "convert", "--from-hf", hf_dir, "--out", out, "--dense", dense, "--experts", "fp32"],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["failed"])[0]


def convert_ct2(hf_dir, out, quantization):
    if os.path.isdir(out):
        return
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = ["ct2-transformers-converter", "--model", hf_dir, "--output_dir", tmp]
    if quantization:
        cmd += ["--quantization", quantization]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    os.replace(tmp, out)


# ---------------------------------------------------------------- workers (child processes)

def worker(a):
    sentences = lines("test_2016_flickr", "en", a.sentences)
    start = time.perf_counter()
    if a.worker == "tusk":
        sys.path.insert(0, os.path.join(REPO, "bindings", "python"))
        import tusk
        model = tusk.Model(a.model)
        tr = tusk.Translator(model, threads=a.threads, max_batch_size=a.batch,
                             min_decoding_length=a.tokens, max_decoding_length=a.tokens,
                             int8_activations=int(a.int8_activations),
                             no_repeat_ngram_size=0, max_length_ratio=0.0)  # CTranslate2 runs no guards
        load = time.perf_counter() - start
        run = lambda texts: [t.tokens[1:] for t in tr.translate_detailed(texts, SRC_CODE, TGT_CODE)]
    else:
        import ctranslate2
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(a.hf, src_lang=SRC_CODE)
        start = time.perf_counter()  # the model's load, not the tokenizer's
        tr = ctranslate2.Translator(a.model, device="cpu", compute_type=a.compute_type,
                                    inter_threads=1, intra_threads=a.threads)
        load = time.perf_counter() - start

        def run(texts):
            src = [tok.convert_ids_to_tokens(tok(t).input_ids) for t in texts]
            res = tr.translate_batch(src, target_prefix=[[TGT_CODE]] * len(src), beam_size=1,
                                     max_batch_size=a.batch, min_decoding_length=a.ct2_length,
                                     max_decoding_length=a.ct2_length)
            return [tok.convert_tokens_to_ids(r.hypotheses[0][1:]) for r in res]
    run(sentences[:1])  # warm-up (first-call allocations, primitive creation): untimed
    start = time.perf_counter()
    out = run(sentences)
    seconds = time.perf_counter() - start
    print(json.dumps({"load_s": load, "seconds": seconds, "tokens": sum(len(o) for o in out),
                      "lengths": sorted({len(o) for o in out}), "ids": out[: a.check]}))


def measure(args):
    """Runs one worker; returns its report plus its peak RSS (bytes)."""
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__)] + args, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise SystemExit(f"worker failed: {' '.join(args)}")
    report = json.loads(out.strip().splitlines()[-1])
    report["rss"] = usage.ru_maxrss * 1024
    return report


def read_bandwidth(threads):
    """Memory bandwidth (bytes/s) with `threads`: bench_gemv's copy figure (STREAM convention,
    bytes read + written, buffers far larger than the last-level cache), a floor for what a
    pure read reaches. Falls back to a torch sum over 1 GiB when bench_gemv is not built."""
    bench = os.path.join(REPO, "build", "bin", "bench_gemv")
    if os.access(bench, os.X_OK):
        out = subprocess.run([bench, "--threads", str(threads), "--min-seconds", "0.1", "--shape", "256x256",
                              "--kernel", "none"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith(f"threads {threads}: copy "):
                return float(line.split("copy ")[1].split(" GB/s")[0]) * 1e9
    import torch
    torch.set_num_threads(threads)
    t = torch.ones(1 << 28)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        t.sum()
        best = max(best, t.numel() * 4 / (time.perf_counter() - start))
    return best


def decoder_step_bytes(bytes_per_weight):
    """Weight bytes one greedy decoder step reads at batch 1: per layer self-attention q/k/v/out,
    cross-attention q/out (its keys and values are computed once per sentence), fc1/fc2; then
    the output projection over the whole vocabulary."""
    d, f, layers = SHAPE["d_model"], SHAPE["decoder_ffn_dim"], SHAPE["decoder_layers"]
    vocab = SPM_PIECES + 204
    return bytes_per_weight * (layers * (6 * d * d + 2 * d * f) + vocab * d)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "tusk-peers"))
    ap.add_argument("--tusk", default=os.path.join(REPO, "build", "bin", "tusk"))
    ap.add_argument("--sentences", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=50)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--check", type=int, default=4, help="sentences whose fp32 tokens must agree")
    ap.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES),
                    help="weight types to measure (a subset implies --no-readme; fp32 is needed for the check)")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--prepare-only", action="store_true", help="make and convert the models, then stop")
    # worker mode
    ap.add_argument("--worker", choices=["tusk", "ct2"])
    ap.add_argument("--model")
    ap.add_argument("--hf")
    ap.add_argument("--compute-type", default="float32")
    ap.add_argument("--ct2-length", type=int)
    ap.add_argument("--int8-activations", action="store_true")
    a = ap.parse_args()
    if a.worker:
        a.threads, a.batch = a.threads[0], a.batch[0]
        return worker(a)

    import ctranslate2, torch, transformers
    os.makedirs(a.cache, exist_ok=True)
    hf = os.path.join(a.cache, "nllb200-600m-random")
    make_checkpoint(hf)
    models = {}
    for dense in ("fp32", "int8", "int4"):
        path = os.path.join(a.cache, f"tusk-{dense}.tusk")
        log(f"tusk convert --dense {dense}")
        problem = convert_tusk(a.tusk, hf, path, dense)
        if problem:
            log(f"  not available: {problem}")
        else:
            models[("tusk", dense)] = path
    for name, quant in (("fp32", None), ("int8", "int8")):
        path = os.path.join(a.cache, f"ct2-{name}")
        log(f"ct2-transformers-converter {quant or 'float32'}")
        convert_ct2(hf, path, quant)
        models[("ct2", name)] = path

    if a.prepare_only:
        return 0
    # CTranslate2 counts the target prefix (the language code) in its decoding lengths.
    ct2_length = a.tokens + 1
    common = ["--hf", hf, "--sentences", str(a.sentences), "--tokens", str(a.tokens),
              "--check", str(a.check), "--ct2-length", str(ct2_length)]
    rows, results = [], {}
    for threads in a.threads:
        for batch in a.batch:
            for dtype in a.dtypes:
                for engine in ("ct2", "tusk"):
                    weights = DTYPES[dtype]  # the model file this row runs
                    if (engine, weights) not in models or (engine == "ct2" and dtype != weights):
                        continue
                    args = ["--worker", engine, "--model", models[(engine, weights)], "--threads", str(threads),
                            "--batch", str(batch)] + common
                    if engine == "ct2":
                        args += ["--compute-type", "int8" if dtype == "int8" else "float32"]
                    if dtype == "int8-a8":
                        args += ["--int8-activations"]
                    log(f"{engine} {dtype} threads {threads} batch {batch}")
                    r = measure(args)
                    if r["lengths"] != [a.tokens]:
                        raise SystemExit(f"{engine} {dtype} produced {r['lengths']} tokens per sentence, not {a.tokens}")
                    results[(engine, dtype, threads, batch)] = r

    if ("tusk", "fp32") not in models:
        raise SystemExit("tusk convert --dense fp32 failed: nothing to compare at fp32")
    partial = set(a.dtypes) != set(DTYPES)
    # The comparison is void unless both engines decode the same tokens from the same fp32 weights.
    agree = True
    for threads in a.threads if "fp32" in a.dtypes else []:
        for batch in a.batch:
            t, c = results[("tusk", "fp32", threads, batch)], results[("ct2", "fp32", threads, batch)]
            for i, (x, y) in enumerate(zip(t["ids"], c["ids"])):
                if x != y:
                    first = next(k for k in range(len(x)) if x[k] != y[k])
                    log(f"fp32 tokens differ: threads {threads} batch {batch} sentence {i} at token {first}")
                    agree = False

    bandwidth = {t: read_bandwidth(t) for t in a.threads}
    header = ["engine", "weights", "threads", "batch", "tokens/s", "Tusk/CT2", "of bound", "peak RSS",
              "load", "model size"]
    for (engine, dtype, threads, batch), r in results.items():
        tps = r["tokens"] / r["seconds"]
        peer = results.get(("ct2", DTYPES[dtype], threads, batch))
        ratio = f"{tps / (peer['tokens'] / peer['seconds']):.2f}x" if engine == "tusk" and peer else ""
        bound = ""
        if batch == 1:
            per_token = decoder_step_bytes({"fp32": 4, "int8": 1, "int4": 0.5}[DTYPES[dtype]])
            bound = f"{tps / (bandwidth[threads] / per_token):.0%}"
        rows.append([{"tusk": "Tusk", "ct2": "CTranslate2"}[engine], DTYPE_LABELS.get(dtype, dtype), str(threads), str(batch),
                     f"{tps:.1f}", ratio, bound, f"{r['rss'] / 2**30:.2f} GiB", f"{r['load_s']:.1f} s",
                     f"{size_of(models[(engine, DTYPES[dtype])]) / 2**30:.2f} GiB"])
    rows.sort(key=lambda r: (int(r[2]), int(r[3]), r[1], r[0]))

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    tusk_version = subprocess.run([a.tusk, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines_out = [
        f"Run {datetime.date.today().isoformat()} on {cpu} ({os.cpu_count()} cores), load average "
        f"{os.getloadavg()[0]:.2f} at the end; {tusk_version} at {commit}, CTranslate2 {ctranslate2.__version__}, "
        f"transformers {transformers.__version__}, torch {torch.__version__}.",
        f"Command: `/usr/bin/python3 bench/peers.py --sentences {a.sentences} --tokens {a.tokens} "
        f"--batch {' '.join(map(str, a.batch))} --threads {' '.join(map(str, a.threads))}`. "
        f"{a.sentences} Multi30k test sentences, greedy, exactly {a.tokens} target tokens each; "
        f"memory bandwidth (bench_gemv copy) " + ", ".join(f"{bandwidth[t] / 1e9:.1f} GB/s at {t} thread(s)" for t in a.threads) +
        "; \"of bound\": batch-1 tokens/s over bandwidth / weight bytes per decoder step (this VM's "
        "last-level cache is large, so part of an int8 model can stay cached and exceed it).",
        f"fp32 tokens identical between the engines on the first {a.check} sentences: "
        + ("not checked (fp32 not measured)" if "fp32" not in a.dtypes else "yes" if agree else "NO (comparison void)") + ".",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ] + ["| " + " | ".join(r) + " |" for r in rows]
    missing = [d for d in ("int4",) if ("tusk", d) not in models]
    if missing:
        lines_out.append("")
        lines_out.append("Tusk int4 dense weights: not measured (the converter refuses them).")
    text = "\n".join(lines_out)
    print(text)
    if not a.no_readme and not partial:
        readme = os.path.join(REPO, "bench", "README.md")
        with open(readme, encoding="utf-8") as f:
            doc = f.read()
        block = f"{MARK_BEGIN}\n{text}\n{MARK_END}"
        if MARK_BEGIN in doc and MARK_END in doc:
            doc = doc[: doc.index(MARK_BEGIN)] + block + doc[doc.index(MARK_END) + len(MARK_END):]
        else:
            doc = doc.rstrip("\n") + "\n\n## peers.py — Tusk against CTranslate2 on an NLLB-200-shaped model (issue 14)\n\n" + block + "\n"
        with open(readme, "w", encoding="utf-8") as f:
            f.write(doc)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
