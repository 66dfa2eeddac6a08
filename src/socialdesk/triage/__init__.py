"""Triage of social messages: language, sentiment, issue type, emotion, offensive language,
personal data and urgency, each with the features or rules that decided it.

``triage(text, context)`` for one message, ``triage_batch(texts, contexts)`` for many; the
tier ("fast" or "accurate") comes from the argument, else $SOCIALDESK_TRIAGE_TIER, else the
settings' ``triage_tier``.
"""

from .pipeline import triage, triage_batch
from .types import TriageContext, TriageResult

__all__ = ["TriageContext", "TriageResult", "triage", "triage_batch"]
