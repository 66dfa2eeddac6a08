"""Spike detection: a sliding window's count against a seasonal, spike-robust baseline.

The method (docs/spikes.md): per-minute counts per series. At time t the observed value is the
count of the last `window` minutes. The expected value for that window is the median, over the
past `baseline_days` days, of the count in a one-hour band centred on the same clock time,
scaled to the window length; once two or more same-weekday samples exist, it is averaged with
their median (day-of-week seasonality). Medians ignore past spikes. A window alarms only when
it has at least `min_count` messages, at least `min_ratio` times the expected count, and a
Poisson tail probability (with the expected count inflated for baseline noise) below `p_value`.
The detector core is storage-agnostic: the database and the benchmark give it a CountStore.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Protocol

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    window_minutes: int = 10
    baseline_days: int = 28
    band_minutes: int = 60
    min_history_days: int = 3
    min_count: int = 10
    min_ratio: float = 2.0
    p_value: float = 1e-4
    # Without seasonality (first days of history) the trailing baseline misses daily ramps: be stricter.
    trailing_p_value: float = 1e-7
    # Baseline noise: test against expected × inflation + slack, not the bare expected count.
    inflation: float = 1.2
    slack: float = 1.0
    # The smallest expected count per window, so a topic that was silent needs min_count to alarm.
    floor: float = 0.5
    # Negative share: the share must also rise by this much (absolute).
    min_share_rise: float = 0.15


class CountStore(Protocol):
    def total(self, series: str, start: datetime, end: datetime) -> int:
        """Messages in the series with start <= minute < end."""
        ...

    def history_start(self, series: str) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Finding:
    series: str
    window_start: datetime
    window_end: datetime
    observed: float
    expected: float
    score: float  # -log10 of the tail probability
    ratio: float
    method: str  # "seasonal" or "trailing" (too little history for seasonality)
    share: bool = False


def floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam), summed in the tail so tiny values stay exact."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    total, i, term = 0.0, k, math.exp(log_term)
    while term > 0 and i < k + 100_000:
        total += term
        i += 1
        term *= lam / i
        if term < total * 1e-15:
            break
    return min(1.0, total)


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    total = 0.0
    for i in range(k, n + 1):
        total += math.exp(
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * math.log(p)
            + (n - i) * math.log1p(-p)
        )
    return min(1.0, total)


def _score(p: float) -> float:
    return round(-math.log10(max(p, 1e-300)), 2)


def expected_count(store: CountStore, series: str, now: datetime, cfg: SpikeConfig) -> tuple[float, str]:
    """Expected count for the window ending at `now`, and which method gave it."""
    window = timedelta(minutes=cfg.window_minutes)
    start = now - window
    first = store.history_start(series)
    middle = start + window / 2
    half_band = timedelta(minutes=cfg.band_minutes) / 2
    scale = cfg.window_minutes / cfg.band_minutes
    samples: dict[int, float] = {}
    if first is not None:
        for k in range(1, cfg.baseline_days + 1):
            lo = middle - k * DAY - half_band
            if lo < first:
                break
            samples[k] = store.total(series, lo, lo + 2 * half_band) * scale
    if len(samples) >= cfg.min_history_days:
        expected = median(samples.values())
        weekday = [v for k, v in samples.items() if k % 7 == 0]
        if len(weekday) >= 2:
            expected = (expected + median(weekday)) / 2
        return max(expected, cfg.floor), "seasonal"
    # Too little history: the median of the windows in the six hours before this one, or the
    # mean of the last three windows if higher (so a morning ramp is not taken for a spike).
    trailing = []
    for j in range(1, 37):
        lo = start - j * window
        if first is None or lo < first:
            break
        trailing.append(store.total(series, lo, lo + window))
    recent = sum(trailing[:3]) / len(trailing[:3]) if trailing else 0.0
    return max(median(trailing) if trailing else 0.0, recent, cfg.floor), "trailing"


def assess(store: CountStore, series: str, now: datetime, cfg: SpikeConfig = SpikeConfig()) -> Finding | None:
    """A spike in the window ending at `now` (exclusive), or None."""
    now = floor_minute(now)
    start = now - timedelta(minutes=cfg.window_minutes)
    observed = store.total(series, start, now)
    if observed < cfg.min_count:
        return None
    expected, method = expected_count(store, series, now, cfg)
    if observed < cfg.min_ratio * expected:
        return None
    p = poisson_sf(observed, expected * cfg.inflation + cfg.slack)
    if p >= (cfg.p_value if method == "seasonal" else cfg.trailing_p_value):
        return None
    return Finding(
        series, start, now, observed, round(expected, 2), _score(p), round(observed / expected, 2), method
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
    """Per-minute counts in memory (benchmarks, previews); the database has SeriesCount."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[int, int]] = {}
        self._first: dict[str, int] = {}

    @staticmethod
    def _minute(at: datetime) -> int:
        return int(at.timestamp() // 60)

    def add(self, series: str, at: datetime, n: int = 1) -> None:
        m = self._minute(at)
        self._counts.setdefault(series, {})[m] = self._counts.get(series, {}).get(m, 0) + n
        if series not in self._first or m < self._first[series]:
            self._first[series] = m

    def set_history_start(self, series: str, at: datetime) -> None:
        self._first[series] = self._minute(at)

    def total(self, series: str, start: datetime, end: datetime) -> int:
        counts = self._counts.get(series)
        if not counts:
            return 0
        a, b = self._minute(start), self._minute(end)
        if b - a > len(counts):
            return sum(v for m, v in counts.items() if a <= m < b)
        return sum(counts.get(m, 0) for m in range(a, b))

    def history_start(self, series: str) -> datetime | None:
        m = self._first.get(series)
        return None if m is None else datetime.fromtimestamp(m * 60, tz=UTC)
