"""Urgency score 0-100, the sum of named reasons (capped), so the UI can show why."""

from __future__ import annotations

import re

from . import rules
from .types import OffensiveResult, SentimentResult, TriageContext, UrgencyResult

# Points per reason. Safety outranks everything; a legal threat or a churn threat is what
# a supervisor wants to see first; reach and repeats come from the caller's context.
POINTS = {
    "safety": 45,
    "legal_threat": 30,
    "churn_threat": 20,
    "strong_negativity": 15,
    "negativity": 7,
    "offensive": 10,
    "high_reach": 15,
    "very_high_reach": 25,
    "repeated_contact": 10,
    "many_repeated_contacts": 20,
    "crisis_topic": 30,
}
HIGH_REACH = 10_000
VERY_HIGH_REACH = 100_000
REPEATS = 2  # this many earlier messages within the window count as repeated contact
MANY_REPEATS = 4


def score_urgency(
    text: str,
    ctx: TriageContext,
    sentiment: SentimentResult,
    offensive: OffensiveResult,
    issue: rules.IssueDecision,
) -> UrgencyResult:
    score = 0
    reasons: list[str] = []

    def add(key: str, detail: str) -> None:
        nonlocal score
        score += POINTS[key]
        reasons.append(f"{key}: {detail} (+{POINTS[key]})")

    safety = issue.hits.get("safety") or []
    if safety:
        add("safety", ", ".join(dict.fromkeys(safety[:3])))
    legal = rules.legal_hits(text)
    if legal:
        add("legal_threat", ", ".join(dict.fromkeys(legal[:3])))
    churn = issue.hits.get("cancellation_churn") or []
    if churn:
        add("churn_threat", ", ".join(dict.fromkeys(churn[:3])))
    neg = sentiment.probabilities.get("negative", 0.0)
    if neg >= 0.8:
        add("strong_negativity", f"negative {neg:.2f}")
    elif neg >= 0.6:
        add("negativity", f"negative {neg:.2f}")
    if offensive.label:
        add("offensive", f"offensive {offensive.probability:.2f}")
    followers = ctx.author_followers or 0
    if ctx.is_public is not False:
        if followers >= VERY_HIGH_REACH:
            add("very_high_reach", f"{followers} followers")
        elif followers >= HIGH_REACH:
            add("high_reach", f"{followers} followers")
    repeats = ctx.recent_contacts or 0
    if repeats >= MANY_REPEATS:
        add("many_repeated_contacts", f"{repeats} recent messages")
    elif repeats >= REPEATS:
        add("repeated_contact", f"{repeats} recent messages")
    if ctx.crisis_topics:
        low = text[:5000].lower()
        hit = [
            t for t in ctx.crisis_topics
            if t and re.search(r"(?<!\w)" + re.escape(t.lower()), low)
        ]
        if hit:
            add("crisis_topic", ", ".join(hit[:3]))
    return UrgencyResult(min(100, score), reasons)
