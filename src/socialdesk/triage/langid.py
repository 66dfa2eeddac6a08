"""Language identification: the fast char n-gram model over the languages it was trained on
(UMSAB's eight), restricted to the brand's candidate languages, with ``lingua`` as the
fallback for scripts and languages outside that set."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

from .types import LanguageResult

# Letters of scripts the fast model never saw (Greek, Cyrillic, Hebrew, other Indic, Thai,
# CJK, Hangul, ...): texts dominated by them go to lingua.
_OTHER_SCRIPT = re.compile(
    r"[\u0370-\u05FF\u0700-\u074F\u0780-\u08FF\u0980-\u0DFF\u0E00-\u0FFF\u1000-\u1FFF"
    r"\u3040-\u30FF\u3400-\u9FFF\uAC00-\uD7AF]"
)
_DEVANAGARI = re.compile(r"[\u0900-\u097F]")
_LETTER = re.compile(r"[^\W\d_]")
MIN_CONFIDENT = 0.5


@lru_cache(maxsize=8)
def _lingua(codes: tuple[str, ...] | None) -> Any:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    if codes:
        langs = []
        for c in codes:
            try:
                langs.append(getattr(IsoCode639_1, c.upper()))
            except AttributeError:
                continue
        if len(langs) >= 2:
            return LanguageDetectorBuilder.from_iso_codes_639_1(*langs).build()
    # All languages in high-accuracy mode take ~45 s and ~1 GB to load; low-accuracy mode
    # loads per script on demand in well under a few seconds, and is only a fallback here.
    return LanguageDetectorBuilder.from_all_spoken_languages().with_low_accuracy_mode().build()


_PRELOADED: Any = None


def preload() -> None:
    """Load every fallback language model now (about half a second and 110 MB) instead of one
    language at a time on first use, when a message would wait up to a few hundred ms for it.
    Long-lived workers call this before taking work."""
    global _PRELOADED
    if _PRELOADED is None:
        from lingua import LanguageDetectorBuilder

        _PRELOADED = (LanguageDetectorBuilder.from_all_spoken_languages().with_low_accuracy_mode()
                      .with_preloaded_language_models().build())


def lingua_detect(text: str, candidates: list[str] | None = None) -> LanguageResult:
    try:
        if not candidates and _PRELOADED is not None:
            det = _PRELOADED
        else:
            det = _lingua(tuple(sorted(candidates)) if candidates else None)
        values = det.compute_language_confidence_values(text[:2000])
    except Exception:  # noqa: BLE001 - language ID must never break triage
        return LanguageResult("und", 0.0, "lingua")
    if not values:
        return LanguageResult("und", 0.0, "lingua")
    top = values[0]
    return LanguageResult(top.language.iso_code_639_1.name.lower(), round(float(top.value), 4),
                          "lingua")


def decide(
    text: str,
    probs: np.ndarray,
    labels: list[str],
    *,
    lang_hint: str | None = None,
    candidates: list[str] | None = None,
    use_fallback: bool = True,
) -> tuple[LanguageResult, list[str]]:
    """Language of one message from the fast model's probabilities (over ``labels``)."""
    why: list[str] = []
    sample = text[:2000]
    letters = len(_LETTER.findall(sample))
    if letters == 0:
        if lang_hint:
            return LanguageResult(lang_hint, 0.5, "hint"), ["no letters; caller's hint"]
        return LanguageResult("und", 0.0, "none"), ["no letters"]
    cands = [c.lower() for c in candidates] if candidates else None
    other = len(_OTHER_SCRIPT.findall(sample))
    if use_fallback and other * 2 > letters:
        why.append("script outside the trained languages: lingua")
        return lingua_detect(text, cands), why
    p = probs.astype(np.float64).copy()
    if cands:
        mask = np.array([lab in cands for lab in labels])
        untrained = [c for c in cands if c not in labels]
        if mask.any():
            p = np.where(mask, p, 0.0)
            p /= p.sum()
            why.append(f"restricted to {','.join(sorted(cands))}")
        if untrained and use_fallback and (not mask.any() or p.max() < MIN_CONFIDENT):
            why.append("candidate languages outside the trained set: lingua")
            return lingua_detect(text, cands), why
    if lang_hint:
        h = lang_hint.lower()
        if h in labels:
            # The hint is a prior, not an override: it triples that language's odds.
            p = p * np.where(np.array(labels) == h, 3.0, 1.0)
            p /= p.sum()
            why.append(f"hint {h} weighted x3")
        elif p.max() < 0.9:
            return LanguageResult(h, 0.5, "hint"), [f"hint {h} (outside the trained set)"]
    k = int(p.argmax())
    # UMSAB's Hindi is romanised Hinglish full of English words, so the model calls short
    # plain English ("love you guys", 0.99) "hi". Unless the brand lists Hindi, short or
    # not-quite-sure Latin-script "hi" gives way to the next language. (On the validation
    # splits: 80 % of Hinglish tweets stay "hi"; no English tweet is called "hi".)
    if (labels[k] == "hi" and not _DEVANAGARI.search(sample)
            and (p[k] < 0.9 or letters < 20)
            and not (cands and "hi" in cands) and lang_hint != "hi"):
        p[k] = 0.0
        p /= max(p.sum(), 1e-12)
        k = int(p.argmax())
        why.append("Latin-script text not taken for Hindi")
    conf = float(p[k])
    if use_fallback and not cands and conf < MIN_CONFIDENT and letters >= 12:
        res = lingua_detect(text)
        if res.confidence > conf:
            return res, [*why, f"model unsure ({conf:.2f}): lingua"]
    why.append(f"char n-gram model: {labels[k]} {conf:.2f}")
    return LanguageResult(labels[k], round(conf, 4), "model"), why
