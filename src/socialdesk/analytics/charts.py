"""Server-side SVG charts: no JavaScript and no CDN, readable without a browser plugin."""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
SENTIMENT_COLOURS = {"negative": "#dc2626", "neutral": "#9ca3af", "positive": "#16a34a", "unknown": "#d1d5db"}
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 240, 48, 40, 16, 12


def _colour(name: str, i: int) -> str:
    return SENTIMENT_COLOURS.get(name, PALETTE[i % len(PALETTE)])


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step * 4:
            return float(step * 4)
    return float(value)


def _frame(title: str, body: list[str], ymax: float, legend: list[tuple[str, str]], fmt=str) -> str:
    ih = H - PAD_B - PAD_T
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {H + 24}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = PAD_T + ih - ih * i / 4
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#6b7280">'
            f"{fmt(ymax * i / 4)}</text>"
        )
    parts += body
    x = PAD_L
    for name, colour in legend:
        parts.append(f'<rect x="{x}" y="{H + 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{H + 17}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "\n".join(parts)


def _num(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


def _x_labels(labels: list[str], xs: list[float]) -> list[str]:
    every = max(1, len(labels) // 8)
    return [
        f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle" fill="#374151">{escape(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, xs, strict=True))
        if i % every == 0
    ]


def empty(title: str) -> str:
    return (
        f'<svg class="chart empty" role="img" aria-label="{escape(title)}" viewBox="0 0 {W} 60" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="{W / 2}" y="34" text-anchor="middle" '
        f'fill="#6b7280" font-family="sans-serif">No data for these filters</text></svg>'
    )


def lines(title: str, points: list[dict[str, Any]], names: list[str]) -> str:
    """One line per name over the points' "t" (a day, week or hour)."""
    if not points or not names:
        return empty(title)
    ymax = _nice_max(max(p.get(n, 0) for p in points for n in names))
    iw, ih = W - PAD_L - PAD_R, H - PAD_B - PAD_T
    step = iw / max(len(points) - 1, 1)
    xs = [PAD_L + i * step if len(points) > 1 else PAD_L + iw / 2 for i in range(len(points))]
    body = _x_labels([str(p["t"])[5:] if len(str(p["t"])) == 10 else str(p["t"]) for p in points], xs)
    for i, name in enumerate(names):
        colour = _colour(name, i)
        coords = [(x, PAD_T + ih - ih * p.get(name, 0) / ymax) for x, p in zip(xs, points, strict=True)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(
            f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{colour}" '
            f'stroke-width="2" points="{path}"/>'
        )
        for (x, y), p in zip(coords, points, strict=True):
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"><title>{escape(name)} '
                f"{escape(str(p['t']))}: {p.get(name, 0)}</title></circle>"
            )
    return _frame(title, body, ymax, [(n, _colour(n, i)) for i, n in enumerate(names)], _num)


def bars(
    title: str,
    labels: list[str],
    values: list[float | None],
    fmt=_num,
    colour: str = PALETTE[0],
    ymax: float | None = None,
) -> str:
    """Vertical bars, one per label (distributions, issue types; shares with ymax=1)."""
    if not labels or all(v is None for v in values) or (ymax is None and all(not v for v in values)):
        return empty(title)
    vals = [float(v or 0) for v in values]
    ymax = ymax or _nice_max(max(vals))
    iw, ih = W - PAD_L - PAD_R, H - PAD_B - PAD_T
    slot = iw / len(labels)
    width = max(slot * 0.7, 2)
    xs = [PAD_L + slot * i + slot / 2 for i in range(len(labels))]
    body = _x_labels([label[:14] for label in labels], xs)
    for label, x, v in zip(labels, xs, vals, strict=True):
        h = ih * v / ymax
        body.append(
            f'<rect class="chart-bar" data-label="{escape(label)}" x="{x - width / 2:.1f}" '
            f'y="{PAD_T + ih - h:.1f}" width="{width:.1f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{escape(label)}: {fmt(v)}</title></rect>"
        )
    return _frame(title, body, ymax, [], fmt)


def percent(v: float) -> str:
    return f"{v * 100:.0f}%"
