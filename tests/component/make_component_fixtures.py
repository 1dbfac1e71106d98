#!/usr/bin/python3
"""Writes the fixtures of the component tests (component_test.cc) from the PyTorch oracle.

Rerun (Debian's python3 with python3-torch and python3-sentencepiece), from the repository root:

  /usr/bin/python3 tests/component/make_component_fixtures.py \
      [--shared ../shared] [--out tests/component/fixtures]

It imports ../shared/tools/nllb_moe_reference.py by path and only calls it (its Reference class),
so the fixtures are exactly the oracle's numbers for ../shared/models/multi30k-moe. The output is
deterministic (one torch thread, fixed sentences); rerunning on the same checkpoint rewrites the
same bytes.

Format (tests/component/fixtures/):
  manifest.json  everything small: source texts and ids, decoder prefixes, expert choices,
                 layer indices, and for every float array its file and shape;
  *.bin          raw little-endian float32, row-major, shape as the manifest says.

Contents, for the first SENTENCES lines of the Multi30k 2016 test set, en -> de:
  * encoder output per sentence [T, d_model] (Reference.encode);
  * decoder prefix per sentence: [decoder start, target-language code] + the first
    PREFIX_TOKENS tokens of the oracle's greedy output, and the next-token log-probabilities
    at each prefix position [P, vocab] (log_softmax of Reference.decoder_logits over the prefix
    up to that position);
  * one sparse encoder layer and one sparse decoder layer (the first of each stack): the input
    and output of its FFN (Reference.ffn, captured by wrapping it on the instance) and each
    token's [first, second] expert. The encoder capture is per sentence; the decoder capture is
    the FFN of that layer when decoder_logits runs over the whole prefix, so one row per prefix
    position. The oracle's expert outputs include the eval-time (1 - moe_token_dropout) factor.
"""
import argparse
import gzip
import hashlib
import importlib.util
import json
import os
import struct
import sys

SENTENCES = 3       # first lines of the test set
PREFIX_TOKENS = 2   # greedy tokens after the language code in each decoder prefix
SRC, TGT = "en", "de"


def load_oracle(path):
    spec = importlib.util.spec_from_file_location("nllb_moe_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Writer:
    """Writes float32 arrays as .bin files and returns their manifest entries."""

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def array(self, name, tensor):
        t = tensor.detach().to("cpu").float().contiguous()
        values = t.flatten().tolist()
        with open(os.path.join(self.out_dir, name + ".bin"), "wb") as f:
            f.write(struct.pack("<%df" % len(values), *values))
        return {"file": name + ".bin", "shape": list(t.shape)}


class FfnRecorder:
    """Wraps Reference.ffn on one instance: records input, output and choices of one layer."""

    def __init__(self, ref):
        self.original = ref.ffn  # the bound method; the oracle's code is not touched
        self.prefix = None
        self.calls = []
        ref.ffn = self

    def __call__(self, x, prefix, sparse, chosen):
        before = len(chosen)
        out = self.original(x, prefix, sparse, chosen)
        if prefix == self.prefix:
            picks = chosen[before] if len(chosen) > before else None
            self.calls.append((x.clone(), out.clone(), picks))
        return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "..", "shared"))
    ap.add_argument("--out", default=os.path.join(here, "fixtures"))
    a = ap.parse_args()

    oracle = load_oracle(os.path.join(a.shared, "tools", "nllb_moe_reference.py"))
    import torch  # after the oracle: it is what needs torch

    torch.set_num_threads(1)
    model_dir = os.path.join(a.shared, "models", "multi30k-moe")
    ref = oracle.Reference(model_dir)
    c = ref.c
    enc_layer = next(i for i in range(c["encoder_layers"]) if (i + 1) % c["encoder_sparse_step"] == 0)
    dec_layer = next(i for i in range(c["decoder_layers"]) if (i + 1) % c["decoder_sparse_step"] == 0)

    with gzip.open(os.path.join(a.shared, "data", "multi30k", "test_2016_flickr.en.gz"), "rt",
                   encoding="utf-8") as f:
        texts = [next(f).rstrip("\n") for _ in range(SENTENCES)]

    os.makedirs(a.out, exist_ok=True)
    for name in os.listdir(a.out):  # stale arrays of an older layout
        if name.endswith(".bin"):
            os.remove(os.path.join(a.out, name))
    w = Writer(a.out)
    rec = FfnRecorder(ref)
    sentences = []
    with torch.no_grad():
        for s, text in enumerate(texts):
            greedy = ref.translate(text, SRC, TGT)  # source ids and greedy output, the oracle's way
            ids = greedy["source_ids"]

            rec.prefix, rec.calls = "model.encoder.layers.%d.ffn" % enc_layer, []
            enc = ref.encode(ids)
            (enc_in, enc_out, enc_choices), = rec.calls

            prefix = [c["decoder_start_token_id"]] + greedy["output_ids"][:1 + PREFIX_TOKENS]
            logprobs = torch.stack([torch.log_softmax(ref.decoder_logits(enc, prefix[:i + 1], []), -1)
                                    for i in range(len(prefix))])
            rec.prefix, rec.calls = "model.decoder.layers.%d.ffn" % dec_layer, []
            ref.decoder_logits(enc, prefix, [])
            (dec_in, dec_out, dec_choices), = rec.calls

            sentences.append({
                "text": text,
                "source_ids": ids,
                "encoder_out": w.array("s%d_encoder_out" % s, enc),
                "decoder_prefix": prefix,
                "decoder_logprobs": w.array("s%d_decoder_logprobs" % s, logprobs),
                "greedy_output_ids": greedy["output_ids"],
                "encoder_moe": {"input": w.array("s%d_encoder_moe_in" % s, enc_in),
                                "output": w.array("s%d_encoder_moe_out" % s, enc_out),
                                "choices": enc_choices},
                "decoder_moe": {"input": w.array("s%d_decoder_moe_in" % s, dec_in),
                                "output": w.array("s%d_decoder_moe_out" % s, dec_out),
                                "choices": dec_choices},
            })

    manifest = {
        "generator": "tests/component/make_component_fixtures.py",
        "oracle": "shared/tools/nllb_moe_reference.py",
        "checkpoint": "shared/models/multi30k-moe",
        "checkpoint_sha256": sha256(os.path.join(model_dir, "model.safetensors")),
        "torch": torch.__version__,
        "src": SRC,
        "tgt": TGT,
        "d_model": c["d_model"],
        "vocab_size": c["vocab_size"],
        "moe_token_dropout": c["moe_token_dropout"],
        "encoder_moe_layer": enc_layer,
        "decoder_moe_layer": dec_layer,
        "float_format": "raw little-endian float32, row-major",
        "sentences": sentences,
    }
    with open(os.path.join(a.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(a.out, n)) for n in os.listdir(a.out))
    print("wrote %d sentences to %s (%d bytes)" % (len(sentences), a.out, total), file=sys.stderr)


if __name__ == "__main__":
    main()
