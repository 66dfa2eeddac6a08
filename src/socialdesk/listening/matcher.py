"""Thousands of listening rules against every message: one Aho-Corasick pass, then only candidates.

Compilation interns every distinct term of every rule once, keys it in one automaton by its bare
tokens (" next day " / " deliver"), and gives each rule an *anchor set*: terms of which at least
one must occur for the rule to match at all. A message is tokenised once, the automaton finds every
term occurrence in one C-level scan, and only rules whose anchors occurred are evaluated. Rules that
can match without any term (only NOT or field filters) are evaluated for every message; there are
few of them in practice, and `Matcher.unanchored` says how many.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from socialdesk.listening.query import And, Field, Near, Node, Not, Term, normalize, parse, tokenize

Span = tuple[int, int]  # first and last token index of one occurrence


@dataclass(slots=True)
class Document:
    """A message as the matcher sees it: tokens and the metadata that field filters read."""

    tokens: list[str]
    meta: dict[str, str] = field(default_factory=dict)
    bare: str = ""

    @classmethod
    def of(cls, text: str, **meta: str | None) -> Document:
        tokens = tokenize(text)
        joined = " " + " ".join(tokens) + " "
        return cls(
            tokens=tokens,
            meta={
                k: normalize(v).lstrip("@") if k == "author" else normalize(v) for k, v in meta.items() if v
            },
            # Tokens never contain '#' or '@' except as a leading sigil, so two C-level replaces
            # give the sigil-free text the automaton scans.
            bare=joined.replace("#", "").replace("@", "") if ("#" in joined or "@" in joined) else joined,
        )


def field_matches(f: Field, meta: dict[str, str]) -> bool:
    """Field filters read triage and message metadata; missing metadata never matches."""
    have = meta.get(f.name, "")
    if not have:
        return False
    if f.name == "lang":
        return have.split("-")[0] == f.value
    if f.name == "issue":
        return have == f.value or f.value in have.split("_")
    return have == f.value


def near_ok(left: list[Span], right: list[Span], distance: int) -> bool:
    """Two occurrences that do not overlap, at most `distance` words apart (1 = adjacent)."""
    for ls, le in left:
        for rs, re_ in right:
            if le < rs:
                if rs - le <= distance:
                    return True
            elif re_ < ls and ls - re_ <= distance:
                return True
    return False


_PRESENT: list[Span] = []  # shared marker for terms whose positions nobody reads (never mutated)

Evaluator = Callable[[dict[int, list[Span]], dict[str, str]], bool]


@dataclass(slots=True)
class _Key:
    tokens: tuple[str, ...]  # bare tokens
    prefix: bool
    terms: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)  # (term id, sigils)


class Matcher:
    """Compiled rules. `match(doc)` returns the ids of the rules that match."""

    def __init__(self, rules: Iterable[tuple[Hashable, str | Node]]) -> None:
        self._term_ids: dict[Term, int] = {}
        self._keys: list[_Key] = []
        self._key_index: dict[tuple[tuple[str, ...], bool], int] = {}
        self._rules_by_term: list[list[int]] = []
        self.rule_ids: list[Hashable] = []
        self._evaluators: list[Evaluator] = []
        self.unanchored: list[int] = []
        self._positional: set[int] = set()
        for rule_id, query in rules:
            node = parse(query) if isinstance(query, str) else query
            index = len(self.rule_ids)
            self.rule_ids.append(rule_id)
            self._evaluators.append(self._compile(node))
            anchors = self._anchors(node)
            if anchors is None:
                self.unanchored.append(index)
            else:
                for term_id in anchors:
                    self._rules_by_term[term_id].append(index)
        self._automaton = ahocorasick.Automaton()
        for key in self._keys:
            text = " " + " ".join(key.tokens) + ("" if key.prefix else " ")
            # Most terms only need "occurred"; positions are computed for NEAR and sigil checks only.
            presence = tuple(t for t, sig in key.terms if not any(sig) and t not in self._positional)
            positional = tuple(t for t, sig in key.terms if not any(sig) and t in self._positional)
            sigiled = tuple((t, sig) for t, sig in key.terms if any(sig))
            self._automaton.add_word(text, (len(key.tokens) - 1, len(text), presence, positional, sigiled))
        if self._keys:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.rule_ids)

    # -- compilation --------------------------------------------------------------------------

    def _term(self, term: Term) -> int:
        term_id = self._term_ids.get(term)
        if term_id is not None:
            return term_id
        term_id = len(self._term_ids)
        self._term_ids[term] = term_id
        self._rules_by_term.append([])
        bare = tuple(t[1:] if t[0] in "#@" else t for t in term.tokens)
        sigils = tuple(t[0] if t[0] in "#@" else "" for t in term.tokens)
        key_id = self._key_index.get((bare, term.prefix))
        if key_id is None:
            key_id = len(self._keys)
            self._key_index[(bare, term.prefix)] = key_id
            self._keys.append(_Key(bare, term.prefix))
        self._keys[key_id].terms.append((term_id, sigils))
        return term_id

    def _compile(self, node: Node) -> Evaluator:
        if isinstance(node, Term):
            tid = self._term(node)
            return lambda hits, meta: tid in hits
        if isinstance(node, Near):
            a, b, d = self._term(node.left), self._term(node.right), node.distance
            self._positional.update((a, b))
            return lambda hits, meta: a in hits and b in hits and near_ok(hits[a], hits[b], d)
        if isinstance(node, Field):
            if node.name in ("lang", "issue"):
                return lambda hits, meta: field_matches(node, meta)
            name, value = node.name, node.value
            return lambda hits, meta: meta.get(name) == value
        if isinstance(node, Not):
            inner = self._compile(node.operand)
            return lambda hits, meta: not inner(hits, meta)
        parts = [self._compile(o) for o in node.operands]
        # Two-operand groups (most of them) as one plain lambda: cheaper than all()/any() on a generator.
        if isinstance(node, And):
            if len(parts) == 2:
                a, b = parts
                return lambda hits, meta: a(hits, meta) and b(hits, meta)
            return lambda hits, meta: all(p(hits, meta) for p in parts)
        if len(parts) == 2:
            a, b = parts
            return lambda hits, meta: a(hits, meta) or b(hits, meta)
        return lambda hits, meta: any(p(hits, meta) for p in parts)

    def _anchors(self, node: Node) -> set[int] | None:
        """Terms of which one must occur for `node` to be true; None if no such set exists."""
        if isinstance(node, Term):
            return {self._term(node)}
        if isinstance(node, Near):
            return {self._term(node.left)}
        if isinstance(node, Field | Not):
            return None
        sets = [self._anchors(o) for o in node.operands]
        if isinstance(node, And):
            known = [s for s in sets if s is not None]
            return min(known, key=len) if known else None
        if any(s is None for s in sets):
            return None
        return set().union(*sets)  # type: ignore[arg-type]

    # -- matching -----------------------------------------------------------------------------

    def hits(self, doc: Document) -> dict[int, list[Span]]:
        """Every occurrence of every term, by term id, from one automaton scan."""
        found: dict[int, list[Span]] = {}
        if not self._keys:
            return found
        bare, tokens = doc.bare, doc.tokens
        for end, (width, length, presence, positional, sigiled) in self._automaton.iter(bare):
            for term_id in presence:
                found[term_id] = _PRESENT
            if not positional and not sigiled:
                continue
            # The key begins with the space before its first token; the spaces before that one
            # count the tokens before it.
            first = bare.count(" ", 0, end - length + 1)
            span = (first, first + width)
            for term_id in positional:
                found.setdefault(term_id, []).append(span)
            for term_id, sigils in sigiled:
                if any(s and tokens[first + i][0] != s for i, s in enumerate(sigils)):
                    continue
                found.setdefault(term_id, []).append(span)
        return found

    def match(self, doc: Document) -> list[Hashable]:
        found = self.hits(doc)
        candidates: set[int] = set(self.unanchored)
        rules_by_term = self._rules_by_term
        for term_id in found:
            candidates.update(rules_by_term[term_id])
        evaluators = self._evaluators
        return [self.rule_ids[i] for i in sorted(candidates) if evaluators[i](found, doc.meta)]

    def match_text(self, text: str, **meta: str | None) -> list[Hashable]:
        return self.match(Document.of(text, **meta))


def matches(query: str | Node, text: str, **meta: str | None) -> bool:
    """One query against one text (previews and tests; use a Matcher for many rules)."""
    return bool(Matcher([(0, query)]).match_text(text, **meta))


def describe(matcher: Matcher) -> dict[str, Any]:
    return {
        "rules": len(matcher),
        "terms": len(matcher._term_ids),
        "keys": len(matcher._keys),
        "unanchored_rules": len(matcher.unanchored),
    }
