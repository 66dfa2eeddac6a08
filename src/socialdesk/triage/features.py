"""Hashed word and character n-gram features, computed for a whole batch in numpy.

sklearn's HashingVectorizer runs its character analyzer in Python (about 4,000 tweets/s); the
fast tier needs tens of thousands, so the hashing is done here over one array of code points
for the whole batch. A polynomial prefix hash (mod 2**64, numpy's uint64 wraps) gives the hash
of any substring in O(1), so character n-grams, words and word bigrams all come from the same
two arrays. Hashes are stable across processes and platforms (no use of Python's ``hash``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

BITS = 18
N_FEATURES = 1 << BITS
_P = np.uint64(1_000_003)
_PINV = np.uint64(pow(1_000_003, -1, 1 << 64))
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SALT_CHAR = 1
_SALT_WORD = 101
_SALT_BIGRAM = 202
CHAR_NS = (2, 3, 4, 5)

_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"(?:https?://|www\.)[^\s]+", re.IGNORECASE)
_REPEAT = re.compile(r"(.)\1{3,}")
_SPACE = re.compile(r"[^\S\n]+")

# Code point classes: 0 space, 1 word character, 2 anything else (punctuation, emoji) which
# becomes a one-character token. Built once; code points beyond the table count as word chars.
_TABLE_SIZE = 0x30000


def _build_table() -> np.ndarray:
    table = np.full(_TABLE_SIZE, 2, dtype=np.uint8)
    for cp in range(_TABLE_SIZE):
        ch = chr(cp)
        if ch.isspace():
            table[cp] = 0
        elif ch.isalnum() or ch == "_" or 0x0300 <= cp <= 0x036F or 0x0900 <= cp <= 0x097F:
            # Devanagari vowel signs are not isalnum() but belong inside words.
            table[cp] = 1
    return table


_CLASS: np.ndarray | None = None


def _classes(codes: np.ndarray) -> np.ndarray:
    global _CLASS
    if _CLASS is None:
        _CLASS = _build_table()
    out = np.ones(codes.shape[0], dtype=np.uint8)
    inside = codes < _TABLE_SIZE
    out[inside] = _CLASS[codes[inside]]
    return out


def normalize(text: str) -> str:
    """TweetEval-style normalisation: @handles to ``@user``, URLs to ``http``, lower case."""
    text = _URL.sub("http", text.replace("\n", " "))
    text = _MENTION.sub("@user", text)
    text = _REPEAT.sub(r"\1\1\1", text)
    return _SPACE.sub(" ", text).strip().lower()


def normalize_batch(texts: list[str]) -> list[str]:
    # One regex pass over the joined batch is several times faster than one per text.
    joined = "\n".join(t.replace("\n", " ").replace("\r", " ") for t in texts)
    joined = _URL.sub("http", joined)
    joined = _MENTION.sub("@user", joined)
    joined = _SPACE.sub(" ", joined).lower()
    parts = joined.split("\n")
    return [p.strip() for p in parts]


_SALTED = {salt: np.uint64(salt * 0x9E3779B97F4A7C15 % (1 << 64))
           for salt in (_SALT_CHAR, _SALT_WORD, _SALT_BIGRAM)}
_S29 = np.uint64(29)
_SHIFT = np.uint64(64 - BITS)


def _mix(h: np.ndarray, salt: int) -> np.ndarray:
    # Multiply-xorshift finaliser on a fresh copy; the bucket takes the high bits. numpy wraps
    # uint64 array arithmetic silently (only scalar arithmetic warns), which is what we want.
    x = h + _SALTED[salt]
    x *= _M1
    x ^= x >> _S29
    x *= _M2
    return x


def _bucket(h: np.ndarray) -> np.ndarray:
    return (h >> _SHIFT).astype(np.int32)


@dataclass
class Features:
    """Per group the (doc, column, value) triples in document order; duplicates add up."""

    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    n_docs: int
    # For explanations: the joined normalised text, token spans in it, and per bigram entry
    # the index of its first token.
    joined: str = ""
    tok_starts: np.ndarray | None = None
    tok_ends: np.ndarray | None = None
    bi_first: np.ndarray | None = None
    # One message: the weight rows a model bank gathered for it (groups in order), by bank id,
    # so the explanation reads the same rows again instead of gathering them a second time.
    gathered: dict[int, np.ndarray] = field(default_factory=dict)

    def token_text(self, group: str, i: int) -> str:
        assert self.tok_starts is not None and self.tok_ends is not None
        if group == "word":
            return self.joined[self.tok_starts[i] : self.tok_ends[i]]
        assert self.bi_first is not None
        k = int(self.bi_first[i])
        a = self.joined[self.tok_starts[k] : self.tok_ends[k]]
        return a + " " + self.joined[self.tok_starts[k + 1] : self.tok_ends[k + 1]]

    def csr(self, group: str) -> sparse.csr_matrix:
        doc, cols, vals = self.groups[group]
        indptr = np.zeros(self.n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(doc, minlength=self.n_docs), out=indptr[1:])
        return sparse.csr_matrix((vals, cols, indptr), shape=(self.n_docs, N_FEATURES))

    def combined(self) -> sparse.csr_matrix:
        total = None
        for g in self.groups:
            m = self.csr(g)
            total = m if total is None else total + m
        assert total is not None
        total.sum_duplicates()
        return total.tocsr()

    def dot(self, weights: np.ndarray) -> np.ndarray:
        if self.n_docs == 1:
            # One gather and one vector-matrix product over all groups.
            cols = np.concatenate([g[1] for g in self.groups.values()])
            vals = np.concatenate([g[2] for g in self.groups.values()])
            rows = weights[cols]
            self.gathered[id(weights)] = rows
            return (vals @ rows)[None, :]
        out = np.zeros((self.n_docs, weights.shape[1]), dtype=np.float32)
        for g, (doc, cols, vals) in self.groups.items():
            if self.n_docs <= 4:
                # A few messages: a gather is much cheaper than building a sparse matrix.
                contrib = weights[cols] * vals[:, None]
                if self.n_docs == 1:
                    out[0] += contrib.sum(axis=0)
                else:
                    np.add.at(out, doc, contrib)
            else:
                out += self.csr(g) @ weights
        return out


Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


def _csr(doc: np.ndarray, cols: np.ndarray, n_docs: int) -> Triple:
    counts = np.bincount(doc, minlength=n_docs)
    # Each group is scaled to unit L2 norm for its raw n-gram list (1/sqrt(count)), so long
    # and short messages weigh alike; the same value is used at training and run time.
    scale = np.zeros(n_docs, dtype=np.float32)
    nz = counts > 0
    scale[nz] = 1.0 / np.sqrt(counts[nz])
    return doc, cols, scale[doc]


@dataclass
class _Prepared:
    codes: np.ndarray
    joined: str
    doc_of_pos: np.ndarray
    doc_end: np.ndarray
    prefix: np.ndarray
    pinv: np.ndarray
    n_docs: int


_POWERS: tuple[np.ndarray, np.ndarray] = (np.ones(0, np.uint64), np.ones(0, np.uint64))


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i (mod 2**64) for i < n, from a table kept per process and grown by
    doubling, so a message does not pay for two cumulative products."""
    global _POWERS
    pw, pinv = _POWERS
    if pw.shape[0] < n:
        size = max(n, 2 * pw.shape[0], 4096)
        pw = np.empty(size, dtype=np.uint64)
        pinv = np.empty(size, dtype=np.uint64)
        pw[0] = pinv[0] = 1
        pw[1:] = _P
        pinv[1:] = _PINV
        np.cumprod(pw, out=pw)
        np.cumprod(pinv, out=pinv)
        _POWERS = (pw, pinv)
    return pw[:n], pinv[:n]


def _prepare(normed: list[str]) -> _Prepared:
    padded = [" " + t + " " for t in normed]
    lens = np.fromiter((len(t) for t in padded), dtype=np.int64, count=len(padded))
    joined = "".join(padded)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = codes.shape[0]
    doc_of_pos = np.repeat(np.arange(len(padded), dtype=np.int64), lens)
    ends = np.cumsum(lens)
    doc_end = np.repeat(ends, lens)
    pw, pinv = _powers(n)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(codes * pw, out=prefix[1:])
    return _Prepared(codes, joined, doc_of_pos, doc_end, prefix, pinv, len(padded))


def _substring_hash(p: _Prepared, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    return (p.prefix[end] - p.prefix[start]) * p.pinv[start]


def featurize(texts: list[str], *, normalized: bool = False) -> Features:
    normed = texts if normalized else normalize_batch(texts)
    if len(normed) == 1:
        return _featurize_one(normed[0])
    p = _prepare(normed)
    n = p.codes.shape[0]
    pos = np.arange(n, dtype=np.int64)

    # Character n-grams: one row per start position, columns n=2..5; flattening row-major
    # keeps the entries in document order, which the CSR layout needs.
    hs = np.empty((n, len(CHAR_NS)), dtype=np.uint64)
    valid = np.empty((n, len(CHAR_NS)), dtype=bool)
    for j, k in enumerate(CHAR_NS):
        valid[:, j] = pos + k <= p.doc_end
        hs[:, j] = _substring_hash(p, pos, np.minimum(pos + k, n)) + np.uint64(k)
    flat_valid = valid.ravel()
    char_cols = _bucket(_mix(hs.ravel()[flat_valid], _SALT_CHAR))
    char_doc = np.repeat(p.doc_of_pos, len(CHAR_NS))[flat_valid]

    # Words: runs of word characters; every other non-space character is a token of its own.
    starts, ends = _tokens(p)
    tok_doc = p.doc_of_pos[starts]
    wh = _substring_hash(p, starts, ends)
    word_cols = _bucket(_mix(wh, _SALT_WORD))
    same = tok_doc[1:] == tok_doc[:-1]
    bh = _mix(wh[:-1] * _M1 + wh[1:], _SALT_BIGRAM)[same] if starts.size > 1 else wh[:0]
    bi_cols = _bucket(bh)
    bi_doc = tok_doc[1:][same] if starts.size > 1 else tok_doc[:0]
    bi_first = np.flatnonzero(same) if starts.size > 1 else starts[:0]

    groups = {
        "char": _csr(char_doc, char_cols, p.n_docs),
        "word": _csr(tok_doc, word_cols, p.n_docs),
        "bigram": _csr(bi_doc, bi_cols, p.n_docs),
    }
    return Features(groups, p.n_docs, p.joined, starts, ends, bi_first)


def _featurize_one(normed: str) -> Features:
    """``featurize`` for one message: the same (column, value) entries per group, without the
    per-document bookkeeping a batch needs. Serving triages one message per call, and at that
    size the fixed cost of each numpy call is most of the work."""
    padded = " " + normed + " "
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32)
    n = codes.shape[0]
    pw, pinv = _powers(n)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(codes * pw, out=prefix[1:])
    # Character n-grams of each length: every start position whose n-gram fits.
    char_h = np.concatenate([
        (prefix[k:] - prefix[: n + 1 - k]) * pinv[: n + 1 - k] + np.uint64(k)
        for k in CHAR_NS if k <= n
    ])
    char_cols = _bucket(_mix(char_h, _SALT_CHAR))
    p = _Prepared(codes, padded, np.zeros(0, np.int64), np.zeros(0, np.int64), prefix, pinv, 1)
    starts, ends = _tokens(p)
    wh = (prefix[ends] - prefix[starts]) * pinv[starts]
    word_cols = _bucket(_mix(wh, _SALT_WORD))
    bi_cols = _bucket(_mix(wh[:-1] * _M1 + wh[1:], _SALT_BIGRAM))

    def group(cols: np.ndarray) -> Triple:
        m = cols.shape[0]
        value = np.float32(1.0 / np.sqrt(m)) if m else np.float32(0.0)
        return np.zeros(m, dtype=np.int64), cols, np.full(m, value, dtype=np.float32)

    groups = {"char": group(char_cols), "word": group(word_cols), "bigram": group(bi_cols)}
    bi_first = np.arange(max(starts.size - 1, 0), dtype=np.int64)
    return Features(groups, 1, padded, starts, ends, bi_first)


def _tokens(p: _Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Token (start, end) positions: runs of word characters, and every other non-space
    character as a token of its own."""
    n = p.codes.shape[0]
    cls = _classes(p.codes) if n else np.zeros(0, dtype=np.uint8)
    is_word = cls == 1
    prev_word = np.concatenate(([False], is_word[:-1])) if n else is_word
    next_word = np.concatenate((is_word[1:], [False])) if n else is_word
    word_start = is_word & ~prev_word
    word_end = np.flatnonzero(is_word & ~next_word) + 1
    starts = np.flatnonzero(word_start | (cls == 2))
    ends = starts + 1
    ends[word_start[starts]] = word_end
    return starts, ends


def word_features(text: str, max_chars: int = 2000) -> list[tuple[str, int, float]]:
    """The readable features of one message (words and word bigrams): (text, bucket, value).

    Used to explain a decision; the buckets are computed exactly as ``featurize`` does.
    """
    normed = normalize(text[: max_chars * 2])[:max_chars]
    p = _prepare([normed])
    padded = " " + normed + " "
    starts, ends = _tokens(p)
    if starts.size == 0:
        return []
    wh = _substring_hash(p, starts, ends)
    cols = _bucket(_mix(wh, _SALT_WORD))
    toks = [padded[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=False)]
    v = 1.0 / float(np.sqrt(len(toks)))
    out = [(t, int(c), v) for t, c in zip(toks, cols.tolist(), strict=False)]
    if len(toks) > 1:
        bcols = _bucket(_mix(wh[:-1] * _M1 + wh[1:], _SALT_BIGRAM))
        v2 = 1.0 / float(np.sqrt(len(toks) - 1))
        out.extend(
            (f"{toks[k]} {toks[k + 1]}", int(c), v2) for k, c in enumerate(bcols.tolist())
        )
    return out
