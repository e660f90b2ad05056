"""A journey's graph as inline SVG, annotated like a funnel: every step a box with its kind and the
customers who entered, waited, converted and exited there, a bar under it for its share of the busiest
step, and the edges of the journey between them.

The layout is layered: a step's row is the longest path to it from the first step along edges that go
forward in the journey's order, so the targets of a branch or split stand side by side. An edge to the
next row is a curve; an edge that skips rows runs down a lane on the right, one that goes back runs up a
lane on the left, so no edge crosses a box. Same drawing rules as charts.py: no script, no style
attribute, every text escaped."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ingest.console.charts import CHAR_WIDTH, GRID, INK, MUTED, _n, _open, _text, truncate

NODE_W, NODE_H = 216, 82
COL_GAP, ROW_GAP = 28, 46
LANE = 14  # between the vertical lanes of long or backward edges
MARGIN = 12
KIND_COLORS = {
    "send": "#0f766e",
    "wait": "#6b7280",
    "branch": "#b45309",
    "split": "#4338ca",
    "update": "#0369a1",
    "emit": "#0369a1",
    "exit": "#1f2933",
}


LABEL_CHARS = 30


def _label_width(text: str) -> float:
    """The width an edge label takes (with its padding and a gap); 0 without a label."""
    return CHAR_WIDTH * 0.92 * len(truncate(text, LABEL_CHARS)) + 12 if text else 0.0


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # send, wait, branch, split, update, emit, exit (colours the box)
    kind_label: str  # the kind as the reader's language names it
    detail: str = ""  # what the step does (a template, a wait, the split's arms)
    counts: Mapping[str, float] = field(default_factory=dict)


def layers(nodes: Sequence[Node], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each step's row: the longest forward path to it from the first step (a step nothing leads to
    goes one row below the step before it)."""
    index = {n.id: i for i, n in enumerate(nodes)}
    preds: dict[str, list[str]] = {n.id: [] for n in nodes}
    for a, b in edges:
        if a in index and b in index and index[b] > index[a]:
            preds[b].append(a)
    row: dict[str, int] = {}
    for i, node in enumerate(nodes):
        found = [row[p] + 1 for p in preds[node.id] if p in row]
        row[node.id] = max(found) if found else (row[nodes[i - 1].id] + 1 if i else 0)
    return row


def journey_graph(
    nodes: Sequence[Node],
    edges: Sequence[tuple[str, str]],
    *,
    chart_id: str,
    title: str,
    counts: Sequence[tuple[str, str]],
    count_format: Callable[[float], str],
    edge_labels: Mapping[tuple[str, str], str] | None = None,
    desc: str = "",
    test_id: str | None = None,
) -> str:
    """``counts``: (counter, label) pairs shown in each box, two per line, in that order; the first one
    (entered) also sizes the funnel bar."""
    edge_labels = edge_labels or {}
    if not nodes:
        out = _open(chart_id, 200, 24, title, desc, test_id)
        return "".join([*out, "</svg>"])
    row = layers(nodes, edges)
    by_row: dict[int, list[Node]] = {}
    for node in nodes:
        by_row.setdefault(row[node.id], []).append(node)
    index = {n.id: i for i, n in enumerate(nodes)}
    known = list(dict.fromkeys((a, b) for a, b in edges if a in index and b in index))  # two arms, one edge
    long_edges = [(a, b) for a, b in known if row[b] > row[a] + 1]
    back_edges = [(a, b) for a, b in known if row[b] <= row[a]]
    widest = max(len(r) for r in by_row.values())
    content_w = widest * NODE_W + (widest - 1) * COL_GAP
    left_lanes = len(back_edges) * LANE + (LANE if back_edges else 0)
    right_lanes = len(long_edges) * LANE + (LANE if long_edges else 0)
    # labels of lane edges stand outside their lane, away from the boxes
    left_lanes += max((_label_width(edge_labels.get(e, "")) for e in back_edges), default=0.0)
    right_lanes += max((_label_width(edge_labels.get(e, "")) for e in long_edges), default=0.0)
    width = MARGIN * 2 + left_lanes + content_w + right_lanes
    rows = max(row.values()) + 1
    height = MARGIN * 2 + rows * NODE_H + (rows - 1) * ROW_GAP
    origin = MARGIN + left_lanes
    pos: dict[str, tuple[float, float]] = {}  # top-left corner of each box
    for r, members in by_row.items():
        row_w = len(members) * NODE_W + (len(members) - 1) * COL_GAP
        start = origin + (content_w - row_w) / 2
        for k, node in enumerate(members):
            pos[node.id] = (start + k * (NODE_W + COL_GAP), MARGIN + r * (NODE_H + ROW_GAP))

    out = _open(chart_id, width, height, title, desc, test_id)
    out.append(
        f'<defs><marker id="{_text(chart_id)}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{MUTED}"/></marker></defs>'
    )
    arrow = f'marker-end="url(#{_text(chart_id)}-arrow)"'
    labels: list[str] = []

    def label(a: str, b: str, lx: float, ly: float, anchor: str = "middle") -> None:
        text = edge_labels.get((a, b))
        if not text:
            return
        shown = truncate(text, LABEL_CHARS)
        w = _label_width(text) - 4
        rx = lx - w / 2 if anchor == "middle" else lx if anchor == "start" else lx - w
        labels.append(
            f'<g class="edge-label"><title>{_text(text)}</title>'
            f'<rect x="{_n(rx)}" y="{_n(ly - 11)}" width="{_n(w)}" height="15" rx="3" fill="#ffffff" '
            f'stroke="{GRID}"/><text x="{_n(rx + w / 2)}" y="{_n(ly)}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{_text(shown)}</text></g>'
        )

    right_end = origin + content_w + LANE * (len(long_edges) + 1)
    left_end = origin - LANE * (len(back_edges) + 1)
    stacked: dict[tuple[str, str], int] = {}  # lane edges labelled so far per source and side

    def stack(a: str, side: str) -> float:
        stacked[(a, side)] = stacked.get((a, side), 0) + 1
        return 16.0 * (stacked[(a, side)] - 1)

    for a, b in known:
        ax, ay = pos[a]
        bx, by = pos[b]
        if (a, b) in long_edges:
            lane = origin + content_w + LANE * (1 + long_edges.index((a, b)))
            sy, ty = ay + NODE_H / 2, by + NODE_H / 2
            out.append(
                f'<path d="M{_n(ax + NODE_W)},{_n(sy)} H{_n(lane)} V{_n(ty)} H{_n(bx + NODE_W + 2)}" fill="none" '
                f'stroke="{MUTED}" stroke-width="1.5" {arrow}><title>{_text(a)} → {_text(b)}</title></path>'
            )
            label(a, b, right_end, sy + 4 + stack(a, "right"), "start")  # in line with the edge's start
        elif (a, b) in back_edges:
            lane = origin - LANE * (1 + back_edges.index((a, b)))
            sy, ty = ay + NODE_H / 2, by + NODE_H / 2
            out.append(
                f'<path d="M{_n(ax)},{_n(sy)} H{_n(lane)} V{_n(ty)} H{_n(bx - 2)}" fill="none" stroke="{MUTED}" '
                f'stroke-width="1.5" stroke-dasharray="4 3" {arrow}><title>{_text(a)} → {_text(b)}</title></path>'
            )
            label(a, b, left_end, sy + 4 + stack(a, "left"), "end")
        else:
            sx, sy = ax + NODE_W / 2, ay + NODE_H
            tx, ty = bx + NODE_W / 2, by - 2
            mid = (sy + ty) / 2
            out.append(
                f'<path d="M{_n(sx)},{_n(sy)} C{_n(sx)},{_n(mid)} {_n(tx)},{_n(mid)} {_n(tx)},{_n(ty)}" '
                f'fill="none" stroke="{MUTED}" stroke-width="1.5" {arrow}><title>{_text(a)} → {_text(b)}</title>'
                "</path>"
            )
            label(a, b, (sx + tx) / 2, mid + 4)

    busiest = max((float(n.counts.get(counts[0][0], 0)) for n in nodes), default=0.0) if counts else 0.0
    chars = int((NODE_W - 16) / CHAR_WIDTH)
    for node in nodes:
        x, y = pos[node.id]
        color = KIND_COLORS.get(node.kind, INK)
        summary = "; ".join(f"{name} {count_format(float(node.counts.get(key, 0)))}" for key, name in counts)
        about = " · ".join(p for p in (node.kind_label, node.detail) if p)
        out.append(
            f'<g class="step" data-step="{_text(node.id)}"><title>{_text(node.id)} ({_text(about)}): '
            f"{_text(summary)}</title>"
        )
        out.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="#ffffff" '
            f'stroke="{color}" stroke-width="1.5"/>'
        )
        out.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="5" height="{NODE_H}" rx="2" fill="{color}"/>')
        out.append(
            f'<text x="{_n(x + 12)}" y="{_n(y + 17)}" font-weight="bold" fill="{INK}">'
            f"{_text(truncate(node.id, chars))}</text>"
        )
        out.append(
            f'<text x="{_n(x + 12)}" y="{_n(y + 33)}" font-size="11" fill="{MUTED}">'
            f"{_text(truncate(about, int(chars * 1.1)))}</text>"
        )
        for line, pair in enumerate((counts[0:2], counts[2:4])):
            spans = []
            for key, name in pair:
                value = float(node.counts.get(key, 0))
                spans.append(
                    f'<tspan data-count="{_text(key)}" data-value="{_n(value)}">{_text(name)} '
                    f'<tspan font-weight="bold">{_text(count_format(value))}</tspan></tspan>'
                )
            if spans:
                out.append(
                    f'<text x="{_n(x + 12)}" y="{_n(y + 51 + 15 * line)}" font-size="11" fill="{INK}">'
                    + "<tspan> · </tspan>".join(spans)
                    + "</text>"
                )
        if busiest > 0:
            share = max(0.0, float(node.counts.get(counts[0][0], 0))) / busiest
            out.append(
                f'<rect x="{_n(x + 12)}" y="{_n(y + NODE_H - 7)}" width="{_n((NODE_W - 24) * share)}" height="3" '
                f'rx="1.5" fill="{color}" opacity="0.55"/>'
            )
        out.append("</g>")
    out += labels
    out.append("</svg>")
    return "".join(out)
