"""Custom issue types: a brand's own taxonomy trained from labelled examples (CSV with
``text,category``), and agents' corrections stored as new labelled rows.

A model is a hashed n-gram logistic regression (npz + JSON, no pickle), optionally joined
with the MiniLM sentence embedding when the encoder artifact is present.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .data import load_intent_csv, stratified_split
from .features import featurize, word_features
from .linear import LinearModel, expand_coef, fold
from .metrics import accuracy

DEFAULT_BITS = 16
SEED = 13
_LOCK = threading.Lock()


def _app_data_dir() -> Path:
    try:
        from socialdesk.config import get_settings

        return Path(get_settings().data_dir)
    except Exception:  # noqa: BLE001 - settings are optional here
        return Path(os.environ.get("SOCIALDESK_DATA_DIR", "var"))


def models_dir(name: str, base: Path | None = None) -> Path:
    return (base or _app_data_dir() / "models" / "intents") / name


def corrections_path(taxonomy: str = "default", data_dir: Path | None = None) -> Path:
    return (data_dir or _app_data_dir()) / "triage" / "corrections" / f"{taxonomy}.csv"


def record_correction(
    text: str,
    label: str,
    *,
    taxonomy: str = "default",
    field: str = "issue_type",
    previous: str | None = None,
    message_id: str | None = None,
    agent: str | None = None,
    data_dir: Path | None = None,
) -> Path:
    """Append an agent's correction as a labelled row; ``train-intents`` takes the file as is
    (columns ``text,category`` first, the rest is provenance)."""
    path = corrections_path(taxonomy, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {
        "text": text,
        "category": label,
        "field": field,
        "previous": previous or "",
        "message_id": message_id or "",
        "agent": agent or "",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with _LOCK:
        new = not path.exists() or path.stat().st_size == 0
        with open(path, "a", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
    return path


class IntentModel:
    def __init__(self, model: LinearModel, emb: np.ndarray | None, folder: Path) -> None:
        self.model = model
        self.emb = emb
        self.folder = folder

    @classmethod
    def load(cls, folder: Path) -> IntentModel:
        m = LinearModel.load(folder, "intents")
        emb = None
        if (folder / "intents.emb.npz").exists():
            with np.load(folder / "intents.emb.npz", allow_pickle=False) as z:
                emb = z["w"].astype(np.float32)
        return cls(m, emb, folder)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        logits = featurize(texts).dot(self.model.weights) + self.model.bias
        if self.emb is not None:
            from .encoder import Encoder

            logits += _encoder(Encoder).encode(texts) @ self.emb
        return self.model.proba_from_logits(logits)

    def predict(self, text: str) -> dict[str, Any]:
        p = self.predict_proba([text])[0]
        k = int(p.argmax())
        from .pipeline import _top_features

        return {
            "label": self.model.labels[k],
            "confidence": round(float(p[k]), 4),
            "reasons": _top_features(word_features(text), self.model, k),
        }


_ENC: Any = None


def _encoder(factory: Any) -> Any:
    global _ENC
    if _ENC is None:
        _ENC = factory()
    return _ENC


def train_intents(
    files: list[Path],
    name: str = "default",
    *,
    out: Path | None = None,
    val_fraction: float = 0.1,
    seed: int = SEED,
    bits: int = DEFAULT_BITS,
    embeddings: bool | None = None,
    grid: tuple[float, ...] = (10.0, 30.0),
) -> dict[str, Any]:
    """Train a custom taxonomy; hold out a stratified validation split (fixed seed), pick C
    on it, and save to ``out`` (default var/models/intents/<name>). Returns the report."""
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    texts: list[str] = []
    labels: list[str] = []
    for f in files:
        t, y = load_intent_csv(Path(f))
        texts += t
        labels += y
    if len(set(labels)) < 2:
        raise ValueError("need at least two categories")
    classes = sorted(set(labels))
    y = np.array([classes.index(v) for v in labels])
    tr, va = stratified_split(labels, val_fraction, seed) if val_fraction > 0 else (
        list(range(len(labels))), [])
    from .encoder import ARTIFACTS, ONNX_NAME

    if embeddings is None:
        embeddings = (ARTIFACTS / ONNX_NAME).exists()
    X = fold(featurize(texts).combined(), bits)
    E = None
    if embeddings:
        from scipy import sparse

        from .encoder import Encoder

        E = _encoder(Encoder).encode(texts)
        X = sparse.hstack([X, sparse.csr_matrix(E * 2.0)], format="csr")
    n_hash = 1 << bits

    def fit(rows: list[int], c: float) -> Any:
        clf = LogisticRegression(C=c, max_iter=500, random_state=seed)
        clf.fit(X[rows], y[rows])
        return clf

    def unpack(clf: Any) -> tuple[LinearModel, np.ndarray | None]:
        coef = np.zeros((len(classes), clf.coef_.shape[1]), dtype=np.float64)
        intercept = np.zeros(len(classes), dtype=np.float32)
        coef[clf.classes_] = clf.coef_
        intercept[clf.classes_] = clf.intercept_
        m = LinearModel("intents", classes, expand_coef(coef[:, :n_hash], bits), intercept, bits)
        emb = (coef[:, n_hash:].T * 2.0).astype(np.float32) if E is not None else None
        return m.quantized(), emb

    report: dict[str, Any] = {"name": name, "rows": len(texts), "classes": len(classes)}
    best_c = grid[0]
    if va:
        Fva = featurize([texts[i] for i in va])
        scores = {}
        for c in grid:
            m, emb = unpack(fit(tr, c))
            logits = Fva.dot(m.weights) + m.bias
            if emb is not None and E is not None:
                logits += E[va] @ emb
            scores[c] = accuracy(y[va], logits.argmax(1))
        best_c = max(scores, key=lambda c: scores[c])
        report["validation"] = {"accuracy": round(scores[best_c], 4), "rows": len(va),
                                "by_C": {str(k): round(v, 4) for k, v in scores.items()}}
    # The shipped model is refit on every row with the chosen C.
    m, emb = unpack(fit(list(range(len(texts))), best_c))
    folder = out or models_dir(name)
    report.update({"C": best_c, "bits": bits, "embeddings": bool(embeddings), "seed": seed,
                   "seconds": round(time.time() - t0, 1)})
    m.meta = {"report": report}
    m.save(folder)
    if emb is not None:
        np.savez_compressed(folder / "intents.emb.npz", w=emb)
    elif (folder / "intents.emb.npz").exists():
        (folder / "intents.emb.npz").unlink()
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    return report
