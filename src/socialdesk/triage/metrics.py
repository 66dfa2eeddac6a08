"""The metrics the published baselines use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def macro_recall(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    from sklearn.metrics import recall_score

    return float(recall_score(y_true, y_pred, average="macro", zero_division=0))


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    a = np.asarray(y_true)
    b = np.asarray(y_pred)
    return float((a == b).mean()) if a.size else 0.0


METRIC_FOR_TASK = {
    "sentiment": "macro_recall",
    "emotion": "macro_f1",
    "offensive": "macro_f1",
    "umsab": "macro_f1",
    "intent": "accuracy",
    "language": "accuracy",
}

METRICS = {"macro_recall": macro_recall, "macro_f1": macro_f1, "accuracy": accuracy}
