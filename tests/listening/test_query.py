"""The query language: what it matches, the errors it gives, and the compiled matcher vs a reference."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialdesk.listening.matcher import Matcher, matches
from socialdesk.listening.query import And, Field, Near, Not, Or, QueryError, Term, parse, render, tokenize
from socialdesk.listening.reference import reference_match


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("apple", "I love pineapple", False),
        ("apple", "APPLE juice!", True),
        ("apple*", "applesauce for me", True),
        ("apple*", "pineapple", False),
        ("cafe", "Un café, s'il vous plaît", True),
        ("Müller", "mueller MULLER", True),
        ('"next day"', "Next-day delivery promised", True),
        ('"next day"', "day next", False),
        ("#delivery", "bad delivery", False),
        ("#delivery", "so slow #Delivery", True),
        ("delivery", "so slow #Delivery", True),
        ("@acme", "hey @ACME help", True),
        ("acme", "mail me at bob@acme.com", True),
        ("@acme", "mail me at bob@acme.com", False),
        ("东京", "我爱东京的夏天", True),
        ("东京", "我爱北京", False),
        ("🔥", "this is 🔥🔥", True),
        ("👍", "great 👍🏽", True),
        ("late NEAR/2 order", "order was very late", False),
        ("late NEAR/3 order", "order was very late", True),
        ("late NEAR/3 order", "late and my order", True),
        ("refund NOT pizza", "refund my pizza", False),
        ("refund OR (broken AND screen)", "the screen is broken", True),
        ("refund broken", "refund please", False),  # juxtaposition is AND
    ],
)
def test_matching_semantics(query, text, expected):
    assert matches(query, text) is expected
    assert reference_match(query, text) is expected


def test_field_filters_read_triage_and_metadata_and_missing_triage_never_matches():
    meta = dict(
        lang="de",
        platform="instagram",
        author="@Kunde1",
        country="DE",
        sentiment="negative",
        issue="order_status_shipping",
    )
    assert matches("lang:de platform:instagram author:@kunde1 country:DE", "hallo", **meta)
    assert matches("sentiment:negative issue:shipping", "hallo", **meta)
    assert not matches("lang:fr", "hallo", **meta)
    assert not matches("sentiment:negative", "hallo")  # no triage yet: no match, no error
    assert matches("NOT sentiment:negative", "hallo")


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ("refund AND", 10, "unexpected end of query"),
        ("(refund OR late", 15, "expected ')'"),
        ("refund)", 6, "unbalanced ')'"),
        ('"next day', 0, "unterminated phrase"),
        ("lang:german", 5, "2-letter code"),
        ("colour:red", 0, "unknown field 'colour'"),
        ("sentiment:angry", 10, "unknown sentiment"),
        ("late NEAR/x order", 5, "NEAR/n"),
        ("late NEAR/3 (a OR b)", 12, "after NEAR/n"),
        ("de*liver", 0, "may only end a word"),
        ("()", 1, "empty parentheses"),
        ("", 0, "empty query"),
        ("a*", 0, "at least 2 characters"),
    ],
)
def test_malformed_queries_say_where_and_what_was_expected(query, position, fragment):
    with pytest.raises(QueryError) as err:
        parse(query)
    assert err.value.position == position
    assert fragment in err.value.reason


def test_operator_precedence_not_near_and_or():
    assert parse("a OR b c") == Or((Term(("a",)), And((Term(("b",)), Term(("c",))))))
    assert parse("NOT a b") == And((Not(Term(("a",))), Term(("b",))))
    assert parse("x a NEAR/2 b") == And((Term(("x",)), Near(Term(("a",)), Term(("b",)), 2)))
    assert parse("e-mail") == Term(("e", "mail"))  # a word that tokenises to several is a phrase


def test_tokens_for_hashtags_handles_cjk_and_emoji():
    assert tokenize("Ärger mit #Lieferung, @DHL_Paket! 東京🔥") == [
        "arger",
        "mit",
        "#lieferung",
        "@dhl_paket",
        "東",
        "京",
        "🔥",
    ]


def test_many_rules_share_one_scan_and_only_candidates_are_evaluated():
    rules = [(i, f'"brand{i} phone" OR brand{i}x*') for i in range(2000)] + [(-1, "NOT lang:xx")]
    m = Matcher(rules)
    assert sorted(m.match_text("my Brand7 phone died, brand1999xl too")) == [-1, 7, 1999]
    assert m.unanchored == [2000]


# --- property: the compiled matcher agrees with the reference evaluator -----------------------

WORDS = ["apple", "pineapple", "apples", "café", "cafe", "order", "late", "refund", "东", "京", "🔥"]
TEXT_TOKENS = [*WORDS, "#apple", "#order", "@acme", "Apple", "CAFÉ", "the", "and", ",", "!"]

terms = st.one_of(
    st.lists(st.sampled_from(WORDS[:8]), min_size=1, max_size=2).map(
        lambda ws: Term(tuple(tokenize(" ".join(ws))))
    ),
    st.sampled_from(["app", "ca", "ord", "re"]).map(lambda s: Term((s,), prefix=True)),
    st.sampled_from(["#apple", "#order", "@acme"]).map(lambda s: Term((s,))),
    st.sampled_from(["东", "京", "🔥"]).map(lambda s: Term((s,))),
)
fields = st.sampled_from([Field("lang", "en"), Field("sentiment", "negative"), Field("issue", "shipping")])


def _extend(children):
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        children.map(Not),
    )


queries = st.recursive(
    st.one_of(terms, fields, st.builds(Near, terms, terms, st.integers(1, 4))), _extend, max_leaves=6
)
texts = st.lists(st.sampled_from(TEXT_TOKENS), max_size=14).map(" ".join)
metas = st.fixed_dictionaries(
    {},
    optional={
        "lang": st.sampled_from(["en", "de"]),
        "sentiment": st.sampled_from(["negative", "positive"]),
        "issue": st.sampled_from(["order_status_shipping", "refund_billing"]),
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=8), st.lists(texts, min_size=1, max_size=4), metas)
def test_compiled_matcher_agrees_with_the_reference_evaluator(rule_asts, sample_texts, meta):
    rendered = [render(q) for q in rule_asts]
    matcher = Matcher(list(enumerate(rendered)))
    for text in sample_texts:
        expected = [i for i, q in enumerate(rendered) if reference_match(q, text, **meta)]
        assert matcher.match_text(text, **meta) == expected, (rendered, text, meta)


@settings(max_examples=200, deadline=None)
@given(queries)
def test_rendered_queries_parse_back_to_the_same_meaning(ast):
    again = parse(render(ast))
    assert render(again) == render(parse(render(again)))
