"""Spike and emerging-issue detection on in-memory counts (the same core the database feeds)."""

from datetime import UTC, datetime, timedelta

from socialdesk.listening.emerging import MemoryPhrases, assess_phrase, key_phrases
from socialdesk.listening.spikes import (
    MemoryCounts,
    SpikeConfig,
    assess,
    assess_share,
    baseline,
    binom_sf,
    min_count_for,
    nbinom_sf,
    poisson_sf,
)

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def history(
    days: int, per_minute_by_hour, series: str = "rule:1", store: MemoryCounts | None = None
) -> MemoryCounts:
    """A day/night pattern: `per_minute_by_hour(h)` messages each minute of hour h, every day."""
    store = store or MemoryCounts()
    for minute in range(days * 24 * 60):
        at = T0 + timedelta(minutes=minute)
        n = per_minute_by_hour(at.hour)
        if n:
            store.add(series, at, n)
    return store


def daytime(hour: int) -> int:
    return 2 if 8 <= hour < 20 else 0  # 20 per 10 minutes by day, nothing at night


def test_a_tripled_window_alarms_and_the_normal_day_does_not():
    store = history(8, daytime)  # a week of history and today's traffic so far
    now = T0 + timedelta(days=7, hours=14)
    for minute in range(10):
        store.add("rule:1", now - timedelta(minutes=10 - minute), 4)  # 60 in 10 minutes, 3x the usual
    finding = assess(store, "rule:1", now)
    assert finding is not None
    assert finding.method == "seasonal"
    assert finding.expected == 20 and finding.observed == 60 and finding.ratio == 3.0
    quiet = [assess(store, "rule:1", T0 + timedelta(days=6, minutes=m)) for m in range(0, 24 * 60, 10)]
    assert quiet == [None] * len(quiet)


def test_the_baseline_follows_time_of_day():
    store = history(8, daytime)
    # 12 messages at 3 a.m. is a spike (night is silent); 12 more at 2 p.m. is within a normal day.
    night, day = T0 + timedelta(days=7, hours=3), T0 + timedelta(days=7, hours=14)
    for at in (night, day):
        store.add("rule:1", at - timedelta(minutes=5), 12)
    assert assess(store, "rule:1", night) is not None
    assert assess(store, "rule:1", day) is None


def test_past_spikes_do_not_raise_the_baseline():
    store = history(8, daytime)
    for day in (1, 3, 5):  # a big spike at 14:00 on three of seven days
        store.add("rule:1", T0 + timedelta(days=day, hours=14), 400)
    now = T0 + timedelta(days=7, hours=14, minutes=5)
    store.add("rule:1", now - timedelta(minutes=3), 60)
    finding = assess(store, "rule:1", now)
    minutes = (finding.window_end - finding.window_start).total_seconds() / 60 if finding else 0
    assert finding is not None and finding.expected == 2 * minutes  # 2 a minute, as on normal days


def test_quiet_topics_need_the_minimum_count():
    store = history(7, lambda h: 0)
    store.set_history_start("rule:1", T0)  # a week of silence
    now = T0 + timedelta(days=7, hours=12)
    store.add("rule:1", now - timedelta(minutes=2), SpikeConfig().min_count - 1)
    assert assess(store, "rule:1", now) is None  # from 0 to 9 is "more", not an alarm
    store.add("rule:1", now - timedelta(minutes=1), 1)
    assert assess(store, "rule:1", now) is not None


def test_negative_share_spike_against_the_usual_share():
    store = history(7, lambda h: 3, "brand:1:all")
    history(7, lambda h: 1 if h % 2 else 0, "brand:1:negative", store)  # about 1 in 6 negative
    now = T0 + timedelta(days=7, hours=10)
    store.add("brand:1:all", now - timedelta(minutes=5), 30)
    assert assess_share(store, "brand:1:all", "brand:1:negative", now) is None
    store.add("brand:1:negative", now - timedelta(minutes=4), 25)
    finding = assess_share(store, "brand:1:all", "brand:1:negative", now)
    assert finding is not None and finding.share and finding.observed > 0.6


def test_poisson_tail_is_exact_in_the_far_tail():
    assert abs(poisson_sf(1, 1.0) - (1 - 2.718281828459045**-1)) < 1e-12
    assert 0 < poisson_sf(60, 20) < 1e-10


def test_key_phrases_skip_stop_words_links_and_handles():
    assert key_phrases("@Brand my new mascara tube is leaky!! https://t.co/x #fail") == [
        "new mascara",
        "mascara tube",
        "tube leaky",
        "#fail",
    ]


def test_an_emerging_issue_gets_a_readable_label_from_its_chained_phrases():
    store = MemoryPhrases()
    now = T0 + timedelta(days=7)
    background = ["my order is late again", "refund still not here", "app keeps crashing"]
    for i in range(300):
        at = T0 + timedelta(minutes=33 * i)
        store.add(i, f"u{i % 50}", at, key_phrases(background[i % 3]))
    texts = [
        "the leaky mascara tube ruined my bag",
        "leaky mascara tube everywhere",
        "why is my leaky mascara tube",
    ]
    for j in range(10):
        at = now - timedelta(minutes=50 - 5 * j)
        store.add(1000 + j, f"c{j}", at, key_phrases(texts[j % 3]))
    issue = assess_phrase(store, "leaky mascara", now)
    assert issue is not None
    assert issue.label == "leaky mascara tube"
    assert issue.observed == 10 and issue.authors == 10
    assert assess_phrase(store, "order late", now) is None  # steady background, not emerging


def test_todays_level_rescales_the_baseline():
    """A quieter day (a weekend, a holiday) at half the usual volume: 3x today's rate is a spike
    although it is only 1.5x an ordinary day's; today's normal traffic is not."""
    store = history(7, daytime)  # a week at 2 a minute by day
    day7 = T0 + timedelta(days=7)
    for minute in range(8 * 60, 14 * 60):
        store.add("rule:1", day7 + timedelta(minutes=minute))  # today: 1 a minute
    now = day7 + timedelta(hours=14)
    assert assess(store, "rule:1", now) is None
    base = baseline(store, "rule:1", now)
    assert 0.45 < base.level < 0.65 and abs(base.rate - 1.0) < 0.2
    for minute in range(10):
        store.add("rule:1", now + timedelta(minutes=minute), 3)
    finding = assess(store, "rule:1", now + timedelta(minutes=10))
    assert finding is not None and finding.observed / finding.expected >= 2.5


def test_an_overdispersed_history_needs_more_to_alarm():
    """A bursty series (each 5 minutes at random silent or 4 a minute) gets a wide baseline; the
    same jump on a smooth series with the same mean (2 a minute) alarms."""
    import random

    rng = random.Random(1)
    bursty, smooth = MemoryCounts(), MemoryCounts()
    on = False
    for minute in range(8 * 24 * 60):
        at = T0 + timedelta(minutes=minute)
        if minute % 5 == 0:
            on = rng.random() < 0.5
        if on:
            bursty.add("rule:1", at, 4)
        smooth.add("rule:1", at, 2)
    now = T0 + timedelta(days=7, hours=12)
    for store in (bursty, smooth):
        for minute in range(10):
            store.add("rule:1", now - timedelta(minutes=10 - minute), 5)
    assert baseline(bursty, "rule:1", now).dispersion > 0.3
    assert baseline(smooth, "rule:1", now).dispersion < 0.05
    assert assess(smooth, "rule:1", now) is not None
    assert assess(bursty, "rule:1", now) is None


def test_a_short_burst_is_found_in_the_five_minute_window():
    store = history(8, lambda h: 4)  # 40 per 10 minutes, day and night
    now = T0 + timedelta(days=7, hours=12)
    for minute in range(3):
        store.add("rule:1", now - timedelta(minutes=3 - minute), 15)
    finding = assess(store, "rule:1", now)
    assert finding is not None and finding.window_end - finding.window_start == timedelta(minutes=5)
    assert finding.expected == 20 and finding.observed == 65


def test_every_window_needs_the_minimum_count_and_longer_ones_more():
    cfg = SpikeConfig()
    assert [min_count_for(w, cfg) for w in cfg.windows] == [10, 10, 15]


def test_tails_agree_with_scipy_and_negative_binomial_reduces_to_poisson():
    from scipy import stats

    for k, mean, rel_var in [(30, 10.0, 0.1), (5, 2.0, 0.5), (120, 60.0, 0.02)]:
        size = 1 / rel_var
        expected = stats.nbinom(size, size / (size + mean)).sf(k - 1)
        assert abs(nbinom_sf(k, mean, rel_var) - expected) < 1e-12 + 1e-9 * expected
    assert nbinom_sf(40, 10.0, 0.0) == poisson_sf(40, 10.0)
    assert nbinom_sf(40, 10.0, 1e-7) < nbinom_sf(40, 10.0, 0.1)  # extra variance: fatter tail
    assert abs(binom_sf(7, 20, 0.2) - stats.binom(20, 0.2).sf(6)) < 1e-12


def test_memory_counts_agree_with_a_plain_sum_in_any_insertion_order():
    import random

    rng = random.Random(5)
    store, plain = MemoryCounts(), {}
    for _ in range(2000):
        m = rng.randrange(-500, 500)
        n = rng.randrange(1, 4)
        store.add("s", T0 + timedelta(minutes=m), n)
        plain[m] = plain.get(m, 0) + n
        if rng.random() < 0.1:
            a, b = sorted(rng.sample(range(-600, 600), 2))
            want = sum(v for k, v in plain.items() if a <= k < b)
            assert store.total("s", T0 + timedelta(minutes=a), T0 + timedelta(minutes=b)) == want
    assert store.history_start("s") == T0 + timedelta(minutes=min(plain))
