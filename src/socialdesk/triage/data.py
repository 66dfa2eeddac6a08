"""Loading the labelled data sets (TweetEval, UMSAB, SemEval TSVs, Banking77-style CSVs)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from .features import normalize

UMSAB_LANGS: dict[str, str] = {
    "arabic": "ar",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "italian": "it",
    "portuguese": "pt",
    "spanish": "es",
}
SENTIMENT_LABELS = ["negative", "neutral", "positive"]
EMOTION_LABELS = ["anger", "joy", "optimism", "sadness"]
OFFENSIVE_LABELS = ["not-offensive", "offensive"]


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The training-data folder: argument, else $SOCIALDESK_TRAINING_DATA, else ../shared/data."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("SOCIALDESK_TRAINING_DATA", "../shared/data"))


@dataclass
class Split:
    texts: list[str]
    labels: list[int]


def read_lines(path: Path) -> list[str]:
    # TweetEval files are one text per line; splitlines() would also split on \x85 etc.
    with open(path, encoding="utf-8", newline="\n") as fh:
        return [line.rstrip("\n").rstrip("\r") for line in fh]


def load_tweeteval_split(folder: Path, split: str) -> Split:
    texts = read_lines(folder / f"{split}_text.txt")
    labels = [int(x) for x in read_lines(folder / f"{split}_labels.txt") if x.strip()]
    texts = texts[: len(labels)]
    return Split(texts, labels)


def load_semeval(folder: Path) -> Split:
    mapping = {"negative": 0, "neutral": 1, "positive": 2}
    texts: list[str] = []
    labels: list[int] = []
    for path in sorted(folder.glob("*.tsv")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 3 or parts[1] not in mapping:
                    continue
                texts.append("\t".join(parts[2:]))
                labels.append(mapping[parts[1]])
    return Split(texts, labels)


def _dedup_key(text: str) -> str:
    return " ".join(normalize(text).replace('"', "").split())


def sentiment_train(root: Path) -> Split:
    """SemEval 2013-2016 minus every row whose normalised text is in TweetEval's validation
    split (about 1,700 overlap), and minus repeated texts."""
    val = load_tweeteval_split(root / "tweeteval" / "sentiment", "val")
    held = {_dedup_key(t) for t in val.texts}
    raw = load_semeval(root / "semeval2017-task4a")
    seen: set[str] = set()
    texts: list[str] = []
    labels: list[int] = []
    for t, y in zip(raw.texts, raw.labels, strict=False):
        k = _dedup_key(t)
        if k in held or k in seen:
            continue
        seen.add(k)
        texts.append(normalize_handles(t))
        labels.append(y)
    return Split(texts, labels)


def normalize_handles(text: str) -> str:
    """TweetEval's form: @handles to @user, URLs to http (case kept)."""
    from .features import _MENTION, _URL

    return _MENTION.sub("@user", _URL.sub("http", text))


def load_umsab(root: Path, split: str, langs: list[str] | None = None) -> dict[str, Split]:
    out: dict[str, Split] = {}
    for name in langs or list(UMSAB_LANGS):
        folder = root / "umsab" / name
        if (folder / f"{split}_text.txt").exists():
            out[name] = load_tweeteval_split(folder, split)
    return out


def load_intent_csv(path: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        label_col = "category" if "category" in fields else ("label" if "label" in fields else "")
        if "text" not in fields or not label_col:
            raise ValueError(f"{path}: need columns text and category (or label)")
        for row in reader:
            t = (row.get("text") or "").strip()
            y = (row.get(label_col) or "").strip()
            if t and y:
                texts.append(t)
                labels.append(y)
    return texts, labels


def stratified_split(
    labels: list[str], val_fraction: float = 0.1, seed: int = 13
) -> tuple[list[int], list[int]]:
    """Indices (train, val) with each label's share kept; fixed seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    train: list[int] = []
    val: list[int] = []
    for y in sorted(by_label):
        idx = np.array(by_label[y])
        rng.shuffle(idx)
        k = int(round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val.extend(idx[:k].tolist())
        train.extend(idx[k:].tolist())
    return sorted(train), sorted(val)
