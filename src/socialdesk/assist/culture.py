"""Culture profiles: per-language data files (formality, acknowledgements, locale notes).

The shipped profiles live in ``assist/culture/*.json``. Admins edit them by placing a file
of the same name in ``<data_dir>/culture/``, which wins over the shipped one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from socialdesk.config import get_settings

SHIPPED = Path(__file__).parent / "culture"


@dataclass(frozen=True, slots=True)
class CultureProfile:
    language: str
    name: str
    formal_words: frozenset[str]
    informal_words: frozenset[str]
    default_formality: str
    formality_note: str
    acknowledgements: tuple[str, ...]
    greetings: tuple[str, ...]
    notes: dict[str, str] = field(default_factory=dict)


class CultureProfileError(ValueError):
    """A profile file that is not valid JSON or lacks a required field."""


def _parse(path: Path) -> CultureProfile:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        formality = data.get("formality", {})
        return CultureProfile(
            language=data["language"],
            name=data.get("name", data["language"]),
            formal_words=frozenset(formality.get("formal", [])),
            informal_words=frozenset(formality.get("informal", [])),
            default_formality=formality.get("default", "neutral"),
            formality_note=formality.get("note", ""),
            acknowledgements=tuple(a.lower() for a in data.get("acknowledgements", [])),
            greetings=tuple(g.lower() for g in data.get("greetings", [])),
            notes=dict(data.get("notes", {})),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CultureProfileError(f"{path}: not a valid culture profile ({exc})") from exc


@lru_cache(maxsize=64)
def _load(language: str, override_dir: str) -> CultureProfile | None:
    for folder in (Path(override_dir), SHIPPED):
        path = folder / f"{language}.json"
        if path.is_file():
            return _parse(path)
    return None


def profile_for(language: str | None) -> CultureProfile | None:
    if not language:
        return None
    code = language.lower().split("-")[0]
    return _load(code, str(get_settings().data_dir / "culture"))


def available_languages() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.json"))
