"""The triage pipeline: models load lazily once per process; batches share one featurisation."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import langid, rules
from .data import normalize_handles
from .features import Features, featurize, normalize_batch
from .linear import LinearModel
from .multilingual import MultilingualMember
from .pii import detect_pii, regions_for
from .types import (
    EmotionResult,
    IssueTypeResult,
    LanguageResult,
    OffensiveResult,
    SentimentResult,
    TriageContext,
    TriageResult,
)
from .urgency import score_urgency

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FAST_TASKS = ["sentiment", "emotion", "offensive", "sentiment_multi", "langid"]
ACC_TASKS = ["acc_sentiment", "acc_emotion", "acc_offensive", "acc_sentiment_multi"]
TIERS = ("fast", "accurate")
MAX_CHARS = 20_000  # the models read at most this much of a message (bounded time)


def default_tier() -> str:
    env = os.environ.get("SOCIALDESK_TRIAGE_TIER")
    if env:
        return env
    try:
        from socialdesk.config import get_settings

        return str(get_settings().triage_tier or "fast")
    except Exception:  # noqa: BLE001 - settings are optional for the triage package
        return "fast"


@dataclass
class _Bank:
    """Several linear models over the same features, evaluated with one product."""

    models: dict[str, LinearModel]
    weights: np.ndarray = field(init=False)
    bias: np.ndarray = field(init=False)
    slices: dict[str, slice] = field(init=False)
    emb: np.ndarray | None = None

    def __post_init__(self) -> None:
        cols, biases, embs = [], [], []
        self.slices = {}
        start = 0
        for name, m in self.models.items():
            k = m.weights.shape[1]
            self.slices[name] = slice(start, start + k)
            start += k
            cols.append(m.weights)
            biases.append(m.bias)
            e = m.meta.get("embedding_weights")
            if e is not None:
                embs.append(np.asarray(e, dtype=np.float32))
        self.weights = np.ascontiguousarray(np.hstack(cols))
        self.bias = np.concatenate(biases).astype(np.float32)
        # Per model, the column that averages its classes' weights (zero for a binary model):
        # a row of weights times this gives every model's mean weight at once.
        self.mean_columns = np.zeros((self.weights.shape[1], len(self.models)), dtype=np.float32)
        for j, sl in enumerate(self.slices.values()):
            if sl.stop - sl.start > 1:
                self.mean_columns[sl, j] = 1.0 / (sl.stop - sl.start)
        if embs:
            self.emb = np.ascontiguousarray(np.hstack(embs))

    def mean_columns_for(self, names: tuple[str, ...]) -> np.ndarray:
        """``mean_columns`` for these models, in this order (kept per tuple of names)."""
        cache = self.__dict__.setdefault("_means_for", {})
        found = cache.get(names)
        if found is None:
            order = {n: j for j, n in enumerate(self.models)}
            found = cache[names] = np.ascontiguousarray(self.mean_columns[:, [order[n] for n in names]])
        return found

    def probas(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Every model's class probabilities at once: a binary model's sigmoid is the softmax
        of (0, logit), so all are softmaxes over segments of one extended row."""
        plan = self.__dict__.get("_proba_plan")
        if plan is None:
            index: list[int] = []
            out: dict[str, slice] = {}
            zero = self.weights.shape[1]  # the column of zeros appended below
            for name, sl in self.slices.items():
                start = len(index)
                index.extend([zero, sl.start] if sl.stop - sl.start == 1 else range(sl.start, sl.stop))
                out[name] = slice(start, len(index))
            starts = np.array([sl.start for sl in out.values()])
            seg = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(index))))
            plan = self.__dict__["_proba_plan"] = (np.array(index), starts, seg, out)
        index, starts, seg, out = plan
        z = np.concatenate([logits, np.zeros((logits.shape[0], 1), logits.dtype)], axis=1)[:, index]
        z = z - np.maximum.reduceat(z, starts, axis=1)[:, seg]
        e = np.exp(z)
        p = e / np.add.reduceat(e, starts, axis=1)[:, seg]
        return {name: p[:, sl] for name, sl in out.items()}

    def logits(self, feats: Features, embeddings: np.ndarray | None = None) -> np.ndarray:
        out = feats.dot(self.weights) + self.bias
        if self.emb is not None and embeddings is not None:
            out += embeddings @ self.emb
        return out

    def proba(self, name: str, logits: np.ndarray) -> np.ndarray:
        return self.models[name].proba_from_logits(logits[:, self.slices[name]])


class Models:
    """All artifacts of one folder; ``get_models()`` caches one instance per process."""

    def __init__(self, folder: Path = ARTIFACTS) -> None:
        self.folder = folder
        self.fast = _Bank({t: LinearModel.load(folder, t) for t in FAST_TASKS})
        self._acc: _Bank | None = None
        self._encoder: Any = None
        self.multilingual: MultilingualMember | None = None
        self._lock = threading.Lock()

    @property
    def has_accurate(self) -> bool:
        from .encoder import ONNX_NAME

        return (self.folder / ONNX_NAME).exists() and all(
            (self.folder / f"{t}.emb.npz").exists() for t in ACC_TASKS
        )

    def accurate(self) -> tuple[_Bank, Any]:
        with self._lock:
            if self._acc is None:
                from .encoder import Encoder

                self._encoder = Encoder(self.folder)
                width = self._encoder.width
                models = {}
                for t in ACC_TASKS:
                    m = LinearModel.load(self.folder, t)
                    with np.load(self.folder / f"{t}.emb.npz", allow_pickle=False) as z:
                        w = z["w"].astype(np.float32)
                    # Rows: the 384-d sentence embedding, then the fine-tuned heads' logits; a
                    # head over the embedding alone has zero weight on the logits.
                    if w.shape[0] < width:
                        w = np.vstack([w, np.zeros((width - w.shape[0], w.shape[1]), np.float32)])
                    m.meta["embedding_weights"] = w
                    models[t] = m
                self.multilingual = MultilingualMember.load(self.folder)
                self._acc = _Bank(models)
        return self._acc, self._encoder


_MODELS: Models | None = None
_MODELS_LOCK = threading.Lock()


def get_models() -> Models:
    global _MODELS
    if _MODELS is None:
        with _MODELS_LOCK:
            if _MODELS is None:
                _MODELS = Models()
    return _MODELS


def _probs(labels: list[str], p: np.ndarray) -> dict[str, float]:
    return {lab: round(float(v), 4) for lab, v in zip(labels, p, strict=False)}


def _top_features(
    feats: list[tuple[str, int, float]], model: LinearModel, col: int, k: int = 4
) -> list[str]:
    """Words/bigrams pushing towards class ``col`` the most (relative to the other classes)."""
    if not feats:
        return []
    idx = np.array([b for _, b, _ in feats])
    vals = np.array([v for _, _, v in feats], dtype=np.float32)
    w = model.weights[idx]
    contrib = w[:, col] if model.binary or w.shape[1] == 1 else w[:, col] - w.mean(axis=1)
    contrib = contrib * vals
    seen: set[str] = set()
    out = []
    for i in np.argsort(-contrib):
        name = feats[i][0]
        if contrib[i] <= 0 or name in seen:
            continue
        seen.add(name)
        out.append(f"'{name}' (+{contrib[i]:.2f})")
        if len(out) == k:
            break
    return out


def explain_many(
    feats: Features, bank: _Bank, specs: dict[str, np.ndarray], k: int = 4
) -> dict[str, list[list[str]]]:
    """Per model and message, the words/bigrams that pushed the message towards the class in
    ``specs[model]`` the most (weight for that class minus the mean over classes, times the
    feature value; for a binary model, the signed weight). One gather serves every model."""
    parts = [(g, *feats.groups[g]) for g in ("word", "bigram") if feats.groups[g][0].size]
    out: dict[str, list[list[str]]] = {name: [[] for _ in range(feats.n_docs)] for name in specs}
    if not parts:
        return out
    if feats.n_docs == 1:
        return _explain_one(feats, bank, specs, k, out)
    grp = np.concatenate([np.full(p[1].size, i) for i, p in enumerate(parts)])
    doc = np.concatenate([p[1] for p in parts])
    cols = np.concatenate([p[2] for p in parts])
    vals = np.concatenate([p[3] for p in parts])
    idx = np.concatenate([np.arange(p[1].size) for p in parts])
    rows = bank.weights[cols]
    names = list(specs)
    sl = [bank.slices[n] for n in names]
    # Target column of each entry for each model, and each model's mean weight per entry.
    zero = np.zeros(doc.size, dtype=np.int64)
    target = np.stack([s.start + (zero if s.stop - s.start == 1 else specs[n][doc])
                       for n, s in zip(names, sl, strict=True)], axis=1)
    picked = np.take_along_axis(rows, target, axis=1)
    order_of = {n: j for j, n in enumerate(bank.models)}
    contrib = picked - rows @ bank.mean_columns[:, [order_of[n] for n in names]]
    for j, (n, s) in enumerate(zip(names, sl, strict=True)):
        if s.stop - s.start == 1:
            contrib[:, j] = picked[:, j] * np.where(specs[n][doc] == 1, 1.0, -1.0)
    contrib *= vals[:, None]
    single = feats.n_docs == 1
    for j, n in enumerate(names):
        c = contrib[:, j]
        if single:
            order = np.argsort(-c)[: 2 * k]
            order = order[c[order] > 0.01]
        else:
            keep = np.flatnonzero(c > 0.01)
            order = keep[np.lexsort((-c[keep], doc[keep]))]
            # A token that occurs twice is one feature (same group, same column): keep its
            # first, largest entry, so k distinct ones per message survive the cut below.
            key = (doc[order] << 20) | (grp[order] << 19) | cols[order]
            order = order[np.sort(np.unique(key, return_index=True)[1])]
            sdoc = doc[order]
            rank = np.arange(sdoc.size) - np.searchsorted(sdoc, sdoc, side="left")
            order = order[rank < 2 * k]  # room for hash collisions, skipped below
        res = out[n]
        for jj in order.tolist():
            d = int(doc[jj])
            if len(res[d]) >= k:
                continue
            label = feats.token_text(parts[int(grp[jj])][0], int(idx[jj]))
            if not any(x.startswith(f"'{label}' ") for x in res[d]):
                res[d].append(f"'{label}' (+{c[jj]:.2f})")
    return out


def _explain_one(
    feats: Features, bank: _Bank, specs: dict[str, np.ndarray], k: int,
    out: dict[str, list[list[str]]],
) -> dict[str, list[list[str]]]:
    """``explain_many`` for one message, with every model at once: the weight rows are the
    ones the bank gathered for the logits when it has them."""
    n_char = feats.groups["char"][1].size
    words, bigrams = feats.groups["word"], feats.groups["bigram"]
    n_w, n_b = words[1].size, bigrams[1].size
    rows = feats.gathered.get(id(bank.weights))
    if rows is None:
        rows = bank.weights[np.concatenate([words[1], bigrams[1]])]
    else:
        rows = rows[n_char:n_char + n_w + n_b]
    vals = np.concatenate([words[2], bigrams[2]])
    names = tuple(specs)
    means = bank.mean_columns_for(names)
    targets, signs = [], []
    for n in names:
        sl, t = bank.slices[n], int(specs[n][0])
        binary = sl.stop - sl.start == 1
        targets.append(sl.start if binary else sl.start + t)
        signs.append((1.0 if t == 1 else -1.0) if binary else 1.0)
    picked = rows[:, targets] * np.asarray(signs, dtype=np.float32)
    contrib = (picked - rows @ means) * vals[:, None]
    # All of them, in order: the loop stops at k distinct words (a repeated word is one).
    top = np.argsort(-contrib, axis=0)
    top_values = np.take_along_axis(contrib, top, axis=0).T.tolist()
    # Token texts from plain ints (numpy scalars make every slice slow); in one message's
    # features bigram b is tokens b and b + 1.
    starts, ends = feats.tok_starts.tolist(), feats.tok_ends.tolist()  # type: ignore[union-attr]
    joined = feats.joined
    for n, indices, values in zip(names, top.T.tolist(), top_values, strict=True):
        res = out[n][0]
        seen: set[str] = set()
        for i, c in zip(indices, values, strict=True):
            if c <= 0.01 or len(res) >= k:
                break
            if i < n_w:
                label = joined[starts[i]:ends[i]]
            else:
                b = i - n_w
                label = joined[starts[b]:ends[b]] + " " + joined[starts[b + 1]:ends[b + 1]]
            if label not in seen:
                seen.add(label)
                res.append(f"'{label}' (+{c:.2f})")
    return out


def triage_batch(
    texts: list[str],
    contexts: list[TriageContext | None] | TriageContext | None = None,
    *,
    tier: str | None = None,
    explain: bool = True,
    models: Models | None = None,
) -> list[TriageResult]:
    """Triage many messages at once (one featurisation, one product per model bank)."""
    n = len(texts)
    if n == 0:
        return []
    if contexts is None or isinstance(contexts, TriageContext):
        ctxs: list[TriageContext] = [contexts or TriageContext()] * n
    else:
        ctxs = [c or TriageContext() for c in contexts]
    tier = tier or default_tier()
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, not {tier!r}")
    m = models or get_models()
    clean = [_clean(t) for t in texts]
    normed = normalize_batch(clean)
    feats = featurize(normed, normalized=True)
    fast = m.fast.probas(m.fast.logits(feats))
    lang_p = fast["langid"]
    lang_labels = m.fast.models["langid"].labels

    used_tier = tier
    sent_en = fast["sentiment"]
    sent_multi = fast["sentiment_multi"]
    emo = fast["emotion"]
    off = fast["offensive"]
    bank, prefix = m.fast, ""
    if tier == "accurate":
        if m.has_accurate:
            acc, encoder = m.accurate()
            # The encoder saw training text with only handles/URLs normalised, as here.
            emb = encoder.encode_inputs([normalize_handles(t) for t in clean])
            acc_logits = acc.logits(feats, emb)
            sent_en = acc.proba("acc_sentiment", acc_logits)
            sent_multi = acc.proba("acc_sentiment_multi", acc_logits)
            emo = acc.proba("acc_emotion", acc_logits)
            off = acc.proba("acc_offensive", acc_logits)
            bank, prefix = acc, "acc_"
        else:
            used_tier = "fast"

    langs: list[tuple[LanguageResult, list[str]]] = [
        langid.decide(clean[i], lang_p[i], lang_labels, lang_hint=ctxs[i].lang_hint,
                      candidates=ctxs[i].candidate_languages)
        for i in range(n)
    ]
    # English has its own sentiment model (50k SemEval tweets); every other language the
    # multilingual one trained on UMSAB.
    use_en = np.array([lang.code in ("en", "und") for lang, _ in langs])
    member = m.multilingual if bank is not m.fast else None
    multi_rows = np.flatnonzero(~use_en)
    if member is not None and len(multi_rows):
        # The ensemble with the multilingual sentence encoder, only for the messages that use it.
        sent_multi = sent_multi.copy()
        sent_multi[multi_rows] = member.mixed(
            acc_logits[multi_rows, bank.slices["acc_sentiment_multi"]],
            [normalize_handles(clean[i]) for i in multi_rows])
    sent = np.where(use_en[:, None], sent_en, sent_multi)
    s_cls = sent.argmax(1)
    e_cls = emo.argmax(1)
    s_en_model = bank.models[prefix + "sentiment"]
    s_multi_model = bank.models[prefix + "sentiment_multi"]
    e_model = bank.models[prefix + "emotion"]
    if explain:
        specs = {prefix + "sentiment": s_cls, prefix + "emotion": e_cls,
                 prefix + "offensive": np.ones(n, dtype=np.int64)}
        if not use_en.all():
            specs[prefix + "sentiment_multi"] = s_cls
        ex = explain_many(feats, bank, specs)
        ex_en = ex[prefix + "sentiment"]
        ex_multi = ex.get(prefix + "sentiment_multi", ex_en)
        ex_emo = ex[prefix + "emotion"]
        ex_off = ex[prefix + "offensive"]

    # The accurate ensembles also read the fine-tuned MiniLM head, which has no words to show.
    head_note: dict[str, list[str]] = {}
    for task in ("emotion", "offensive"):
        meta = bank.models[prefix + task].meta
        w = meta.get("head_weight") if meta.get("method") == "ensemble" else None
        head_note[task] = [f"fine-tuned MiniLM head (weight {w}) and the words below"] if w else []
    multi_note = ([f"multilingual sentence encoder (weight {member.mix:g}) and the words below"]
                  if member is not None else [])

    results: list[TriageResult] = []
    for i in range(n):
        text = clean[i]
        ctx = ctxs[i]
        lang, why = langs[i]
        expl: dict[str, list[str]] = {"language": why}
        s_model = s_en_model if use_en[i] else s_multi_model
        sk = int(s_cls[i])
        sentiment = SentimentResult(s_model.labels[sk], _probs(s_model.labels, sent[i]))
        ek = int(e_cls[i])
        question = rules.is_question(text)
        reading = _reading(sentiment, e_model.labels[ek], question)
        emotion = EmotionResult(e_model.labels[ek], _probs(e_model.labels, emo[i]), reading)
        off_words = rules.offensive_hits(text)
        p_off = float(off[i][1])
        if not use_en[i] and off_words:
            # The offensive model knows English only; elsewhere the lexicon decides.
            p_off = max(p_off, 0.9)
        offensive = OffensiveResult(p_off >= 0.5, round(p_off, 4))
        issue = rules.classify_issue(text, sentiment.label)
        pii = detect_pii(text, regions=regions_for(lang.code))
        urgency = score_urgency(text, ctx, sentiment, offensive, issue)
        if explain:
            s_name = "sentiment" if use_en[i] else "sentiment_multi"
            expl["sentiment"] = [f"{used_tier} model {s_name}",
                                 *(ex_en[i] if use_en[i] else [*multi_note, *ex_multi[i]])]
            expl["emotion"] = [f"{used_tier} model emotion (trained on English tweets)",
                               *head_note["emotion"], *ex_emo[i]]
            expl["offensive"] = [
                *(head_note["offensive"] if offensive.label else []),
                *(ex_off[i] if offensive.label else []),
                *[f"offensive word: {w}" for w in off_words[:3]],
            ]
            expl["issue_type"] = issue.reasons
            expl["urgency"] = urgency.reasons
            if pii:
                expl["pii"] = [f"{s.kind} at {s.start}-{s.end}" for s in pii]
        results.append(
            TriageResult(
                language=lang,
                sentiment=sentiment,
                issue_type=IssueTypeResult(issue.label, issue.confidence, issue.reasons),
                emotion=emotion,
                offensive=offensive,
                pii=pii,
                urgency=urgency,
                tier=used_tier,
                explanations=expl,
            )
        )
    _add_custom_intents(results, clean, ctxs)
    return results


_INTENT_MODELS: dict[str, Any] = {}


def _add_custom_intents(
    results: list[TriageResult], texts: list[str], ctxs: list[TriageContext]
) -> None:
    wanted: dict[str, list[int]] = {}
    for i, c in enumerate(ctxs):
        if c.intent_model:
            wanted.setdefault(c.intent_model, []).append(i)
    if not wanted:
        return
    from .intents import IntentModel, models_dir

    for name, idx in wanted.items():
        if name not in _INTENT_MODELS:
            folder = Path(name) if Path(name).is_dir() else models_dir(name)
            try:
                _INTENT_MODELS[name] = IntentModel.load(folder)
            except (OSError, KeyError, ValueError):
                _INTENT_MODELS[name] = None  # a missing model must not break triage
        im = _INTENT_MODELS[name]
        if im is None:
            for i in idx:
                results[i].custom_intent = {"model": name, "error": "model not found"}
            continue
        probs = im.predict_proba([texts[i] for i in idx])
        for i, p in zip(idx, probs, strict=True):
            k = int(p.argmax())
            top = np.argsort(-p)[:3]
            results[i].custom_intent = {
                "model": name,
                "label": im.model.labels[k],
                "confidence": round(float(p[k]), 4),
                "alternatives": {im.model.labels[j]: round(float(p[j]), 4) for j in top},
            }


def _clean(text: object) -> str:
    if not isinstance(text, str):
        return ""
    text = text[:MAX_CHARS]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from broken JSON upstream) become "?": same length, so spans hold.
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _reading(sentiment: SentimentResult, emotion: str, question: bool) -> str:
    """The agent's reading: a frustrated customer vs one who simply wants information."""
    neg = sentiment.probabilities.get("negative", 0.0)
    if neg >= 0.5 and emotion in ("anger", "sadness"):
        return "frustrated"
    if neg >= 0.6:
        return "frustrated"
    if question:
        return "asking"
    if sentiment.label == "positive" and emotion in ("joy", "optimism"):
        return "happy"
    if emotion == "sadness" and neg >= 0.35:
        return "sad"
    return "neutral"


def triage(
    text: str, context: TriageContext | None = None, *, tier: str | None = None
) -> TriageResult:
    """Triage one message. See ``TriageResult`` for the fields."""
    return triage_batch([text], [context], tier=tier)[0]


__all__ = ["LanguageResult", "Models", "get_models", "triage", "triage_batch"]
