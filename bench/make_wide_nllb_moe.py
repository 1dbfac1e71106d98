#!/usr/bin/env python3
"""A wide, shallow NLLB-MoE checkpoint: facebook/nllb-moe-54b's widths, vocabulary size and routing
fields, but only a few layers and random weights. It is big (~3.5 GB in bf16, ~1.8 B parameters,
the 1 GB embedding among them) yet quick to write, to check that a converter streams tensor by
tensor instead of holding the whole checkpoint.

usage (Debian python3 with python3-torch, python3-sentencepiece, pip transformers==4.40.2):
  /usr/bin/python3 bench/make_wide_nllb_moe.py /tmp/wide-nllb-moe [--layers 2] [--experts 16] [--dtype bf16]

The tokenizer is a small SentencePiece BPE (2000 pieces, trained on Multi30k as
../shared/tools/make_hf_fixtures.py does) wrapped by NllbTokenizer: it covers ids 0..2203
(fairseq offset, 202 language codes, <mask>). vocab_size stays 256206, so the embedding rows
beyond 2203 are padding that no token reaches, as Meta's 256206 pads beyond its 256204 tokens.
"""
import argparse, os, resource, sys, tempfile, time

import torch
from transformers import NllbMoeConfig, NllbMoeForConditionalGeneration, NllbTokenizer
from transformers.modeling_utils import no_init_weights

# The shared folder beside the repository (or $TUSK_SHARED_DIR), as the tests find it.
SHARED = os.environ.get("TUSK_SHARED_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "tools"))
from make_hf_fixtures import train_spm  # noqa: E402  same SentencePiece recipe as the small fixtures

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=2, help="layers in each of encoder and decoder")
    ap.add_argument("--experts", type=int, default=16)
    ap.add_argument("--dtype", choices=DTYPES, default="bf16")
    ap.add_argument("--data", default=os.path.join(SHARED, "data", "multi30k"))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)

    cfg = NllbMoeConfig(
        # facebook/nllb-moe-54b's widths and special ids
        vocab_size=256206, d_model=2048, encoder_ffn_dim=8192, decoder_ffn_dim=8192,
        encoder_attention_heads=16, decoder_attention_heads=16, max_position_embeddings=1024,
        scale_embedding=True, activation_function="relu", pad_token_id=1, bos_token_id=0,
        eos_token_id=2, decoder_start_token_id=2,
        # its routing fields
        router_dtype="float32", router_bias=False, second_expert_policy="all",
        normalize_router_prob_before_dropping=False, batch_prioritized_routing=True,
        moe_eval_capacity_token_fraction=1.0, moe_token_dropout=0.2, expert_capacity=64,
        router_ignore_padding_tokens=False,
        # shallow: with sparse step 2, layers 1, 3, ... of each stack are MoE
        encoder_layers=a.layers, decoder_layers=a.layers, encoder_sparse_step=2,
        decoder_sparse_step=2, num_experts=a.experts)

    # Build directly in the target dtype (one copy, never fp32 for bf16/fp16) and skip
    # transformers' init (slow on 2 cores): no_init_weights turns torch.nn.init.* into no-ops.
    dtype = DTYPES[a.dtype]
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    with torch.no_grad(), no_init_weights():
        model = NllbMoeForConditionalGeneration(cfg).eval()
    torch.set_default_dtype(old)
    # no_init_weights also skips post_init's tie_weights(); without it lm_head stays a separate
    # 1 GB tensor and gets saved, unlike from_pretrained's (and Meta's) tied checkpoint.
    model.tie_weights()
    assert model.lm_head.weight is model.model.shared.weight

    # Fill in place: small normals, LayerNorm weights around 1 so activations stay sane.
    # shared / encoder+decoder embed_tokens / lm_head are one tied tensor, filled once.
    with torch.no_grad():
        seen = set()
        for mod in model.modules():
            for name, p in mod.named_parameters(recurse=False):
                if p.data_ptr() in seen:
                    continue
                seen.add(p.data_ptr())
                ln_weight = isinstance(mod, torch.nn.LayerNorm) and name == "weight"
                p.normal_(1.0 if ln_weight else 0.0, 0.02)
        model.model.shared.weight[cfg.pad_token_id].zero_()  # as HF's own init does

    model.save_pretrained(a.out, safe_serialization=True, max_shard_size="1GB")
    del model

    with tempfile.TemporaryDirectory() as work:
        sp = train_spm(a.data, os.path.join(work, "sp"), 2000, a.seed)
        tok = NllbTokenizer(vocab_file=sp, legacy_behaviour=False)
        tok.save_pretrained(a.out)

    # Report: size, shards, largest tensor (read from the safetensors headers, not the weights).
    from safetensors import safe_open
    files = sorted(f for f in os.listdir(a.out) if f.endswith(".safetensors"))
    total = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    big, n_tensors = ("", 0), 0
    for f in files:
        with safe_open(os.path.join(a.out, f), "pt") as st:
            for k in st.keys():
                sl = st.get_slice(k)
                n = 1
                for d in sl.get_shape():
                    n *= d
                n_tensors += 1
                big = max(big, (k, n), key=lambda x: x[1])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux -> GiB
    print(f"out: {a.out}")
    print(f"total: {total} bytes ({total / 2**30:.2f} GiB), {len(files)} shards, "
          f"{n_tensors} tensors, vocab {len(tok)} tokens / {cfg.vocab_size} rows")
    size = big[1] * torch.tensor([], dtype=dtype).element_size()
    print(f"largest tensor: {big[0]} ({big[1]} elements, {size} bytes)")
    print(f"time: {time.time() - t0:.1f} s, peak RSS: {rss:.2f} GiB")


if __name__ == "__main__":
    main()
