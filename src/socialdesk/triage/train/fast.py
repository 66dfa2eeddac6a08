"""Fast tier: hashed n-gram logistic regressions, one per task, selected on validation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import (
    EMOTION_LABELS,
    OFFENSIVE_LABELS,
    SENTIMENT_LABELS,
    UMSAB_LANGS,
    load_tweeteval_split,
    load_umsab,
    sentiment_train,
)
from ..features import featurize
from ..linear import LinearModel, expand_coef, fold
from ..metrics import METRICS

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SEED = 13


def fit_select(
    name: str,
    labels: list[str],
    train: tuple[list[str], list[int]],
    val: tuple[list[str], list[int]],
    metric: str,
    grid: list[dict[str, Any]],
    bits: int,
) -> tuple[LinearModel, dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    Xtr = fold(featurize(train[0]).combined(), bits)
    Xva_full = featurize(val[0])
    ytr = np.asarray(train[1])
    yva = np.asarray(val[1])
    best: tuple[float, LinearModel, dict[str, Any]] | None = None
    for params in grid:
        clf = LogisticRegression(max_iter=300, random_state=SEED, **params)
        clf.fit(Xtr, ytr)
        coef = clf.coef_
        w = expand_coef(coef, bits)
        model = LinearModel(name, labels, w, clf.intercept_.astype(np.float32), bits).quantized()
        logits = Xva_full.dot(model.weights) + model.bias
        pred = (logits[:, 0] > 0).astype(int) if model.binary else logits.argmax(1)
        score = METRICS[metric](yva, pred)
        print(f"  {name} {params} val {metric}={score:.4f}", flush=True)
        if best is None or score > best[0]:
            best = (score, model, params)
    assert best is not None
    score, model, params = best
    meta = {
        "task": name,
        "metric": metric,
        "validation": {metric: round(score, 4)},
        "train_rows": int(len(ytr)),
        "val_rows": int(len(yva)),
        "params": params,
        "seconds": round(time.time() - t0, 1),
    }
    model.meta = meta
    return model, meta


def train_all_fast(root: Path, out: Path = ARTIFACTS, only: list[str] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tasks = only or ["sentiment", "emotion", "offensive", "sentiment_multi", "langid"]
    if "sentiment" in tasks:
        tr = sentiment_train(root)
        va = load_tweeteval_split(root / "tweeteval" / "sentiment", "val")
        m, _ = fit_select(
            "sentiment", SENTIMENT_LABELS, (tr.texts, tr.labels), (va.texts, va.labels),
            "macro_recall", [{"C": c, "class_weight": "balanced"} for c in (3.0, 10.0)], 18,
        )
        m.save(out)
    for task, labels, metric, grid, bits in [
        ("emotion", EMOTION_LABELS, "macro_f1", [3.0, 10.0, 30.0], 16),
        ("offensive", OFFENSIVE_LABELS, "macro_f1", [1.0, 3.0, 10.0], 17),
    ]:
        if task not in tasks:
            continue
        tr = load_tweeteval_split(root / "tweeteval" / task, "train")
        va = load_tweeteval_split(root / "tweeteval" / task, "val")
        m, _ = fit_select(
            task, labels, (tr.texts, tr.labels), (va.texts, va.labels), metric,
            [{"C": c, "class_weight": "balanced"} for c in grid], bits,
        )
        m.save(out)
    if "sentiment_multi" in tasks or "langid" in tasks:
        tr_all = load_umsab(root, "train")
        va_all = load_umsab(root, "val")
        names = sorted(tr_all)
        tr_t = [t for n in names for t in tr_all[n].texts]
        va_t = [t for n in names for t in va_all[n].texts]
        if "sentiment_multi" in tasks:
            tr_y = [y for n in names for y in tr_all[n].labels]
            va_y = [y for n in names for y in va_all[n].labels]
            m, _ = fit_select(
                "sentiment_multi", SENTIMENT_LABELS, (tr_t, tr_y), (va_t, va_y), "macro_f1",
                [{"C": c} for c in (3.0, 10.0)], 17,
            )
            # Per-language figures, the way UMSAB reports them.
            per: dict[str, float] = {}
            for n in names:
                X = featurize(va_all[n].texts)
                pred = (X.dot(m.weights) + m.bias).argmax(1)
                per[n] = round(METRICS["macro_f1"](va_all[n].labels, pred), 4)
            m.meta["validation_per_language"] = per
            m.meta["validation"]["macro_f1_mean_languages"] = round(float(np.mean(list(per.values()))), 4)
            m.save(out)
        if "langid" in tasks:
            codes = [UMSAB_LANGS[n] for n in names]
            tr_y = [i for i, n in enumerate(names) for _ in tr_all[n].texts]
            va_y = [i for i, n in enumerate(names) for _ in va_all[n].texts]
            m, _ = fit_select(
                "langid", codes, (tr_t, tr_y), (va_t, va_y), "accuracy",
                [{"C": c} for c in (10.0, 30.0)], 16,
            )
            m.save(out)
