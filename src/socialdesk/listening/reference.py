"""A deliberately simple evaluator: walk the AST, scan the token list for every term.

It shares only the tokenizer and the field semantics with the compiled matcher, so property tests
can check that the prefilter and candidate evaluation never change an answer. The benchmark uses
it as the naive baseline too (every rule evaluated on every message).
"""

from __future__ import annotations

from socialdesk.listening.matcher import field_matches, near_ok
from socialdesk.listening.query import And, Field, Near, Node, Not, Or, Term, normalize, parse, tokenize


def _token_ok(query_tok: str, text_tok: str, prefix: bool) -> bool:
    if query_tok[0] in "#@":
        return text_tok[0] == query_tok[0] and (
            text_tok.startswith(query_tok) if prefix else text_tok == query_tok
        )
    bare = text_tok[1:] if text_tok[0] in "#@" else text_tok
    return bare.startswith(query_tok) if prefix else bare == query_tok


def occurrences(term: Term, tokens: list[str]) -> list[tuple[int, int]]:
    n = len(term.tokens)
    out = []
    for start in range(len(tokens) - n + 1):
        if all(
            _token_ok(q, tokens[start + i], term.prefix and i == n - 1) for i, q in enumerate(term.tokens)
        ):
            out.append((start, start + n - 1))
    return out


def evaluate(node: Node, tokens: list[str], meta: dict[str, str]) -> bool:
    if isinstance(node, Term):
        return bool(occurrences(node, tokens))
    if isinstance(node, Near):
        return near_ok(occurrences(node.left, tokens), occurrences(node.right, tokens), node.distance)
    if isinstance(node, Field):
        return field_matches(node, meta)
    if isinstance(node, Not):
        return not evaluate(node.operand, tokens, meta)
    if isinstance(node, And):
        return all(evaluate(o, tokens, meta) for o in node.operands)
    if isinstance(node, Or):
        return any(evaluate(o, tokens, meta) for o in node.operands)
    raise TypeError(node)  # pragma: no cover


def reference_match(query: str | Node, text: str, **meta: str | None) -> bool:
    node = parse(query) if isinstance(query, str) else query
    clean = {k: normalize(v).lstrip("@") if k == "author" else normalize(v) for k, v in meta.items() if v}
    return evaluate(node, tokenize(text), clean)
