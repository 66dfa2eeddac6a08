"""Public types of the triage package."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TriageContext:
    """What the caller knows about a message beyond its text (all optional)."""

    lang_hint: str | None = None
    # Languages the brand serves (ISO 639-1); language ID chooses among these only.
    candidate_languages: list[str] | None = None
    author_followers: int | None = None
    # Messages from this customer within the configured window (e.g. 24 hours).
    recent_contacts: int | None = None
    crisis_topics: list[str] | None = None
    is_public: bool | None = None
    # A brand's own taxonomy trained with ``train-intents``: its name (under
    # var/models/intents/) or a model folder; fills ``TriageResult.custom_intent``.
    intent_model: str | None = None


@dataclass
class LanguageResult:
    code: str
    confidence: float
    method: str = "model"


@dataclass
class SentimentResult:
    label: str
    probabilities: dict[str, float]


@dataclass
class IssueTypeResult:
    label: str
    confidence: float
    reasons: list[str] = field(default_factory=list)


@dataclass
class EmotionResult:
    label: str
    probabilities: dict[str, float]
    # For agents: "frustrated" (angry/negative), "asking" (a question, calm), "happy",
    # "sad", or "neutral".
    reading: str = "neutral"


@dataclass
class OffensiveResult:
    label: bool
    probability: float


@dataclass
class PiiSpan:
    kind: str  # email | phone | card | order | ticket | ...
    start: int
    end: int
    text: str


@dataclass
class UrgencyResult:
    score: int
    reasons: list[str] = field(default_factory=list)


@dataclass
class TriageResult:
    language: LanguageResult
    sentiment: SentimentResult
    issue_type: IssueTypeResult
    emotion: EmotionResult
    offensive: OffensiveResult
    pii: list[PiiSpan]
    urgency: UrgencyResult
    tier: str
    # Per decision, the features or rules that drove it: {"sentiment": [...], ...}.
    explanations: dict[str, list[str]] = field(default_factory=dict)
    custom_intent: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
