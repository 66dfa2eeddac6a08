"""Emerging issues: negative messages that no rule names, grouped by the key phrases they share.

Key phrases are pairs of adjacent content words ("leaky mascara", "mascara tube") after dropping
stop words, links, handles and numbers, plus hashtags. A phrase whose count in the sliding window
is high (enough messages from enough distinct authors), well above its own recent past and
growing, seeds a group: every phrase that appears in at least half of the seed's messages joins
it, and chained pairs become one label ("leaky mascara" + "mascara tube" → "leaky mascara tube").
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from socialdesk.listening.query import tokenize
from socialdesk.listening.spikes import poisson_sf

# Normalised (accent-free) like the tokens they are compared with.
_STOP_TEXT = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing don down during each few for from further get
    got had has have having he her here hers herself him himself his how i if in into is it its
    itself just let me more most my myself no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who whom why
    will with would you your yours yourself im ive dont cant wont didnt doesnt isnt thats theyre
    youre still even really also one two day today yesterday tomorrow time please thanks thank hi
    hello hey yes ok okay via amp rt lol omg u ur pls plz der die das und ist nicht ich es ein eine
    zu mit den von auf fur sie wir mein meine le la les et est pas je un une des du pour que qui
    dans ce mon ma el los las y yo una de en por para mi"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
NOISE_PREFIXES = ("http", "www")


def key_phrases(text: str) -> list[str]:
    """Adjacent content-word pairs and hashtags of a text, de-duplicated, in order."""
    words: list[str | None] = []
    tags: list[str] = []
    for tok in tokenize(text):
        if tok[0] == "#":
            if len(tok) > 3:
                tags.append(tok)
            words.append(None)
        elif (
            tok[0] == "@"
            or tok in STOP_WORDS
            or len(tok) < 3
            or tok.isdigit()
            or tok.startswith(NOISE_PREFIXES)
            or any(ch.isdigit() for ch in tok)
        ):
            words.append(None)
        else:
            words.append(tok)
    content = [w for w in words if w is not None]
    pairs = [f"{a} {b}" for a, b in zip(content, content[1:], strict=False)]
    return list(dict.fromkeys(pairs + tags))


class PhraseStore(Protocol):
    def hits(self, phrase: str, start: datetime, end: datetime) -> list[tuple[int, str]]:
        """(message id, author) of each hit of the phrase with start <= at < end."""
        ...

    def count(self, phrase: str, start: datetime, end: datetime) -> int: ...

    def phrases_of(self, message_ids: list[int]) -> dict[int, list[str]]: ...

    def history_start(self) -> datetime | None:
        """When the oldest phrase hit was stored (how much past there is to compare with)."""
        ...


@dataclass(frozen=True, slots=True)
class EmergingConfig:
    window_minutes: int = 60
    min_messages: int = 8
    min_authors: int = 5
    history_days: int = 7
    # Window count must exceed this multiple of the phrase's own past rate per window, and be
    # improbable under that rate (Poisson, rate inflated like the spike detector's)...
    min_ratio: float = 4.0
    p_value: float = 1e-4
    # ...and the count of the window before it (it is growing, not a steady topic).
    min_growth: float = 1.5
    cohesion: float = 0.5


@dataclass(slots=True)
class EmergingIssue:
    label: str
    phrases: list[str]
    message_ids: list[int]
    authors: int
    observed: int
    expected: float
    previous: int
    window_start: datetime
    window_end: datetime
    coverage: dict[str, float] = field(default_factory=dict)


def assess_phrase(
    store: PhraseStore, phrase: str, now: datetime, cfg: EmergingConfig = EmergingConfig()
) -> EmergingIssue | None:
    window = timedelta(minutes=cfg.window_minutes)
    start = now - window
    hits = store.hits(phrase, start, now)
    if len(hits) < cfg.min_messages:
        return None
    authors = len({a for _, a in hits if a}) or len(hits)
    if authors < cfg.min_authors:
        return None
    previous = store.count(phrase, start - window, start)
    if len(hits) < cfg.min_growth * previous:
        return None
    since = start - timedelta(days=cfg.history_days)
    first = store.history_start()
    if first is not None and first > since:
        since = first  # young history: average over what there is, not over seven empty days
    windows = max((start - since) / window, 1.0)
    per_window = store.count(phrase, since, start) / windows
    if len(hits) < cfg.min_ratio * max(per_window, 1.0):
        return None
    if poisson_sf(len(hits), per_window * 1.25 + 1.0) >= cfg.p_value:
        return None
    ids = [m for m, _ in hits]
    return group(store, phrase, ids, authors, per_window, previous, start, now, cfg)


def group(
    store: PhraseStore,
    seed: str,
    ids: list[int],
    authors: int,
    expected: float,
    previous: int,
    start: datetime,
    end: datetime,
    cfg: EmergingConfig,
) -> EmergingIssue:
    phrases_by_message = store.phrases_of(ids)
    counts: Counter[str] = Counter(p for ps in phrases_by_message.values() for p in set(ps))
    n = max(len(ids), 1)
    members = [p for p, c in counts.items() if c / n >= cfg.cohesion] or [seed]
    if seed not in members:
        members.append(seed)
    # Rank the group's phrases by how many messages carry them in the whole window: the phrase
    # at the centre of the complaint ("mascara tube") beats the seed's own wording ("anyone else").
    window_counts = {p: store.count(p, start, end) for p in members}
    top_count = max(window_counts.values()) or 1
    coverage = {p: window_counts[p] / top_count for p in members}
    ranked = sorted(coverage, key=lambda p: (-coverage[p], -len(p), p))
    return EmergingIssue(
        label=_label(ranked, coverage),
        phrases=ranked[:10],
        message_ids=sorted(ids),
        authors=authors,
        observed=len(ids),
        expected=round(expected, 2),
        previous=previous,
        window_start=start,
        window_end=end,
        coverage={p: round(coverage[p], 2) for p in ranked[:10]},
    )


def _label(ranked: list[str], coverage: dict[str, float]) -> str:
    """The top phrase, extended by pairs that chain onto it and cover almost as many messages."""
    top = ranked[0]
    if top.startswith("#"):
        return top
    words = top.split()
    strong = [p for p in ranked if not p.startswith("#") and coverage[p] >= 0.8 * coverage[top]]
    changed = True
    while changed and len(words) < 5:
        changed = False
        for p in strong:
            a, _, b = p.partition(" ")
            if a == words[-1] and b not in words:
                words.append(b)
                changed = True
            elif b == words[0] and a not in words:
                words.insert(0, a)
                changed = True
    return " ".join(words)


class MemoryPhrases:
    """Phrase hits in memory (the benchmark); the database has PhraseHit."""

    def __init__(self) -> None:
        # Per phrase: hit times (seconds, ascending: messages arrive in time order) and hits.
        self._times: dict[str, list[float]] = {}
        self._hits: dict[str, list[tuple[int, str]]] = {}
        self._by_message: dict[int, list[str]] = {}
        self._start: datetime | None = None

    def add(self, message_id: int, author: str, at: datetime, phrases: list[str]) -> None:
        if self._start is None or at < self._start:
            self._start = at
        self._by_message[message_id] = phrases
        for p in phrases:
            self._times.setdefault(p, []).append(at.timestamp())
            self._hits.setdefault(p, []).append((message_id, author))

    def _range(self, phrase: str, start: datetime, end: datetime) -> tuple[int, int]:
        times = self._times.get(phrase, [])
        return bisect_left(times, start.timestamp()), bisect_left(times, end.timestamp())

    def hits(self, phrase: str, start: datetime, end: datetime) -> list[tuple[int, str]]:
        a, b = self._range(phrase, start, end)
        return self._hits.get(phrase, [])[a:b]

    def count(self, phrase: str, start: datetime, end: datetime) -> int:
        a, b = self._range(phrase, start, end)
        return b - a

    def phrases_of(self, message_ids: list[int]) -> dict[int, list[str]]:
        return {m: self._by_message.get(m, []) for m in message_ids}

    def history_start(self) -> datetime | None:
        return self._start

    def set_history_start(self, at: datetime) -> None:
        self._start = at
