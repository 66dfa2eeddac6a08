"""The listening query language: text normalisation, tokens, a parser with precise errors, the AST.

Grammar (tightest binding first): field/term/phrase/(group) → NOT → NEAR/n → AND (or juxtaposition) → OR.

    query   := or EOF
    or      := and ("OR" and)*
    and     := near (["AND"] near)*
    near    := unary ("NEAR/" n unary)*        operands of NEAR must be words, phrases, tags
    unary   := "NOT" unary | primary
    primary := "(" or ")" | FIELD ":" value | "phrase" | #tag | @handle | word | word*

Text and query words go through the same `normalize` and `tokenize`, so what a query word means is
exactly what it would be in a message: case- and accent-folded, split at word boundaries, each CJK
ideograph/kana a token of its own, each emoji a token of its own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

FIELDS = ("lang", "platform", "author", "country", "sentiment", "issue")
SENTIMENTS = ("negative", "neutral", "positive")
MAX_NEAR = 100


class QueryError(ValueError):
    """A malformed query: where (0-based character offset) and what was expected."""

    def __init__(self, message: str, position: int, query: str) -> None:
        self.position = position
        self.query = query
        self.reason = message
        pointer = " " * position + "^"
        super().__init__(f"{message} at position {position}\n  {query}\n  {pointer}")

    def to_dict(self) -> dict[str, object]:
        return {"error": self.reason, "position": self.position, "query": self.query}


# --- normalisation and tokens ------------------------------------------------------------------

_DROP = {"\u200d", "\ufe0e", "\ufe0f"}  # zero-width joiner, variation selectors


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def normalize(text: str) -> str:
    """Case-fold and strip accents (é→e, ß→ss, ﬁ→fi); keeps letters of every script."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if any(unicodedata.combining(ch) or ch in _DROP for ch in decomposed):
        decomposed = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch not in _DROP)
    return decomposed


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_EMOJI = "\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001f3fa\U0001f400-\U0001faff"
_WORD = f"[^\\W{_CJK}]+"  # word characters except CJK (those are tokens one by one)
# One alternation in C beats a per-character loop in Python by an order of magnitude.
_TOKEN = re.compile(f"(?<!\\w)[#@]{_WORD}|[{_CJK}]|[{_EMOJI}]|{_WORD}")
_ASCII_TOKEN = re.compile(r"(?<!\w)[#@]\w+|\w+", re.ASCII)


def tokenize(text: str, *, normalized: bool = False) -> list[str]:
    """Tokens of a text: words, `#tag`, `@handle`, single CJK characters, single emoji.

    A hashtag or handle is one token with its sigil; everything else that is not a word
    character (punctuation, spaces, apostrophes, hyphens) separates words. `a@b` inside an
    e-mail address is two words, not a mention.
    """
    text = text if normalized else normalize(text)
    # Plain ASCII (most traffic) has no CJK and no emoji: a simpler pattern does the same split.
    return (_ASCII_TOKEN if text.isascii() else _TOKEN).findall(text)


_CJK_RE = re.compile(f"[{_CJK}]")


# --- the AST -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """A word (one token), a phrase (several tokens in order), a prefix (`deliver*`),
    a hashtag (`#tag`, one token) or a mention (`@handle`, one token)."""

    tokens: tuple[str, ...]
    prefix: bool = False  # the last token is a prefix

    @property
    def key(self) -> str:
        return " ".join(self.tokens) + ("*" if self.prefix else "")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Near:
    left: Term
    right: Term
    distance: int


Node = Term | Field | Not | And | Or | Near


def render(node: Node) -> str:
    """The query text of an AST (parse(render(x)) == x)."""
    if isinstance(node, Term):
        if node.prefix:
            return node.tokens[0] + "*"
        if len(node.tokens) == 1 and node.tokens[0][0] in "#@":
            return node.tokens[0]
        if (
            len(node.tokens) == 1
            and tokenize(node.tokens[0]) == [node.tokens[0]]
            and node.tokens[0].upper()
            not in (
                "AND",
                "OR",
                "NOT",
            )
        ):
            return node.tokens[0]
        return '"' + " ".join(node.tokens) + '"'
    if isinstance(node, Field):
        return f"{node.name}:{node.value}"
    if isinstance(node, Not):
        inner = render(node.operand)
        return f"NOT ({inner})" if isinstance(node.operand, Near) else f"NOT {inner}"
    if isinstance(node, Near):
        return f"{render(node.left)} NEAR/{node.distance} {render(node.right)}"
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(render(o) for o in node.operands) + ")"


# --- lexer -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Token:
    kind: str  # WORD PHRASE LPAREN RPAREN AND OR NOT NEAR FIELD EOF
    text: str
    pos: int
    value: object = None
    extra: dict[str, object] = field(default_factory=dict)


_SPECIAL = set('()"')
_NEAR = re.compile(r"NEAR/(\d+)$")


def _lex(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "(":
            tokens.append(Token("LPAREN", ch, i))
            i += 1
            continue
        if ch == ")":
            tokens.append(Token("RPAREN", ch, i))
            i += 1
            continue
        if ch == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError("unterminated phrase: expected a closing '\"'", i, query)
            tokens.append(Token("PHRASE", query[i : end + 1], i, query[i + 1 : end]))
            i = end + 1
            continue
        j = i
        while j < n and not query[j].isspace() and query[j] not in _SPECIAL:
            j += 1
        word = query[i:j]
        if word in ("AND", "OR", "NOT"):
            tokens.append(Token(word, word, i))
        elif word.upper().startswith("NEAR/") and word.startswith("NEAR"):
            m = _NEAR.match(word)
            if not m:
                raise QueryError("NEAR needs a distance: expected NEAR/n with a whole number n", i, query)
            distance = int(m.group(1))
            if not 1 <= distance <= MAX_NEAR:
                raise QueryError(f"NEAR distance must be between 1 and {MAX_NEAR}", i + 5, query)
            tokens.append(Token("NEAR", word, i, distance))
        elif ":" in word and word.split(":", 1)[0].lower() in FIELDS:
            name, _, value = word.partition(":")
            if not value:
                raise QueryError(f"expected a value after '{name}:'", j, query)
            tokens.append(Token("FIELD", word, i, (name.lower(), value)))
        elif (
            ":" in word
            and word.split(":", 1)[0].isalpha()
            and not word.split(":", 1)[1].startswith("/")  # a URL is words, not a field
            and not word.startswith(("#", "@"))
        ):
            name = word.split(":", 1)[0]
            raise QueryError(f"unknown field {name!r}: expected one of {', '.join(FIELDS)}", i, query)
        else:
            tokens.append(Token("WORD", word, i))
        i = j
    tokens.append(Token("EOF", "", n))
    return tokens


# --- parser ------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _lex(query)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None) -> QueryError:
        tok = tok or self.tok
        return QueryError(message, tok.pos, self.query)

    def parse(self) -> Node:
        if self.tok.kind == "EOF":
            raise self.error('empty query: expected a word, a "phrase", a #hashtag, an @mention or a field')
        node = self.parse_or()
        if self.tok.kind == "RPAREN":
            raise self.error("unbalanced ')': no '(' opened it")
        if self.tok.kind != "EOF":  # pragma: no cover - every other token starts an operand
            raise self.error("expected AND, OR or the end of the query")
        return node

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.tok.kind == "OR":
            self.i += 1
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    _STARTS = ("WORD", "PHRASE", "LPAREN", "NOT", "FIELD")

    def parse_and(self) -> Node:
        operands = [self.parse_near()]
        while self.tok.kind in ("AND", *self._STARTS):
            if self.tok.kind == "AND":
                self.i += 1
            operands.append(self.parse_near())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_near(self) -> Node:
        left_tok = self.tok
        node = self.parse_unary()
        while self.tok.kind == "NEAR":
            near = self.tok
            if not isinstance(node, Term):
                raise self.error(
                    "NEAR joins words, phrases, #hashtags or @mentions, not this operand", left_tok
                )
            self.i += 1
            right_tok = self.tok
            right = self.parse_unary()
            if not isinstance(right, Term):
                raise self.error("expected a word, phrase, #hashtag or @mention after NEAR/n", right_tok)
            node = Near(node, right, int(near.value))  # type: ignore[arg-type]
            if self.tok.kind == "NEAR":
                raise self.error("NEAR cannot be chained: group with AND, e.g. (a NEAR/3 b) AND (b NEAR/3 c)")
        return node

    def parse_unary(self) -> Node:
        if self.tok.kind == "NOT":
            self.i += 1
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "LPAREN":
            self.i += 1
            if self.tok.kind == "RPAREN":
                raise self.error("empty parentheses: expected a term inside '(' ')'")
            node = self.parse_or()
            if self.tok.kind != "RPAREN":
                raise self.error(f"expected ')' to close the '(' opened at position {tok.pos}")
            self.i += 1
            return node
        if tok.kind == "PHRASE":
            self.i += 1
            words = tokenize(str(tok.value))
            if not words:
                raise self.error("empty phrase: expected words between the quotes", tok)
            return Term(tuple(words))
        if tok.kind == "WORD":
            self.i += 1
            return self.word(tok)
        if tok.kind == "FIELD":
            self.i += 1
            return self.field_(tok)
        if tok.kind == "EOF":
            raise self.error("unexpected end of query: expected a word, a \"phrase\", '(' or a field")
        if tok.kind == "RPAREN":
            raise self.error("unexpected ')': expected a word, a \"phrase\", '(' or a field")
        raise self.error(f"unexpected {tok.text}: expected a word, a \"phrase\", '(' or a field")

    def word(self, tok: Token) -> Term:
        raw = tok.text
        if raw.endswith("*"):
            stem = raw[:-1]
            if "*" in stem:
                raise self.error("a wildcard '*' may only end a word", tok)
            words = tokenize(stem)
            if len(words) != 1 or words[0][0] in "#@" or _CJK_RE.match(words[0]):
                raise self.error("a wildcard needs a word stem before '*', e.g. deliver*", tok)
            if len(words[0]) < 2:
                raise self.error("a wildcard stem needs at least 2 characters", tok)
            return Term((words[0],), prefix=True)
        if "*" in raw:
            raise self.error("a wildcard '*' may only end a word", tok)
        if raw[0] in "#@":
            words = tokenize(raw)
            if len(words) != 1 or words[0][0] != raw[0] or len(words[0]) < 2:
                sigil = "hashtag" if raw[0] == "#" else "mention"
                raise self.error(f"expected a {sigil} like {raw[0]}name", tok)
            return Term((words[0],))
        words = tokenize(raw)
        if not words:
            raise self.error(f"{raw!r} has no letters, digits or emoji to match", tok)
        return Term(tuple(words))

    def field_(self, tok: Token) -> Field:
        name, value = tok.value  # type: ignore[misc]
        value = normalize(value)
        if name == "author":
            value = value.lstrip("@")
        if name == "sentiment" and value not in SENTIMENTS:
            raise QueryError(
                f"unknown sentiment {value!r}: expected one of {', '.join(SENTIMENTS)}",
                tok.pos + len(name) + 1,
                self.query,
            )
        if name in ("lang", "country") and not re.fullmatch(r"[a-z]{2,3}", value):
            raise QueryError(
                f"{name}: expects a 2-letter code like {'de' if name == 'lang' else 'DE'}",
                tok.pos + len(name) + 1,
                self.query,
            )
        if not value:
            raise self.error(f"expected a value after '{name}:'", tok)
        return Field(name, value)


def parse(query: str) -> Node:
    """Parse a query into its AST, or raise QueryError saying where and what was expected."""
    if len(query) > 4000:
        raise QueryError("query too long: at most 4000 characters", 4000, query[:4000])
    return _Parser(query).parse()


def terms(node: Node) -> list[Term]:
    """Every term in a query, in order."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Near):
        return [node.left, node.right]
    if isinstance(node, Not):
        return terms(node.operand)
    if isinstance(node, And | Or):
        return [t for o in node.operands for t in terms(o)]
    return []
