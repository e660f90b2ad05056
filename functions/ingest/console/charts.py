"""Charts for the console as inline SVG, drawn on the server: a line chart for trends and a horizontal
bar chart. No script, no external font, no style attribute (the console's Content-Security-Policy
allows none): colours and sizes are SVG presentation attributes. Every text is escaped, and every chart
carries a <title> and a <desc> for screen readers (role="img")."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

CHAR_WIDTH = 6.6  # average advance of a 12 px sans-serif character, for sizing labels
FONT = 12
INK = "#1f2933"
MUTED = "#6b7280"
GRID = "#e5e7eb"
PALETTE = ("#0f766e", "#b45309", "#4338ca", "#be123c", "#0369a1", "#4d7c0f")

Format = Callable[[float], str]


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _n(value: float) -> str:
    """A coordinate: one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def truncate(label: str, chars: int) -> str:
    """``label`` cut to ``chars`` characters with an ellipsis."""
    if chars < 2:
        return "…"
    return label if len(label) <= chars else label[: chars - 1] + "…"


def nice_step(span: float, intervals: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) dividing ``span`` into about ``intervals``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, intervals)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power * (1 + 1e-9):
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def nice_ticks(low: float, high: float, intervals: int = 4) -> list[float]:
    """Round tick values covering [low, high], zero included when the range holds it."""
    low, high = min(low, high), max(low, high)
    if low == high:
        if low == 0:
            return [float(i) for i in range(intervals + 1)]  # 0..4: an empty chart still has a scale
        low, high = min(0.0, low), max(0.0, high)
    step = nice_step(high - low, intervals)
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    count = round((stop - start) / step)
    return [round(start + i * step, 10) for i in range(count + 1)]


def _open(chart_id: str, width: float, height: float, title: str, desc: str, test_id: str | None) -> list[str]:
    attrs = f' data-test="{_text(test_id)}"' if test_id else ""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_text(chart_id)}" role="img" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}" '
        f'aria-labelledby="{_text(chart_id)}-title {_text(chart_id)}-desc" font-family="sans-serif" '
        f'font-size="{FONT}"{attrs}>',
        f'<title id="{_text(chart_id)}-title">{_text(title)}</title>',
        f'<desc id="{_text(chart_id)}-desc">{_text(desc or title)}</desc>',
    ]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None: no value (a gap in the line)
    color: str = ""


def label_indices(count: int, most: int = 7) -> list[int]:
    """Which of ``count`` x labels to print (evenly spaced, the first and the last always)."""
    if count <= most:
        return list(range(count))
    step = math.ceil((count - 1) / (most - 1))
    picked = list(range(0, count - 1, step))
    if count - 1 - picked[-1] < step / 2 and len(picked) > 1:
        picked.pop()  # the last regular label would crowd the final one
    return [*picked, count - 1]


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    y_format: Format = lambda v: f"{v:g}",
    desc: str = "",
    width: int = 560,
    height: int = 220,
    test_id: str | None = None,
    points: int = 45,
    zero: bool = True,
    legend: bool | None = None,
) -> str:
    """A line chart of one or more series over categorical x positions (days). Points are marked (each
    with a <title> naming its day and value) when there are at most ``points`` of them. The y axis starts
    at zero unless ``zero`` is False (then it fits the values). A legend names the series when there are
    several, or when ``legend`` asks for one."""
    n = len(x_labels)
    values = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    if zero:
        values.append(0.0)
    ticks = nice_ticks(min(values, default=0.0), max(values, default=0.0))
    low, high = ticks[0], ticks[-1]
    tick_labels = [y_format(t) for t in ticks]
    legend = len(series) > 1 if legend is None else legend and bool(series)
    left = 8 + CHAR_WIDTH * max((len(t) for t in tick_labels), default=1)
    top, right, bottom = (26 if legend else 10), 14, 24
    plot_w, plot_h = max(10.0, width - left - right), max(10.0, height - top - bottom)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low or 1))

    out = _open(chart_id, width, height, title, desc, test_id)
    for tick, label in zip(ticks, tick_labels, strict=True):
        ty = y(tick)
        out.append(
            f'<line x1="{_n(left)}" y1="{_n(ty)}" x2="{_n(left + plot_w)}" y2="{_n(ty)}" stroke="{GRID}" '
            'stroke-width="1"/>'
        )
        out.append(f'<text x="{_n(left - 6)}" y="{_n(ty + 4)}" text-anchor="end" fill="{MUTED}">{_text(label)}</text>')
    out.append(
        f'<line x1="{_n(left)}" y1="{_n(top + plot_h)}" x2="{_n(left + plot_w)}" y2="{_n(top + plot_h)}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    for i in label_indices(n):
        anchor = "start" if n > 1 and i == 0 else "end" if n > 1 and i == n - 1 else "middle"
        out.append(
            f'<text x="{_n(x(i))}" y="{_n(top + plot_h + 16)}" text-anchor="{anchor}" fill="{MUTED}">'
            f"{_text(x_labels[i])}</text>"
        )
    for index, s in enumerate(series):
        color = s.color or PALETTE[index % len(PALETTE)]
        out.append(f'<g class="series" data-series="{_text(s.name)}"><title>{_text(s.name)}</title>')
        run: list[str] = []
        runs: list[list[str]] = []
        for i, v in enumerate(list(s.values)[:n]):
            if v is None or not math.isfinite(v):
                if run:
                    runs.append(run)
                run = []
                continue
            run.append(f"{_n(x(i))},{_n(y(v))}")
        if run:
            runs.append(run)
        for r in runs:
            if len(r) > 1:
                out.append(
                    f'<polyline points="{" ".join(r)}" fill="none" stroke="{color}" stroke-width="2" '
                    'stroke-linejoin="round" stroke-linecap="round"/>'
                )
        if n <= points:
            for i, v in enumerate(list(s.values)[:n]):
                if v is None or not math.isfinite(v):
                    continue
                out.append(
                    f'<circle cx="{_n(x(i))}" cy="{_n(y(v))}" r="3" fill="{color}">'
                    f"<title>{_text(x_labels[i])}: {_text(y_format(v))}</title></circle>"
                )
        elif any(len(r) == 1 for r in runs):  # a lone value between gaps would be invisible without a mark
            for r in runs:
                if len(r) == 1:
                    cx, cy = r[0].split(",")
                    out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
        out.append("</g>")
    if legend:
        lx = left
        for index, s in enumerate(series):
            color = s.color or PALETTE[index % len(PALETTE)]
            out.append(f'<rect x="{_n(lx)}" y="6" width="12" height="12" rx="2" fill="{color}"/>')
            out.append(f'<text x="{_n(lx + 16)}" y="16" fill="{INK}">{_text(s.name)}</text>')
            lx += 16 + CHAR_WIDTH * len(s.name) + 18
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    chart_id: str,
    title: str,
    value_format: Format = lambda v: f"{v:g}",
    desc: str = "",
    empty: str = "",
    width: int = 560,
    bar: int = 20,
    gap: int = 8,
    label_width: int = 150,
    color: str = PALETTE[0],
    test_id: str | None = None,
) -> str:
    """Horizontal bars, one per (label, value), in the order given; labels cut to fit (the whole label
    in the bar's <title>). Negative values extend left of the zero line. Without items: ``empty``."""
    if not items:
        out = _open(chart_id, width, 32, title, desc or empty, test_id)
        out.append(f'<text x="0" y="20" fill="{MUTED}">{_text(empty)}</text></svg>')
        return "".join(out)
    formatted = [value_format(v) for _, v in items]
    value_width = 8 + CHAR_WIDTH * max(len(f) for f in formatted)
    low = min(0.0, *(v for _, v in items))
    high = max(0.0, *(v for _, v in items))
    span = (high - low) or 1.0
    plot_left, plot_w = label_width + 8, max(20.0, width - label_width - 8 - value_width)
    zero = plot_left + plot_w * (0 - low) / span
    height = len(items) * (bar + gap) + gap
    out = _open(chart_id, width, height, title, desc, test_id)
    chars = int(label_width / CHAR_WIDTH)
    for i, ((label, value), text) in enumerate(zip(items, formatted, strict=True)):
        top = gap + i * (bar + gap)
        x0 = zero if value >= 0 else zero - plot_w * (-value) / span
        w = plot_w * abs(value) / span
        out.append(f'<g class="bar" data-label="{_text(label)}"><title>{_text(label)}: {_text(text)}</title>')
        out.append(
            f'<text x="{_n(label_width)}" y="{_n(top + bar / 2 + 4)}" text-anchor="end" fill="{INK}">'
            f"{_text(truncate(label, chars))}</text>"
        )
        out.append(
            f'<rect x="{_n(x0)}" y="{_n(top)}" width="{_n(max(w, 1.0 if value else 0.0))}" height="{bar}" rx="2" '
            f'fill="{color}"/>'
        )
        out.append(
            f'<text x="{_n(max(x0 + w, zero) + 6)}" y="{_n(top + bar / 2 + 4)}" fill="{INK}">{_text(text)}</text>'
        )
        out.append("</g>")
    out.append(f'<line x1="{_n(zero)}" y1="0" x2="{_n(zero)}" y2="{_n(height)}" stroke="{MUTED}" stroke-width="1"/>')
    out.append("</svg>")
    return "".join(out)
