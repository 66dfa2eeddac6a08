"""Spike detection: sliding-window counts against a seasonal, level-adjusted, spike-robust baseline.

The method (docs/spikes.md): per-minute counts per series. The expected rate at time t is the
median, over the past `baseline_days` days, of the rate in a one-hour band centred on the same
clock time, each day's band rescaled by how busy today's last hours were compared with that day's
same hours (weekends, holidays, growth); with two or more same-weekday samples it is averaged with
their median. Medians ignore past spikes. The observed counts of the last 5, 10 and 20 minutes are
then each tested against a negative-binomial distribution whose extra variance is the baseline's
own estimation noise plus the series' overdispersion measured in its history; the smallest tail
probability, Bonferroni-corrected for the number of windows, must fall below `p_value`. A window
also needs a minimum count (scaled with its length) and `min_ratio` times the expected count.
The detector core is storage-agnostic: the database and the benchmark give it a CountStore.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Protocol

from scipy.special import betainc, gammainc

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    # The reference window: negative share, the min_count unit, the "expected per 10 min" in reports.
    window_minutes: int = 10
    # Windows tested together (Bonferroni): 5 min finds big bursts sooner, 20 min slower climbs.
    windows: tuple[int, ...] = (5, 10, 20)
    baseline_days: int = 28
    band_minutes: int = 60
    min_history_days: int = 3
    # Today's level: today's count so far (from midnight UTC, at most `level_minutes`, up to the
    # longest window) against the same span on each past day, shrunk towards 1 by `level_prior`
    # pseudo-messages (quiet series, and the first minutes of a day, keep a ratio near 1). Days,
    # not a trailing span: weekday/weekend and day-to-day level change at day boundaries.
    level_minutes: int = 1440
    level_prior: float = 40.0
    level_clamp: tuple[float, float] = (0.5, 2.0)
    # Every window needs min_count messages; one longer than 10 minutes ceil(min_count * sqrt(w / 10)).
    min_count: int = 10
    min_ratio: float = 2.0
    p_value: float = 5e-5  # family-wise over `windows`
    # Without seasonality (first days of history) the trailing baseline misses daily ramps: be stricter.
    trailing_p_value: float = 1e-7
    trailing_dispersion: float = 0.1
    # Relative variance added to every expectation (model error the history cannot show), and
    # the cap on the overdispersion measured from history.
    dispersion_floor: float = 0.005
    max_dispersion: float = 0.5
    # The smallest expected count per 10 minutes, so a topic that was silent needs min_count to alarm.
    floor: float = 0.5
    # Negative share: the share must also rise by this much (absolute), tested against share × inflation.
    min_share_rise: float = 0.15
    inflation: float = 1.2
    # A baseline is computed for 5-minute slots of time (and can be cached per slot).
    refresh_minutes: int = 5


class CountStore(Protocol):
    def total(self, series: str, start: datetime, end: datetime) -> int:
        """Messages in the series with start <= minute < end."""
        ...

    def totals(self, series: str, ranges: list[tuple[datetime, datetime]]) -> list[int]:
        """`total` for many ranges at once (one query for the database)."""
        ...

    def history_start(self, series: str) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Finding:
    series: str
    window_start: datetime
    window_end: datetime
    observed: float
    expected: float
    score: float  # -log10 of the (corrected) tail probability
    ratio: float
    method: str  # "seasonal" or "trailing" (too little history for seasonality)
    share: bool = False


@dataclass(frozen=True, slots=True)
class Baseline:
    rate: float  # expected messages per minute
    variance: float  # relative variance of the expectation (estimation noise + overdispersion)
    method: str  # "seasonal" or "trailing"
    days: int = 0
    level: float = 1.0
    dispersion: float = 0.0

    def expected(self, minutes: int, cfg: SpikeConfig) -> float:
        return max(self.rate * minutes, cfg.floor * minutes / 10)


def floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam) (regularised incomplete gamma: exact in the far tail)."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    return float(gammainc(k, lam))


def nbinom_sf(k: int, mean: float, rel_var: float) -> float:
    """P(X >= k) for a negative binomial with this mean and variance mean + rel_var * mean^2."""
    if rel_var <= 1e-9:
        return poisson_sf(k, mean)
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    size = 1 / rel_var
    return float(betainc(k, size, mean / (size + mean)))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    return float(betainc(k, n - k + 1, p))


def _score(p: float) -> float:
    return round(-math.log10(max(p, 1e-300)), 2)


def min_count_for(minutes: int, cfg: SpikeConfig) -> int:
    # Never fewer than min_count (an absolute "enough to matter"), more for longer windows.
    return math.ceil(cfg.min_count * max(1.0, math.sqrt(minutes / cfg.window_minutes)) - 1e-9)


def _slot(now: datetime, cfg: SpikeConfig) -> datetime:
    now = floor_minute(now)
    return now - timedelta(minutes=now.minute % cfg.refresh_minutes)


def baseline(store: CountStore, series: str, now: datetime, cfg: SpikeConfig = SpikeConfig()) -> Baseline:
    """The expected rate around `now` (computed for its 5-minute slot, so it can be cached)."""
    ref = _slot(now, cfg)
    first = store.history_start(series)
    band = timedelta(minutes=cfg.band_minutes)
    sub = timedelta(minutes=cfg.window_minutes)
    parts = max(1, cfg.band_minutes // cfg.window_minutes)
    longest = timedelta(minutes=max(cfg.windows))
    level_span = timedelta(minutes=cfg.level_minutes)
    band_lo = ref - timedelta(minutes=cfg.window_minutes) / 2 - band / 2  # centred on the 10-min window
    span_hi = ref - longest
    span_lo = max(span_hi - level_span, ref.replace(hour=0, minute=0))
    span_hi = max(span_hi, span_lo)  # the first minutes of a day: an empty span, level 1
    days = []
    if first is not None:
        for k in range(1, cfg.baseline_days + 1):
            if band_lo - k * DAY < first:
                break
            days.append(k)
    if len(days) < cfg.min_history_days:
        return _trailing(store, series, ref, first, cfg)
    ranges = [(span_lo, span_hi)]
    for k in days:
        lo = band_lo - k * DAY
        ranges += [(lo + j * sub, lo + (j + 1) * sub) for j in range(parts)]
        ranges.append((span_lo - k * DAY, span_hi - k * DAY))
    t = store.totals(series, ranges)
    today = t[0]
    rates: dict[int, float] = {}
    dispersions: list[float] = []
    band_total = 0
    lo_clamp, hi_clamp = cfg.level_clamp
    for i, k in enumerate(days):
        chunk = t[1 + i * (parts + 1) : 1 + (i + 1) * (parts + 1)]
        subs, span = chunk[:parts], chunk[parts]
        b = sum(subs)
        band_total += b
        level = 1.0
        if span_lo - k * DAY >= first:  # type: ignore[operator]
            level = min(max((today + cfg.level_prior) / (span + cfg.level_prior), lo_clamp), hi_clamp)
        rates[k] = b / cfg.band_minutes * level
        m = b / parts
        if parts > 1 and m >= 5:  # a day's within-band variance beyond Poisson: overdispersion
            ss = sum((c - m) ** 2 for c in subs)
            dispersions.append((ss - (parts - 1) / parts * b) / ((parts - 1) * m * m))
    rate = median(rates.values())
    weekday = [v for k, v in rates.items() if k % 7 == 0]
    if len(weekday) >= 2:
        rate = (rate + median(weekday)) / 2
    dispersion = min(max(median(dispersions), 0.0), cfg.max_dispersion) if dispersions else 0.0
    # The median of n day samples is ~pi/2 times as noisy as their mean; today's level adds its own.
    variance = math.pi / 2 / max(band_total, 1) + 1 / (today + cfg.level_prior) + dispersion
    level = (today + cfg.level_prior) / (median(t[1 + parts :: parts + 1]) + cfg.level_prior)
    return Baseline(
        rate, variance + cfg.dispersion_floor, "seasonal", len(days), round(level, 3), round(dispersion, 4)
    )


def _trailing(
    store: CountStore, series: str, ref: datetime, first: datetime | None, cfg: SpikeConfig
) -> Baseline:
    # Too little history: the median of the 10-minute windows in the six hours before the longest
    # window, or the mean of the last three if higher (so a morning ramp is not taken for a spike).
    window = timedelta(minutes=cfg.window_minutes)
    start = ref - timedelta(minutes=max(cfg.windows))
    ranges = []
    for j in range(36):
        lo = start - (j + 1) * window
        if first is None or lo < first:
            break
        ranges.append((lo, lo + window))
    trailing = store.totals(series, ranges) if ranges else []
    recent = sum(trailing[:3]) / len(trailing[:3]) if trailing else 0.0
    per_window = max(median(trailing) if trailing else 0.0, recent)
    variance = cfg.trailing_dispersion + math.pi / 2 / max(sum(trailing), 1)
    return Baseline(per_window / cfg.window_minutes, variance, "trailing")


def expected_count(store: CountStore, series: str, now: datetime, cfg: SpikeConfig) -> tuple[float, str]:
    """Expected count for the `window_minutes` window ending at `now`, and which method gave it."""
    b = baseline(store, series, now, cfg)
    return b.expected(cfg.window_minutes, cfg), b.method


def assess(
    store: CountStore,
    series: str,
    now: datetime,
    cfg: SpikeConfig = SpikeConfig(),
    cache: dict | None = None,
) -> Finding | None:
    """A spike in a window ending at `now` (exclusive), or None.

    `cache` (any dict the caller keeps) saves recomputing the baseline within its 5-minute slot.
    """
    now = floor_minute(now)
    observed = {
        w: o
        for w, o in zip(
            cfg.windows,
            store.totals(series, [(now - timedelta(minutes=w), now) for w in cfg.windows]),
            strict=True,
        )
        if o >= min_count_for(w, cfg)
    }
    if not observed:  # the cheap check most series stop at
        return None
    key = (series, _slot(now, cfg))
    base = cache.get(key) if cache is not None else None
    if base is None:
        base = baseline(store, series, now, cfg)
        if cache is not None:
            if len(cache) > 100_000:
                cache.clear()
            cache[key] = base
    best: tuple[float, int, float] | None = None
    for w, o in observed.items():
        e = base.expected(w, cfg)
        if o < cfg.min_ratio * e:
            continue
        p = nbinom_sf(o, e, base.variance)
        if best is None or p < best[0]:
            best = (p, w, e)
    if best is None:
        return None
    p, w, e = best
    p = min(1.0, p * len(cfg.windows))
    if p >= (cfg.p_value if base.method == "seasonal" else cfg.trailing_p_value):
        return None
    o = observed[w]
    return Finding(
        series, now - timedelta(minutes=w), now, o, round(e, 2), _score(p), round(o / e, 2), base.method
    )


def assess_share(
    store: CountStore, all_series: str, part_series: str, now: datetime, cfg: SpikeConfig = SpikeConfig()
) -> Finding | None:
    """A rise in the share part/all (a brand's negative share) against its seasonal share."""
    now = floor_minute(now)
    start = now - timedelta(minutes=cfg.window_minutes)
    n = store.total(all_series, start, now)
    k = store.total(part_series, start, now)
    if n < cfg.min_count or k < cfg.min_count / 2:
        return None
    exp_all, method = expected_count(store, all_series, now, cfg)
    exp_part, _ = expected_count(store, part_series, now, cfg)
    expected_share = min(max(exp_part / exp_all, 0.02), 0.95)
    share = k / n
    if share < expected_share + cfg.min_share_rise:
        return None
    p = binom_sf(k, n, min(expected_share * cfg.inflation, 0.99))
    if p >= cfg.p_value:
        return None
    return Finding(
        part_series,
        start,
        now,
        round(share, 3),
        round(expected_share, 3),
        _score(p),
        round(share / expected_share, 2),
        method,
        share=True,
    )


class MemoryCounts:
    """Per-minute counts in memory (benchmarks, tests); the database has SeriesCount.

    Each series is an array of minutes with running sums, so any range total is two lookups.
    """

    def __init__(self) -> None:
        self._base: dict[str, int] = {}
        self._per: dict[str, list[int]] = {}
        self._cum: dict[str, list[int]] = {}  # cum[i] = sum(per[:i]), valid up to its length
        self._first: dict[str, int] = {}

    @staticmethod
    def _minute(at: datetime) -> int:
        return int(at.timestamp() // 60)

    def add(self, series: str, at: datetime, n: int = 1) -> None:
        m = self._minute(at)
        per = self._per.get(series)
        if per is None:
            self._base[series], per = m, []
            self._per[series], self._cum[series] = per, [0]
        base = self._base[series]
        if m < base:  # earlier than anything so far: shift the array
            per[:0] = [0] * (base - m)
            self._base[series] = base = m
            del self._cum[series][1:]
        i = m - base
        if i >= len(per):
            per.extend([0] * (i + 1 - len(per)))
        per[i] += n
        cum = self._cum[series]
        if len(cum) > i + 1:
            del cum[i + 1 :]
        if series not in self._first or m < self._first[series]:
            self._first[series] = m

    def set_history_start(self, series: str, at: datetime) -> None:
        self._first[series] = self._minute(at)

    def _prefix(self, series: str, i: int) -> int:
        per = self._per[series]
        i = min(max(i, 0), len(per))
        cum = self._cum[series]
        while len(cum) <= i:
            cum.append(cum[-1] + per[len(cum) - 1])
        return cum[i]

    def total(self, series: str, start: datetime, end: datetime) -> int:
        if series not in self._per:
            return 0
        base = self._base[series]
        return self._prefix(series, self._minute(end) - base) - self._prefix(
            series, self._minute(start) - base
        )

    def totals(self, series: str, ranges: list[tuple[datetime, datetime]]) -> list[int]:
        return [self.total(series, a, b) for a, b in ranges]

    def history_start(self, series: str) -> datetime | None:
        m = self._first.get(series)
        return None if m is None else datetime.fromtimestamp(m * 60, tz=UTC)


def range_totals(rows: list[tuple[datetime, int]], ranges: list[tuple[datetime, datetime]]) -> list[int]:
    """Totals of (minute, count) rows sorted by minute over each [start, end) range."""
    keys = [r[0] for r in rows]
    cum = [0]
    for _, c in rows:
        cum.append(cum[-1] + c)
    return [cum[bisect.bisect_left(keys, b)] - cum[bisect.bisect_left(keys, a)] for a, b in ranges]
