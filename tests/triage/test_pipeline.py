import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialdesk.triage import TriageContext, TriageResult, triage, triage_batch


def test_api_shape() -> None:
    r = triage("@acme my order #A12345 never arrived, this is awful!! call +1 415 555 2671")
    assert isinstance(r, TriageResult)
    d = r.to_dict()
    json.dumps(d)
    for key in ("language", "sentiment", "issue_type", "emotion", "offensive", "pii",
                "urgency", "tier", "explanations"):
        assert key in d
    assert d["language"]["code"] == "en"
    assert d["sentiment"]["label"] == "negative"
    assert set(d["sentiment"]["probabilities"]) == {"negative", "neutral", "positive"}
    assert d["issue_type"]["label"] == "order_status_shipping"
    assert d["emotion"]["reading"] == "frustrated"
    assert {p["kind"] for p in d["pii"]} == {"order", "phone"}
    assert 0 <= d["urgency"]["score"] <= 100
    assert d["explanations"]["sentiment"]


def test_languages_and_hints() -> None:
    assert triage("Wo ist meine Bestellung? Ich warte seit zwei Wochen").language.code == "de"
    assert triage("¿Dónde está mi pedido? Llevo dos semanas esperando").language.code == "es"
    assert triage("मेरा ऑर्डर कहाँ है").language.code == "hi"
    assert triage("وين طلبي؟ متأخر جدا").language.code == "ar"
    # Restricting to the brand's languages.
    r = triage("Bom dia, obrigado", TriageContext(candidate_languages=["pt", "de"]))
    assert r.language.code == "pt"
    r = triage("hallo hello", TriageContext(candidate_languages=["fr", "it"]))
    assert r.language.code in ("fr", "it")
    # A hint tips an ambiguous text, and answers when there is nothing to go on.
    assert triage("ok", TriageContext(lang_hint="de")).language.code == "de"
    assert triage("👍", TriageContext(lang_hint="pt")).language.code == "pt"
    assert triage("👍").language.code == "und"


def test_batch_matches_single() -> None:
    texts = ["I love it", "worst service ever", "Où est ma commande ?"]
    batch = triage_batch(texts)
    for t, b in zip(texts, batch, strict=False):
        s = triage(t)
        assert s.sentiment.probabilities == b.sentiment.probabilities
        assert s.language.code == b.language.code


def test_bad_tier() -> None:
    with pytest.raises(ValueError):
        triage("x", tier="slow")


weird = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=50),
    st.text(alphabet=st.sampled_from(list("😀🔥👍🏽‍♀️\u200d\ufe0f")), max_size=30),
    st.text(alphabet=st.characters(categories=("Lo", "Mn", "Zs", "Cf", "Cs", "So")), max_size=80),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(weird)
def test_never_raises(text: str) -> None:
    r = triage(text)
    json.dumps(r.to_dict())


def test_special_inputs_bounded_time() -> None:
    big = "refund my money 😡 " * 6000  # ~100 kB
    for text in ["", " ", "\x00\x01\x02", "😀" * 500, "abc\u202eabc\u0000", big,
                 "mixed English, Deutsch, русский, العربية, हिन्दी, 中文 " * 50,
                 "\ud800 lone surrogate"]:
        t0 = time.perf_counter()
        r = triage(text)
        assert time.perf_counter() - t0 < 5.0
        json.dumps(r.to_dict())


def test_accurate_tier() -> None:
    from socialdesk.triage.pipeline import get_models

    if not get_models().has_accurate:
        pytest.skip("accurate tier not built")
    texts = ["I love this phone, thank you!", "Worst support ever, I am furious", ""]
    rs = triage_batch(texts, tier="accurate")
    assert [r.tier for r in rs] == ["accurate"] * 3
    assert rs[0].sentiment.label == "positive" and rs[1].sentiment.label == "negative"
    assert triage("meh", tier="fast").tier == "fast"
