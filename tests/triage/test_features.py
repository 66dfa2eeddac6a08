"""The single-message featurizer and explanation path give what the batch path gives."""

from __future__ import annotations

import numpy as np
import pytest

from socialdesk.triage.features import _featurize_one, featurize, normalize_batch
from socialdesk.triage.pipeline import _explain_one, explain_many, get_models

TEXTS = [
    "@united my bag never arrived, 3 days now. Worst airline ever!!!",
    "Ich liebe dieses Handy, aber der Akku ist schrecklich",
    "Modi ji zindabaad hamare desh ka strong hain",
    "नमस्ते दुनिया, यह बहुत अच्छा है",
    "مرحبا كيف حالك",
    "",
    "a",
    "😀😀 ok",
    "x" * 3000,
    "tab\tand\x00control\x1f chars",
]


def _entries(feats, group: str, doc: int) -> list[tuple[int, float]]:
    d, c, v = feats.groups[group]
    return sorted(zip(c[d == doc].tolist(), np.round(v[d == doc], 6).tolist(), strict=True))


@pytest.mark.parametrize("text", TEXTS)
def test_one_message_has_the_entries_of_the_batch(text: str) -> None:
    normed = normalize_batch([text, "another message"])
    batch = featurize(normed, normalized=True)
    one = _featurize_one(normed[0])
    for group in ("char", "word", "bigram"):
        assert _entries(one, group, 0) == _entries(batch, group, 0)
    words = [one.token_text("word", i) for i in range(one.groups["word"][1].size)]
    assert words == [batch.token_text("word", i) for i in np.flatnonzero(batch.groups["word"][0] == 0)]


@pytest.mark.parametrize("text", TEXTS)
def test_one_message_scores_and_explains_as_the_batch(text: str) -> None:
    bank = get_models().fast
    normed = normalize_batch([text, "another message"])
    batch = featurize(normed, normalized=True)
    one = featurize(normed[:1], normalized=True)
    logits = bank.logits(one)
    assert np.allclose(logits[0], bank.logits(batch)[0], rtol=1e-4, atol=1e-3)
    specs = {"sentiment": np.array([2, 0]), "emotion": np.array([0, 0]),
             "offensive": np.array([1, 0]), "sentiment_multi": np.array([1, 0])}
    alone = _explain_one(one, bank, {n: v[:1] for n, v in specs.items()}, 4,
                         {n: [[]] for n in specs})
    together = explain_many(batch, bank, specs)
    for name in specs:
        # Equal contributions may come in either order; the figures must be the same.
        assert [x.rsplit("(", 1)[1] for x in alone[name][0]] == \
            [x.rsplit("(", 1)[1] for x in together[name][0]]


def test_explanations_compare_a_class_with_the_mean_of_its_own_model_only() -> None:
    bank = get_models().fast
    feats = featurize(["the trailer is awesome", "zzz"])
    out = explain_many(feats, bank, {"sentiment_multi": np.array([2, 0])})
    sl = bank.slices["sentiment_multi"]
    word = "awesome"
    entry = next(x for x in out["sentiment_multi"][0] if x.startswith(f"'{word}'"))
    d, cols, vals = feats.groups["word"]
    i = [feats.token_text("word", j) for j in range(cols.size)].index(word)
    w = bank.weights[cols[i], sl]
    assert entry == f"'{word}' (+{(w[2] - w.mean()) * vals[i]:.2f})"
