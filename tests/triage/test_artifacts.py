"""The shipped artifacts load and reproduce their recorded validation figures."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from socialdesk.triage.data import (
    data_dir,
    load_tweeteval_split,
    load_umsab,
)
from socialdesk.triage.evaluate import predict
from socialdesk.triage.metrics import METRICS
from socialdesk.triage.pipeline import ARTIFACTS, FAST_TASKS, get_models

DATA = data_dir(os.environ.get("SOCIALDESK_TRAINING_DATA"))
needs_data = pytest.mark.skipif(not (DATA / "tweeteval").exists(), reason="no training data")
TOL = 0.005


def test_artifacts_small_and_pickle_free() -> None:
    total = sum(p.stat().st_size for p in ARTIFACTS.iterdir())
    assert total <= 30 * 1024 * 1024
    assert {p.suffix for p in ARTIFACTS.iterdir()} <= {".npz", ".json", ".onnx"}
    for p in ARTIFACTS.glob("*.npz"):
        with np.load(p, allow_pickle=False) as z:
            assert z.files


def _recorded(name: str) -> dict:
    return json.loads((ARTIFACTS / f"{name}.json").read_text())


@needs_data
@pytest.mark.parametrize("task", ["sentiment", "emotion", "offensive"])
def test_fast_figures_reproduce(task: str) -> None:
    rec = _recorded(task)
    va = load_tweeteval_split(DATA / "tweeteval" / task, "val")
    pred = predict(task, va.texts, "fast")
    got = METRICS[rec["metric"]](va.labels, pred)
    assert abs(got - rec["validation"][rec["metric"]]) <= TOL


@needs_data
def test_multilingual_and_langid_reproduce() -> None:
    m = get_models()
    va = load_umsab(DATA, "val")
    names = sorted(va)
    texts = [t for n in names for t in va[n].texts]
    for task in ("sentiment_multi", "langid"):
        rec = _recorded(task)
        assert task in FAST_TASKS
        from socialdesk.triage.features import featurize

        p = m.fast.proba(task, m.fast.logits(featurize(texts))).argmax(1)
        if task == "langid":
            y = [i for i, n in enumerate(names) for _ in va[n].texts]
        else:
            y = [v for n in names for v in va[n].labels]
        got = METRICS[rec["metric"]](y, p)
        assert abs(got - rec["validation"][rec["metric"]]) <= TOL, task


@needs_data
@pytest.mark.parametrize("task", ["emotion", "offensive"])
def test_accurate_figure_reproduces(task: str) -> None:
    if not get_models().has_accurate:
        pytest.skip("accurate tier not built")
    rec = _recorded(f"acc_{task}")
    va = load_tweeteval_split(DATA / "tweeteval" / task, "val")
    pred = predict(task, va.texts, "accurate")
    got = METRICS[rec["metric"]](va.labels, pred)
    # The int8 encoder is deterministic on one machine; allow for CPU kernel differences.
    assert abs(got - rec["validation"][rec["metric"]]) <= 0.01


def test_recorded_files_exist() -> None:
    for t in FAST_TASKS:
        assert (ARTIFACTS / f"{t}.npz").exists() and (ARTIFACTS / f"{t}.json").exists()
    assert Path(ARTIFACTS / "minilm-tokenizer.json").exists()


def test_encoder_outputs_match_heads() -> None:
    """The ONNX encoder gives the original sentence embedding plus the fine-tuned heads' logits,
    and the ensembles read the columns of their own head."""
    m = get_models()
    if not m.has_accurate:
        pytest.skip("accurate tier not built")
    acc, enc = m.accurate()
    x = enc.encode_inputs(["I am so angry with this delivery", "thanks, love it"])
    assert x.shape == (2, enc.width) and enc.n_logits > 0
    emb = x[:, : enc.width - enc.n_logits]
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)
    for task in ("acc_emotion", "acc_offensive"):
        info = _recorded(task)
        assert info["method"] == "ensemble" and 0.0 <= info["head_weight"] <= 1.0
        w = acc.models[task].meta["embedding_weights"]
        # Only the head's logit rows carry weight (the ensemble does not read the embedding).
        assert not w[: enc.width - enc.n_logits].any()
