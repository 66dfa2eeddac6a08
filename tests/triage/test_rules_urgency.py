from socialdesk.triage.rules import classify_issue
from socialdesk.triage.types import OffensiveResult, SentimentResult, TriageContext
from socialdesk.triage.urgency import score_urgency


def test_issue_types_multilingual() -> None:
    cases = {
        "Where is my order? It has not arrived": "order_status_shipping",
        "Meine Bestellung ist noch nicht da": "order_status_shipping",
        "I was charged twice, I want a refund": "refund_billing",
        "Je veux être remboursé": "refund_billing",
        "La batteria è rotta, non funziona": "product_defect_quality",
        "No puedo iniciar sesión, contraseña incorrecta": "account_login",
        "Your app is down again": "technical_outage",
        "Vou cancelar minha assinatura": "cancellation_churn",
        "My charger caught fire": "safety",
        "What are your opening hours?": "question",
        "Thank you, great service!": "praise",
        "follow back and check out my crypto giveaway": "spam",
        "hello": "other",
    }
    for text, want in cases.items():
        d = classify_issue(text)
        assert d.label == want, (text, d)
        assert d.reasons


def _sent(neg: float) -> SentimentResult:
    return SentimentResult("negative" if neg > 0.5 else "neutral",
                           {"negative": neg, "neutral": 1 - neg, "positive": 0.0})


def _urg(text: str, ctx: TriageContext | None = None, neg: float = 0.1,
         off: bool = False) -> tuple[int, str]:
    r = score_urgency(text, ctx or TriageContext(), _sent(neg), OffensiveResult(off, 0.9 if off else 0.1),
                      classify_issue(text))
    return r.score, " ".join(r.reasons)


def test_urgency_reasons() -> None:
    assert _urg("hello")[0] == 0
    s, why = _urg("my kettle caught fire")
    assert s >= 40 and "safety" in why
    s, why = _urg("I will talk to my lawyer")
    assert "legal_threat" in why
    s, why = _urg("I am going to cancel and switch to another bank")
    assert "churn_threat" in why
    assert "strong_negativity" in _urg("awful", neg=0.95)[1]
    assert "offensive" in _urg("x", off=True)[1]
    assert "high_reach" in _urg("x", TriageContext(author_followers=50_000))[1]
    assert _urg("x", TriageContext(author_followers=50_000, is_public=False))[0] == 0
    assert "repeated_contact" in _urg("x", TriageContext(recent_contacts=3))[1]
    s, why = _urg("the Outage in Berlin", TriageContext(crisis_topics=["outage in berlin"]))
    assert "crisis_topic" in why
    s, _ = _urg("fire! lawyer! cancel!", TriageContext(author_followers=10**6, recent_contacts=9,
                                                        crisis_topics=["fire"]), neg=0.99, off=True)
    assert s == 100
