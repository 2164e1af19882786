"""A small SVG line plot of the comparison: throughput and p99 latency against C, one
line per system. Pure string building, no plotting dependency."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from xml.sax.saxutils import escape

#: Line colours (colour-blind-friendly palette), assigned to systems in order.
COLOURS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)

PANEL_WIDTH = 420
PANEL_HEIGHT = 300
MARGIN_LEFT = 70
MARGIN_TOP = 40
MARGIN_BOTTOM = 50
GAP = 90
LEGEND_LINE = 18
X_PADDING = 30

#: One system's line: {C: value}.
Series = Mapping[int, float]


def nice_step(span: float, ticks: int = 5) -> float:
    """A 1, 2 or 5 times a power of ten step giving about ``ticks`` intervals over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def linear_ticks(top: float) -> list[float]:
    """Tick values from 0 to at least ``top``."""
    step = nice_step(top)
    count = max(math.ceil(top / step), 1)
    if count * step < top:  # rounding in the division
        count += 1
    return [i * step for i in range(count + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten covering ``[low, high]`` (both positive)."""
    first = math.floor(math.log10(low))
    last = max(math.ceil(math.log10(high)), first + 1)
    # log10 rounds: 99999.99999999999 gives exactly 5.0.
    while 10.0**first > low:
        first -= 1
    while 10.0**last < high:
        last += 1
    return [10.0**k for k in range(first, last + 1)]


def _format(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _panel(
    *,
    left: float,
    title: str,
    y_label: str,
    series: Mapping[str, Series],
    colours: Mapping[str, str],
    dashed: Collection[str],
    clients: Sequence[int],
    log_y: bool,
) -> list[str]:
    values = [v for line in series.values() for v in line.values() if v > 0 and math.isfinite(v)]
    top_value = max(values, default=1.0)
    if log_y:
        ticks = log_ticks(min(values, default=1.0), top_value)
        low, high = math.log10(ticks[0]), math.log10(ticks[-1])

        def y_of(v: float) -> float:
            return MARGIN_TOP + PANEL_HEIGHT * (1 - (math.log10(v) - low) / (high - low))
    else:
        ticks = linear_ticks(top_value)

        def y_of(v: float) -> float:
            return MARGIN_TOP + PANEL_HEIGHT * (1 - v / ticks[-1])

    # C grows geometrically (1, 16, 64, 256): a log2 axis spaces it evenly.
    c_low, c_high = math.log2(min(clients)), math.log2(max(clients))

    def x_of(c: int) -> float:
        if c_high == c_low:
            return left + PANEL_WIDTH / 2
        inner = PANEL_WIDTH - 2 * X_PADDING
        return left + X_PADDING + inner * (math.log2(c) - c_low) / (c_high - c_low)

    bottom = MARGIN_TOP + PANEL_HEIGHT
    parts = [
        f'<text x="{left + PANEL_WIDTH / 2:.1f}" y="{MARGIN_TOP - 14}" text-anchor="middle" '
        f'font-weight="bold">{escape(title)}</text>',
        f'<rect x="{left}" y="{MARGIN_TOP}" width="{PANEL_WIDTH}" height="{PANEL_HEIGHT}" '
        'fill="none" stroke="#888"/>',
    ]
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + PANEL_WIDTH}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_format(tick)}</text>'
        )
    for c in clients:
        x = x_of(c)
        parts.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{c}</text>')
    parts.append(
        f'<text x="{left + PANEL_WIDTH / 2:.1f}" y="{bottom + 38}" text-anchor="middle">'
        "C (outstanding writes)</text>"
    )
    parts.append(
        f'<text transform="translate({left - 52},{MARGIN_TOP + PANEL_HEIGHT / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    for system, line in series.items():
        points = [(x_of(c), y_of(v)) for c, v in sorted(line.items()) if v > 0 and math.isfinite(v)]
        if not points:
            continue
        colour = colours[system]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = ' stroke-dasharray="6 4"' if system in dashed else ""
        parts.append(
            f'<polyline data-system="{escape(system)}" points="{path}" fill="none" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points
        )
    return parts


def render_svg(
    throughput: Mapping[str, Series],
    p99_ms: Mapping[str, Series],
    *,
    title: str = "",
    dashed: Collection[str] = (),
) -> str:
    """The two-panel plot as an SVG document; systems keep the order of ``throughput``.
    Systems in ``dashed`` (those that do not fsync) are drawn with dashed lines."""
    systems = list(dict.fromkeys([*throughput, *p99_ms]))
    colours = {s: COLOURS[i % len(COLOURS)] for i, s in enumerate(systems)}
    clients = sorted({c for line in [*throughput.values(), *p99_ms.values()] for c in line})
    if not clients:
        raise ValueError("nothing to plot")
    width = MARGIN_LEFT + 2 * PANEL_WIDTH + GAP + 20
    legend_top = MARGIN_TOP + PANEL_HEIGHT + MARGIN_BOTTOM + 10
    height = legend_top + LEGEND_LINE * math.ceil(len(systems) / 3) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    parts += _panel(
        left=MARGIN_LEFT,
        title="Acknowledged writes/s (higher is better)",
        y_label="writes/s",
        series=throughput,
        colours=colours,
        dashed=dashed,
        clients=clients,
        log_y=False,
    )
    parts += _panel(
        left=MARGIN_LEFT + PANEL_WIDTH + GAP,
        title="p99 latency, ms, log scale (lower is better)",
        y_label="p99 ms",
        series=p99_ms,
        colours=colours,
        dashed=dashed,
        clients=clients,
        log_y=True,
    )
    column_width = (2 * PANEL_WIDTH + GAP) / 3
    for i, system in enumerate(systems):
        x = MARGIN_LEFT + (i % 3) * column_width
        y = legend_top + (i // 3) * LEGEND_LINE
        dash = ' stroke-dasharray="6 4"' if system in dashed else ""
        parts.append(
            f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 24:.1f}" y2="{y - 4}" '
            f'stroke="{colours[system]}" stroke-width="3"{dash}/>'
        )
        label = f"{system} (no fsync)" if system in dashed else system
        parts.append(f'<text x="{x + 30:.1f}" y="{y}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
