"""Listening matcher figures: throughput with N rules (one core), compile time, memory, vs a naive baseline.

    .venv/bin/python benchmarks/listening.py [--rules 10000] [--messages 50000] [--baseline-messages 300]

Messages are real tweets (SemEval-2017 4A collection in ../shared/data, or $SOCIALDESK_SHARED_DATA).
Rules are generated from that vocabulary with a fixed seed, in the shapes a listening team writes:
phrases, wildcards, AND/OR/NOT groups, NEAR/n, hashtags, mentions, and some field filters. The
baseline is what a do-it-yourself stack does: for every message, every rule, a compiled regex per
term evaluated over the normalised text. Both must return the same matches on the baseline sample.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import random
import re
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from socialdesk.listening.emerging import STOP_WORDS  # noqa: E402
from socialdesk.listening.matcher import Document, Matcher, field_matches  # noqa: E402
from socialdesk.listening.query import And, Field, Near, Node, Not, Or, Term, parse, tokenize  # noqa: E402
from socialdesk.listening.reference import occurrences  # noqa: E402

DATA = Path(os.environ.get("SOCIALDESK_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_tweets() -> list[str]:
    texts: list[str] = []
    folder = DATA / "semeval2017-task4a"
    for path in sorted(folder.glob("*.tsv")):
        with path.open(encoding="utf-8", errors="replace") as fh:
            for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(row) >= 3:
                    texts.append(row[2])
    if not texts:
        raise SystemExit(f"no tweets found under {folder}")
    return texts


def make_rules(texts: list[str], n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    handles: Counter[str] = Counter()
    for t in texts:
        for tok in tokenize(t):
            if tok[0] == "#":
                tags[tok] += 1
            elif tok[0] == "@":
                handles[tok] += 1
            elif tok.isalpha() and len(tok) > 3 and tok not in STOP_WORDS:
                counts[tok] += 1
    # Mid-frequency words: brand/product/topic-like terms, not "the" and not typos.
    words = [w for w, c in counts.most_common(20000)[150:]]
    top_tags = [t for t, _ in tags.most_common(2000)]
    top_handles = [h for h, _ in handles.most_common(2000)]

    def w() -> str:
        return rng.choice(words)

    shapes = [
        lambda: f'"{w()} {w()}" OR {w()}',
        lambda: f"{w()[:5]}* AND ({w()} OR {w()})",
        lambda: f"{w()} AND {w()} NOT {w()}",
        lambda: f"{w()} NEAR/3 {w()}",
        lambda: f"{rng.choice(top_tags)} OR {w()}",
        lambda: f"{rng.choice(top_handles)} {w()}",
        lambda: f"({w()} OR {w()} OR {w()}) lang:en",
        lambda: f"{w()} sentiment:negative",
        lambda: f'"{w()} {w()} {w()}"',
        lambda: f"{w()} OR {w()}",
    ]
    return [shapes[i % len(shapes)]() for i in range(n)]


class NaiveRule:
    """One rule as a DIY stack writes it: a regex per term, evaluated for every message."""

    def __init__(self, query: str) -> None:
        self.node = parse(query)
        self.regex: dict[Term, re.Pattern[str]] = {}
        self._compile(self.node)

    def _compile(self, node: Node) -> None:
        if isinstance(node, Term):
            parts = []
            for i, tok in enumerate(node.tokens):
                body = re.escape(tok) if tok[0] in "#@" else "[#@]?" + re.escape(tok)
                if node.prefix and i == len(node.tokens) - 1:
                    body += r"\S*"
                parts.append(body)
            self.regex[node] = re.compile("(?<= )" + " ".join(parts) + "(?= )")
        elif isinstance(node, Near):
            self._compile(node.left)
            self._compile(node.right)
        elif isinstance(node, Not):
            self._compile(node.operand)
        elif isinstance(node, And | Or):
            for o in node.operands:
                self._compile(o)

    def match(self, joined: str, tokens: list[str], meta: dict[str, str]) -> bool:
        return self._eval(self.node, joined, tokens, meta)

    def _eval(self, node: Node, joined: str, tokens: list[str], meta: dict[str, str]) -> bool:
        if isinstance(node, Term):
            return self.regex[node].search(joined) is not None
        if isinstance(node, Near):
            if not (self.regex[node.left].search(joined) and self.regex[node.right].search(joined)):
                return False
            from socialdesk.listening.matcher import near_ok

            return near_ok(occurrences(node.left, tokens), occurrences(node.right, tokens), node.distance)
        if isinstance(node, Field):
            return field_matches(node, meta)
        if isinstance(node, Not):
            return not self._eval(node.operand, joined, tokens, meta)
        if isinstance(node, And):
            return all(self._eval(o, joined, tokens, meta) for o in node.operands)
        return any(self._eval(o, joined, tokens, meta) for o in node.operands)


def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--baseline-messages", type=int, default=300)
    args = ap.parse_args()

    texts = load_tweets()
    rng = random.Random(1)
    messages = [texts[rng.randrange(len(texts))] for _ in range(args.messages)]
    metas = [{"lang": "en", "sentiment": rng.choice(["negative", "neutral", "positive"])} for _ in messages]
    rules = make_rules(texts, args.rules)
    print(f"data: {len(texts)} tweets from {DATA}; {args.messages} messages sampled; {len(rules)} rules")

    gc.collect()
    rss0 = rss_kib()
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    matcher = Matcher(list(enumerate(rules)))
    compile_s, compile_cpu = time.perf_counter() - t0, time.process_time() - c0
    traced, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gc.collect()
    rss1 = rss_kib()
    del matcher
    gc.collect()
    c0 = time.process_time()
    matcher = Matcher(list(enumerate(rules)))
    compile_plain = time.process_time() - c0
    stats = matcher._automaton.get_stats()
    print(
        f"compile: {compile_plain:.2f} CPU-s "
        f"({compile_cpu:.2f} CPU-s / {compile_s:.2f} s wall with tracemalloc on) "
        f"for {len(rules)} rules "
        f"({len(matcher._term_ids)} distinct terms, {len(matcher.unanchored)} unanchored rules)"
    )
    print(
        f"memory: {traced / 2**20:.1f} MiB Python objects (tracemalloc), "
        f"automaton {stats['total_size'] / 2**20:.1f} MiB, process RSS +{(rss1 - rss0) / 1024:.1f} MiB"
    )

    # Warm-up, then the timed run: tokenise + prefilter + candidate evaluation, per message.
    for text, meta in zip(messages[:1000], metas[:1000], strict=True):
        matcher.match(Document.of(text, **meta))
    # One thread = one core. CPU time is what the process itself used, so a busy shared machine
    # does not distort the figure; wall time is printed beside it.
    t0, c0 = time.perf_counter(), time.process_time()
    total_matches = 0
    for text, meta in zip(messages, metas, strict=True):
        total_matches += len(matcher.match(Document.of(text, **meta)))
    fast_s, fast_cpu = time.perf_counter() - t0, time.process_time() - c0
    fast_rate = len(messages) / fast_cpu
    print(
        f"compiled matcher: {fast_rate:,.0f} messages per CPU-second on one core "
        f"(wall {len(messages) / fast_s:,.0f}/s; {fast_cpu:.2f} CPU-s for {len(messages)}; "
        f"{total_matches / len(messages):.2f} rule matches per message)"
    )

    naive = [NaiveRule(q) for q in rules]
    sample = list(zip(messages[: args.baseline_messages], metas[: args.baseline_messages], strict=True))
    t0 = time.process_time()
    naive_results = []
    for text, meta in sample:
        doc = Document.of(text, **meta)
        joined = " " + " ".join(doc.tokens) + " "
        naive_results.append([i for i, r in enumerate(naive) if r.match(joined, doc.tokens, doc.meta)])
    naive_s = time.process_time() - t0
    naive_rate = len(sample) / naive_s
    fast_results = [matcher.match(Document.of(t, **m)) for t, m in sample]
    agree = sum(a == b for a, b in zip(naive_results, fast_results, strict=True))
    print(
        f"naive per-rule regex baseline: {naive_rate:,.1f} messages per CPU-second on one core "
        f"({naive_s:.2f} CPU-s for {len(sample)} messages)"
    )
    print(
        f"ratio compiled/naive: {fast_rate / naive_rate:,.0f}x; "
        f"same matches on {agree}/{len(sample)} messages"
    )
    print(f"target >= 20,000 msg/s with 10,000 rules: {'met' if fast_rate >= 20_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
