"""The reply checker: what an experienced care lead would flag before a reply goes out.

Every check is a plain rule with a message an agent can act on; none blocks sending except
a reply over the platform's limit, which the platform itself would refuse.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from socialdesk.assist.culture import CultureProfile, profile_for

SEVERITIES = ("error", "warning", "info")

BLAME = re.compile(
    r"\b(you should have|you shouldn'?t have|your fault|you didn'?t read|as (i|we) (already|previously) "
    r"(said|stated|explained|mentioned)|calm down|you need to understand|that'?s not our problem|"
    r"not our fault|obviously|clearly you|you failed to|user error|"
    r"sie hätten|ihre schuld|beruhigen sie sich|wie bereits (gesagt|erwähnt)|"
    r"vous auriez dû|c'est votre faute|calmez-vous|"
    r"usted debió|es su culpa|cálmese|como ya (dijimos|le dijimos))\b",
    re.IGNORECASE,
)
SLANG = re.compile(
    r"\b(lol|lmao|omg|wtf|gonna|wanna|gotta|ya|u|ur|thx|pls|plz|dude|bro|mate|buddy|hun|hon|sweetie|"
    r"yo|nope|yep|k|cuz|tbh|idk)\b",
    re.IGNORECASE,
)
ROBOTIC = re.compile(
    r"(we apologi[sz]e for any inconvenience( this may have caused)?|your (call|message|request) is "
    r"important to us|please be advised|kindly be informed|we regret to inform you|"
    r"dear (valued )?customer|do not reply to this message|this is an automated)",
    re.IGNORECASE,
)
EXCLAMATIONS = re.compile(r"!{2,}")
EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class ReplyWarning:
    code: str
    severity: str
    message: str
    span: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ReplyCheck:
    warnings: list[ReplyWarning]
    length: int
    limit: int | None
    locale_notes: dict[str, str]

    @property
    def blocking(self) -> bool:
        return any(w.severity == "error" for w in self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "warnings": [w.to_dict() for w in self.warnings],
            "length": self.length,
            "limit": self.limit,
            "blocking": self.blocking,
            "locale_notes": self.locale_notes,
        }


def check_reply(
    text: str,
    *,
    platform: str = "x",
    is_public: bool = True,
    customer_language: str | None = None,
    customer_sentiment: str | None = None,
    brand_formality: str = "neutral",
    customer_name: str | None = None,
) -> list[ReplyWarning]:
    return review_reply(
        text,
        platform=platform,
        is_public=is_public,
        customer_language=customer_language,
        customer_sentiment=customer_sentiment,
        brand_formality=brand_formality,
        customer_name=customer_name,
    ).warnings


def review_reply(
    text: str,
    *,
    platform: str = "x",
    is_public: bool = True,
    customer_language: str | None = None,
    customer_sentiment: str | None = None,
    brand_formality: str = "neutral",
    customer_name: str | None = None,
) -> ReplyCheck:
    warnings: list[ReplyWarning] = []
    length, limit = _length_and_limit(text, platform, is_public)
    if limit is not None and length > limit:
        warnings.append(
            ReplyWarning(
                "over_limit",
                "error",
                f"{length} characters; {platform} allows {limit} in a "
                f"{'public reply' if is_public else 'private message'}. Shorten it, or move to DM.",
            )
        )
    if not text.strip():
        warnings.append(ReplyWarning("empty", "error", "The reply is empty."))
        return ReplyCheck(warnings, length, limit, {})

    profile = profile_for(customer_language) or profile_for("en")
    lowered = text.lower()
    if customer_sentiment == "negative" and not _acknowledges(lowered, profile):
        warnings.append(
            ReplyWarning(
                "no_acknowledgement",
                "warning",
                "The customer is upset and the reply does not acknowledge the problem. Start by "
                'recognising it (e.g. "Sorry about the delay with your order") before the fix.',
            )
        )
    for match in BLAME.finditer(text):
        warnings.append(
            ReplyWarning(
                "blame",
                "warning",
                f'"{match.group(0)}" sounds like blame or argument; describe the fix instead.',
                match.span(),
            )
        )
    if brand_formality in {"formal", "neutral"}:
        for match in SLANG.finditer(text):
            warnings.append(
                ReplyWarning(
                    "slang",
                    "warning" if brand_formality == "formal" else "info",
                    f'"{match.group(0)}" is slang or over-familiar for this brand\'s '
                    f"{brand_formality} voice.",
                    match.span(),
                )
            )
        if brand_formality == "formal" and (EXCLAMATIONS.search(text) or len(EMOJI.findall(text)) > 1):
            warnings.append(
                ReplyWarning("over_familiar", "info", "Several exclamation marks or emoji read as casual.")
            )
    for match in ROBOTIC.finditer(text):
        warnings.append(
            ReplyWarning(
                "robotic",
                "warning",
                f'"{match.group(0)}" sounds scripted; say it in your own words.',
                match.span(),
            )
        )
    if customer_name and _first_name(customer_name).lower() not in lowered and len(text) > 80:
        warnings.append(
            ReplyWarning(
                "unpersonalised",
                "info",
                f"Consider addressing {_first_name(customer_name)} by name.",
            )
        )
    if is_public:
        warnings.extend(_personal_data(text))
    warnings.extend(_formality(text, profile, brand_formality))
    notes = dict(profile.notes) if profile else {}
    if profile and profile.formality_note:
        notes.setdefault("formality", profile.formality_note)
    return ReplyCheck(warnings, length, limit, notes)


def _length_and_limit(text: str, platform: str, is_public: bool) -> tuple[int, int | None]:
    try:
        from socialdesk.platforms.registry import get_connector

        connector = get_connector(platform)
    except (ImportError, KeyError, ValueError):
        return len(text), None
    limits = connector.limits
    limit = limits.max_chars_public if is_public else limits.max_chars_private
    return connector.text_length(text), limit


def _acknowledges(lowered: str, profile: CultureProfile | None) -> bool:
    phrases = set(profile.acknowledgements if profile else ())
    english = profile_for("en")
    if english:
        phrases |= set(english.acknowledgements)
    return any(p in lowered for p in phrases)


def _personal_data(text: str) -> list[ReplyWarning]:
    from socialdesk.triage.pii import detect_pii

    found = []
    for span in detect_pii(text):
        found.append(
            ReplyWarning(
                "personal_data_public",
                "warning",
                f"This public reply contains a {span.kind} ({span.text!r}). Move the conversation "
                "to a private message.",
                (span.start, span.end),
            )
        )
    return found


def _formality(text: str, profile: CultureProfile | None, brand_formality: str) -> list[ReplyWarning]:
    if profile is None or not (profile.formal_words or profile.informal_words):
        return []
    # Capitalised "Sie/Ihnen" is the German formal form; lower-case "sie" means "she/they".
    words = WORD.findall(text)
    case_sensitive = profile.language == "de"

    def hits(vocabulary: frozenset[str]) -> list[str]:
        if case_sensitive:
            return [w for w in words if w in vocabulary or (w.lower() in vocabulary and w.islower())]
        lowered = {v.lower() for v in vocabulary}
        return [w for w in words if w.lower() in lowered]

    formal = hits(profile.formal_words)
    informal = hits(profile.informal_words)
    if case_sensitive:
        formal = [w for w in formal if w[0].isupper()]
        informal = [w for w in informal if w.islower()]
    out: list[ReplyWarning] = []
    if formal and informal:
        out.append(
            ReplyWarning(
                "mixed_formality",
                "warning",
                f"The reply mixes formal ({', '.join(sorted(set(formal)))}) and informal "
                f"({', '.join(sorted(set(informal)))}) address in {profile.name}. {profile.formality_note}",
            )
        )
    elif informal and brand_formality != "casual" and profile.default_formality == "formal":
        out.append(
            ReplyWarning(
                "informal_address",
                "warning",
                f"Informal address ({', '.join(sorted(set(informal)))}) for a {brand_formality} brand in "
                f"{profile.name}. {profile.formality_note}",
            )
        )
    return out


def _first_name(name: str) -> str:
    return name.strip().split()[0] if name.strip() else name
