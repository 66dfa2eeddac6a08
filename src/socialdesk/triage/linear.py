"""Linear models over hashed features, stored as npz (int8 weights + scales) and JSON.

No pickle: the weights are plain arrays and the metadata (labels, figures) is JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .features import BITS, N_FEATURES


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass
class LinearModel:
    """``logits = X @ weights + bias``; one column for a binary model (sigmoid), else softmax.

    ``bits`` below the featurizer's means the weights were trained on folded buckets
    (``bucket >> (BITS - bits)``); they are expanded to full size on load.
    """

    name: str
    labels: list[str]
    weights: np.ndarray  # (N_FEATURES, k) float32, expanded
    bias: np.ndarray  # (k,)
    bits: int = BITS
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def binary(self) -> bool:
        return self.weights.shape[1] == 1

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        if self.binary:
            p1 = sigmoid(logits[:, 0])
            return np.stack([1 - p1, p1], axis=1)
        return softmax(logits)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        w = self.weights
        if self.bits < BITS:
            w = w[:: 1 << (BITS - self.bits)]
        # Per-column int8 quantisation: the figures in meta are measured after it.
        scale = np.abs(w).max(axis=0) / 127.0
        scale[scale == 0] = 1.0
        q = np.round(w / scale).astype(np.int8)
        np.savez_compressed(
            folder / f"{self.name}.npz", q=q, scale=scale.astype(np.float32),
            bias=self.bias.astype(np.float32),
        )
        info = {"name": self.name, "labels": self.labels, "bits": self.bits, **self.meta}
        (folder / f"{self.name}.json").write_text(json.dumps(info, indent=2, sort_keys=True))

    def quantized(self) -> LinearModel:
        """The model as it will be after save/load (for measuring the shipped figures)."""
        w = self.weights
        scale = np.abs(w).max(axis=0) / 127.0
        scale[scale == 0] = 1.0
        wq = (np.round(w / scale).astype(np.int8).astype(np.float32) * scale).astype(np.float32)
        return LinearModel(self.name, self.labels, wq, self.bias, self.bits, self.meta)

    @classmethod
    def load(cls, folder: Path, name: str) -> LinearModel:
        info = json.loads((folder / f"{name}.json").read_text())
        with np.load(folder / f"{name}.npz", allow_pickle=False) as z:
            w = z["q"].astype(np.float32) * z["scale"][None, :]
            bias = z["bias"].astype(np.float32)
        bits = int(info.get("bits", BITS))
        if bits < BITS:
            w = np.repeat(w, 1 << (BITS - bits), axis=0)
        assert w.shape[0] == N_FEATURES
        meta = {k: v for k, v in info.items() if k not in ("name", "labels", "bits")}
        return cls(name, list(info["labels"]), np.ascontiguousarray(w), bias, bits, meta)


def fold(X: Any, bits: int) -> Any:
    """Fold a CSR matrix of full-size buckets onto 2**bits columns (same as ``bucket >> s``)."""
    from scipy import sparse

    if bits >= BITS:
        return X
    X = X.tocsr(copy=True)
    X.indices = (X.indices >> (BITS - bits)).astype(X.indices.dtype)
    X = sparse.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], 1 << bits))
    X.sum_duplicates()
    return X


def expand_coef(coef: np.ndarray, bits: int) -> np.ndarray:
    """sklearn coef_ (k, 2**bits) to (N_FEATURES, k) float32."""
    w = coef.T.astype(np.float32)
    if bits < BITS:
        w = np.repeat(w, 1 << (BITS - bits), axis=0)
    return np.ascontiguousarray(w)
