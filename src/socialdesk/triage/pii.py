"""Personal data spans: e-mail addresses, phone numbers (``phonenumbers``), payment card
numbers (Luhn-checked), and order/ticket numbers by configurable patterns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .types import PiiSpan

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")
# 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
# Order and ticket numbers: a keyword, then an id with at least one digit. Brands add
# their own patterns (e.g. r"\bORD-\d{6}\b") through ``detect_pii(..., patterns=...)``.
DEFAULT_PATTERNS: dict[str, str] = {
    "order": (
        r"(?i)\b(?:order|bestellung|bestellnummer|commande|pedido|ordine|encomenda)"
        r"(?:\s*(?:no\.?|number|nr\.?|n[°º]|#|id|num[eé]ro|numero|número))?\s*[:#]?\s*"
        r"(?P<id>[A-Z]{0,4}-?\d[\dA-Z-]{3,20})"
    ),
    "ticket": (
        r"(?i)\b(?:ticket|case|incident|reference|ref|vorgang|dossier|caso|pratica|chamado)"
        r"(?:\s*(?:no\.?|number|nr\.?|#|id))?\s*[:#]?\s*(?P<id>[A-Z]{0,4}-?\d[\dA-Z-]{3,20})"
    ),
}
# A phone number has at least 7 digits in a row, allowing separators; texts without such a
# run skip the (slow) phonenumbers matcher.
_DIGIT = re.compile(r"\d")
_PHONE_HINT = re.compile(r"\d(?:[\s().-]{0,3}\d){6,}")
DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "PT", "BR", "IN", "NL")
# National phone formats to try per message language ("+" numbers are found whatever the
# region); fewer regions is less time in phonenumbers, which dominates PII cost.
REGIONS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "en": ("US", "GB", "IN", "AU", "IE"),
    "de": ("DE", "AT", "CH"),
    "fr": ("FR", "BE", "CH", "CA"),
    "es": ("ES", "MX", "AR", "CO", "US"),
    "it": ("IT", "CH"),
    "pt": ("PT", "BR"),
    "nl": ("NL", "BE"),
    "ar": ("SA", "AE", "EG", "MA"),
    "hi": ("IN",),
}


def regions_for(lang: str | None) -> tuple[str, ...]:
    return REGIONS_BY_LANGUAGE.get(lang or "", DEFAULT_REGIONS)


_MAX_SCAN = 20_000  # PII scanning of giant messages stops here (bounded time)


def luhn_valid(digits: str) -> bool:
    d = [int(c) for c in digits if c.isdigit()]
    if len(d) < 12:
        return False
    total = 0
    for i, x in enumerate(reversed(d)):
        if i % 2 == 1:
            x *= 2
            if x > 9:
                x -= 9
        total += x
    return total % 10 == 0


_compiled_cache: dict[tuple[tuple[str, str], ...], list[tuple[str, re.Pattern[str]]]] = {}


def _compiled(patterns: dict[str, str]) -> list[tuple[str, re.Pattern[str]]]:
    key = tuple(sorted(patterns.items()))
    if key not in _compiled_cache:
        _compiled_cache[key] = [(k, re.compile(v)) for k, v in key]
    return _compiled_cache[key]


def _overlaps(span: tuple[int, int], taken: Iterable[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in taken)


def detect_pii(
    text: str,
    *,
    patterns: dict[str, str] | None = None,
    regions: Sequence[str] = DEFAULT_REGIONS,
) -> list[PiiSpan]:
    """All personal-data spans in ``text``, sorted by start, without overlaps.

    Order: e-mails, then cards (Luhn-valid only, so an order number is not mistaken for a
    card), then the configured id patterns, then phone numbers.
    """
    if not text:
        return []
    text = text[:_MAX_SCAN]
    spans: list[PiiSpan] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, a: int, b: int) -> None:
        if not _overlaps((a, b), taken):
            taken.append((a, b))
            spans.append(PiiSpan(kind, a, b, text[a:b]))

    if "@" in text:
        for m in _EMAIL.finditer(text):
            add("email", m.start(), m.end())
    if not _DIGIT.search(text):
        return sorted(spans, key=lambda s: s.start)
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            add("card", m.start(), m.end())
    for kind, rx in _compiled(patterns if patterns is not None else DEFAULT_PATTERNS):
        for m in rx.finditer(text):
            g = "id" if "id" in rx.groupindex else 0
            add(kind, m.start(g), m.end(g))
    if _PHONE_HINT.search(text):
        before = len(spans)
        _phones(text, regions, add)
        if len(spans) == before and tuple(regions) != DEFAULT_REGIONS:
            # The message's language may be misjudged (short texts): try the wider set.
            _phones(text, [r for r in DEFAULT_REGIONS if r not in regions], add)
    return sorted(spans, key=lambda s: s.start)


def _phones(text: str, regions: Sequence[str], add: object) -> None:
    import phonenumbers

    seen: set[tuple[int, int]] = set()
    # "+" numbers are found whatever the region; national formats need a region guess, so
    # every configured region is tried and only valid numbers are kept.
    for region in regions or ("US",):
        try:
            matcher = phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID, max_tries=200
            )
            for m in matcher:
                key = (m.start, m.end)
                if key in seen:
                    continue
                seen.add(key)
                add("phone", m.start, m.end)  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - a parser bug must never break triage
            continue


def redact(text: str, spans: list[PiiSpan]) -> str:
    out = text
    for s in sorted(spans, key=lambda s: s.start, reverse=True):
        out = out[: s.start] + f"[{s.kind}]" + out[s.end :]
    return out
