"""The console's server-side SVG: the line and bar charts and the journey graph are well-formed SVG with a
<title> and <desc>, escape every text, use no style attribute (the console's CSP forbids them), scale
and place what they draw correctly, and degrade to something sensible without data."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest

from ingest.console.charts import (
    Series,
    bar_chart,
    label_indices,
    line_chart,
    nice_step,
    nice_ticks,
    truncate,
)
from ingest.console.graph import NODE_H, NODE_W, Node, journey_graph, layers

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(\"x\")</script> & 'quotes'"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def all_of(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(f"{SVG}{tag}"))


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in all_of(root, "text")]


def assert_accessible_and_clean(svg: str, title: str) -> ET.Element:
    root = parse(svg)
    assert root.get("role") == "img"
    chart_title, chart_desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert chart_title is not None and chart_title.text == title and chart_desc is not None and chart_desc.text
    assert root.get("aria-labelledby") == f"{chart_title.get('id')} {chart_desc.get('id')}"
    assert "style=" not in svg and "<script" not in svg and "javascript:" not in svg.lower()
    return root


# ---- scales -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "intervals", "step"),
    [(10, 4, 2.5), (100, 4, 25), (7, 4, 2), (1, 4, 0.25), (0.03, 4, 0.01), (1234, 5, 250), (0, 4, 1.0)],
)
def test_steps_are_round_numbers(span, intervals, step):
    assert nice_step(span, intervals) == pytest.approx(step)


@pytest.mark.parametrize(
    ("low", "high"), [(0, 10), (0, 1234.5), (3, 12), (-40, 95), (0.001, 0.0042), (5, 5), (0, 0), (-7, -7)]
)
def test_ticks_cover_the_values_with_round_equal_steps(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= min(low, high) and ticks[-1] >= max(low, high)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1 and len(ticks) >= 2
    if low <= 0 <= high or low == high:
        assert any(math.isclose(t, 0, abs_tol=1e-12) for t in ticks) or ticks[0] <= 0 <= ticks[-1]


def test_x_labels_are_spread_and_keep_the_first_and_last():
    assert label_indices(5) == [0, 1, 2, 3, 4]
    for count in (8, 30, 31, 90, 400):
        picked = label_indices(count)
        assert picked[0] == 0 and picked[-1] == count - 1 and len(picked) <= 8
        assert picked == sorted(set(picked))
    assert truncate("abcdef", 4) == "abc…" and truncate("abc", 4) == "abc" and truncate("abc", 1) == "…"


# ---- the line chart -----------------------------------------------------------------------------


def test_a_line_chart_has_axes_labels_a_legend_and_a_marked_point_per_value():
    labels = [f"{d:02d}.12." for d in range(1, 8)]
    svg = line_chart(
        labels,
        [Series("Umsatz", [0, 10, 20, 15, None, 40, 30]), Series("Zugeordnet", [0, 1, 2, 3, 4, 5, 6])],
        chart_id="trend",
        title="Umsatz pro Tag",
        desc="Umsatz: 115",
        y_format=lambda v: f"{v:g} €",
    )
    root = assert_accessible_and_clean(svg, "Umsatz pro Tag")
    shown = texts(root)
    assert "01.12." in shown and "07.12." in shown  # x axis: first and last day
    assert "0 €" in shown and "40 €" in shown  # y axis from zero to the largest value
    assert "Umsatz" in shown and "Zugeordnet" in shown  # the legend
    circles = all_of(root, "circle")
    assert len(circles) == 6 + 7  # one per value; the gap has none
    assert {"".join(c.itertext()) for c in circles} >= {"06.12.: 40 €", "03.12.: 20 €"}
    # the gap splits the first series' line in two
    first = root.find(f"{SVG}g[@data-series='Umsatz']")
    assert first is not None and len(all_of(first, "polyline")) == 2


def test_the_line_goes_up_where_the_values_go_up():
    svg = line_chart(["a", "b", "c"], [Series("s", [1, 5, 3])], chart_id="c", title="t")
    (line,) = all_of(parse(svg), "polyline")
    points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs) and ys[1] < ys[2] < ys[0]  # SVG y grows downwards


def test_one_series_gets_a_legend_when_asked():
    plain = parse(line_chart(["a", "b"], [Series("lapsed", [1, 2])], chart_id="c", title="t"))
    named = parse(line_chart(["a", "b"], [Series("lapsed", [1, 2])], chart_id="c", title="t", legend=True))
    assert "lapsed" not in texts(plain) and "lapsed" in texts(named)


def test_without_zero_the_axis_fits_the_values():
    svg = line_chart(["a", "b"], [Series("s", [100, 110])], chart_id="c", title="t", zero=False)
    assert "0" not in texts(parse(svg))[:6]


def test_long_series_are_drawn_without_point_marks_but_lone_values_stay_visible():
    values = [float(i) for i in range(90)]
    values[50] = None
    values[52] = None  # 51 stands alone between two gaps
    svg = line_chart([str(i) for i in range(90)], [Series("s", values)], chart_id="c", title="t")
    root = parse(svg)
    circles = all_of(root, "circle")
    assert len(circles) == 1 and not "".join(circles[0].itertext())
    assert len(all_of(root, "polyline")) == 2


@pytest.mark.parametrize("values", [[], [None, None], [0, 0, 0], [7]])
def test_a_line_chart_without_much_data_still_draws_a_scale(values):
    labels = [str(i) for i in range(len(values))]
    svg = line_chart(labels, [Series("s", values)], chart_id="c", title="empty")
    root = assert_accessible_and_clean(svg, "empty")
    assert len([t for t in texts(root) if re.fullmatch(r"-?[\d.]+", t)]) >= 2
    if values == [7]:
        (circle,) = all_of(root, "circle")
        assert float(circle.get("cx")) > 0


def test_every_text_of_a_line_chart_is_escaped():
    svg = line_chart([EVIL, "b"], [Series(EVIL, [1, 2])], chart_id='id"x', title=EVIL, desc=EVIL)
    root = parse(svg)  # still well-formed
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert root.find(f"{SVG}title").text == EVIL and EVIL in texts(root)


# ---- the bar chart ------------------------------------------------------------------------------


def bars(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-label"): g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g") if g.get("class") == "bar"}


def test_bars_are_proportional_in_the_given_order_with_their_values():
    items = [("E-Mail", 300.0), ("SMS", 150.0), ("Push", 0.0)]
    svg = bar_chart(items, chart_id="b", title="Umsatz nach Kanal", value_format=lambda v: f"{v:.2f} €")
    root = assert_accessible_and_clean(svg, "Umsatz nach Kanal")
    drawn = bars(root)
    assert list(drawn) == ["E-Mail", "SMS", "Push"]
    widths = {k: float(r.get("width")) for k, r in drawn.items()}
    assert widths["E-Mail"] == pytest.approx(2 * widths["SMS"], rel=0.01) and widths["Push"] == 0
    ys = [float(r.get("y")) for r in drawn.values()]
    assert ys == sorted(ys)
    assert {"300.00 €", "150.00 €", "0.00 €"} <= set(texts(root))


def test_negative_bars_extend_left_of_the_zero_line():
    svg = bar_chart([("refunds", -50.0), ("orders", 100.0)], chart_id="b", title="t")
    root = parse(svg)
    drawn = bars(root)
    zero = float(next(ln for ln in all_of(root, "line")).get("x1"))
    neg, pos = drawn["refunds"], drawn["orders"]
    assert float(neg.get("x")) + float(neg.get("width")) == pytest.approx(zero)
    assert float(pos.get("x")) == pytest.approx(zero)
    assert float(pos.get("width")) == pytest.approx(2 * float(neg.get("width")), rel=0.01)


def test_long_labels_are_cut_and_whole_in_the_title_and_everything_is_escaped():
    long = "a-journey-with-a-very-long-name-that-does-not-fit"
    svg = bar_chart([(long, 1.0), (EVIL, 2.0)], chart_id="b", title=EVIL, label_width=100)
    root = parse(svg)
    shown = texts(root)
    assert any(t.endswith("…") and long.startswith(t[:-1]) for t in shown)
    titles = ["".join(t.itertext()) for t in all_of(root, "title")]
    assert f"{long}: 1" in titles and f"{EVIL}: 2" in titles
    assert "<script>" not in svg


def test_a_bar_chart_without_items_says_so():
    svg = bar_chart([], chart_id="b", title="Umsatz", empty="Keine Daten.")
    root = assert_accessible_and_clean(svg, "Umsatz")
    assert texts(root) == ["Keine Daten."] and not bars(root)


# ---- the journey graph --------------------------------------------------------------------------

WINBACK = [
    Node("miss-you", "send", "send", "winback-miss-you", {"entered": 100, "waiting": 0, "converted": 4, "exited": 2}),
    Node("interested", "wait", "wait", "email.clicked ≤ 14 d", {"entered": 98, "waiting": 98}),
    Node("new-arrivals", "send", "send", "winback-new-arrivals", {"entered": 30}),
    Node("coupon", "send", "send", "winback-coupon", {"entered": 60, "converted": 9}),
    Node("done", "exit", "exit", "", {"entered": 90}),
]
WINBACK_EDGES = [
    ("miss-you", "interested"),
    ("interested", "new-arrivals"),
    ("interested", "coupon"),
    ("new-arrivals", "done"),
    ("coupon", "done"),
]
COUNTS = [("entered", "entered"), ("waiting", "waiting"), ("converted", "converted"), ("exited", "exited")]


def boxes(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-step"): g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g") if g.get("class") == "step"}


def test_rows_follow_the_longest_path_so_branch_targets_stand_side_by_side():
    assert layers(WINBACK, WINBACK_EDGES) == {
        "miss-you": 0,
        "interested": 1,
        "new-arrivals": 2,
        "coupon": 2,
        "done": 3,
    }
    # a step nothing leads to goes below the one before it; a backward edge changes no row
    nodes = [Node(n, "send", "send") for n in ("a", "b", "orphan", "c")]
    assert layers(nodes, [("a", "b"), ("b", "c"), ("c", "a")]) == {"a": 0, "b": 1, "orphan": 2, "c": 2}


def test_the_graph_draws_every_step_with_its_counts_and_every_edge():
    svg = journey_graph(
        WINBACK,
        WINBACK_EDGES,
        chart_id="g",
        title="winback",
        counts=COUNTS,
        count_format=lambda v: f"{v:g}",
        edge_labels={("interested", "coupon"): "timeout", ("interested", "new-arrivals"): "email.clicked"},
    )
    root = assert_accessible_and_clean(svg, "winback")
    drawn = boxes(root)
    assert list(drawn) == [n.id for n in WINBACK]
    top = {k: float(r.get("y")) for k, r in drawn.items()}
    left = {k: float(r.get("x")) for k, r in drawn.items()}
    assert top["miss-you"] < top["interested"] < top["coupon"] == top["new-arrivals"] < top["done"]
    assert abs(left["coupon"] - left["new-arrivals"]) >= NODE_W  # side by side, not overlapping
    counted = {
        (g.get("data-step"), t.get("data-count")): t.get("data-value")
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "step"
        for t in g.iter(f"{SVG}tspan")
        if t.get("data-count")
    }
    assert counted[("miss-you", "entered")] == "100" and counted[("coupon", "converted")] == "9"
    assert counted[("new-arrivals", "waiting")] == "0"  # a count the report lacks is 0
    edges = [p for p in all_of(root, "path") if p.get("marker-end")]
    assert len(edges) == len(WINBACK_EDGES)
    assert {"".join(t.itertext()) for t in all_of(root, "text")} >= {"timeout", "email.clicked"}
    # the funnel bar under each box: the busiest step's is the widest
    bar_widths = {
        g.get("data-step"): float(g.findall(f"{SVG}rect")[-1].get("width"))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "step"
    }
    assert bar_widths["miss-you"] == max(bar_widths.values()) and bar_widths["new-arrivals"] < bar_widths["coupon"]


def test_two_arms_to_the_same_step_are_one_edge():
    nodes = [Node(n, "send", "send") for n in ("a", "b", "c")]
    svg = journey_graph(
        nodes, [("a", "b"), ("a", "c"), ("a", "c")], chart_id="g", title="t", counts=COUNTS, count_format=str
    )
    assert len([p for p in all_of(parse(svg), "path") if p.get("marker-end")]) == 2


def test_edges_that_skip_rows_or_go_back_run_in_lanes_beside_the_boxes():
    nodes = [Node(n, "send", "send") for n in ("a", "b", "c", "d")]
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("d", "b")]
    svg = journey_graph(
        nodes,
        edges,
        chart_id="g",
        title="t",
        counts=COUNTS,
        count_format=str,
        edge_labels={("a", "d"): "skip", ("d", "b"): "again"},
    )
    root = parse(svg)
    drawn = boxes(root)
    right = max(float(r.get("x")) + NODE_W for r in drawn.values())
    left = min(float(r.get("x")) for r in drawn.values())
    paths = {p.find(f"{SVG}title").text: p for p in all_of(root, "path") if p.get("marker-end")}
    skip, back = paths["a → d"].get("d"), paths["d → b"].get("d")
    lane = float(re.search(r"H([\d.]+) V", skip).group(1))
    assert lane > right  # to the right of every box
    assert float(re.search(r"H([\d.]+) V", back).group(1)) < left and paths["d → b"].get("stroke-dasharray")
    label_boxes = [
        g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g") if g.get("class") == "edge-label"
    ]  # outside the lanes, overlapping no box
    for rect in label_boxes:
        x, w = float(rect.get("x")), float(rect.get("width"))
        assert x >= lane or x + w <= left
    assert float(root.get("width")) >= max(float(r.get("x")) + float(r.get("width")) for r in label_boxes)


def test_the_graph_escapes_step_names_and_labels_and_handles_no_steps():
    nodes = [Node(EVIL, "send", EVIL, EVIL, {"entered": 1}), Node("b", "mystery", "?")]
    svg = journey_graph(
        nodes, [(EVIL, "b"), ("b", "unknown")], chart_id="g", title=EVIL, counts=COUNTS, count_format=str
    )
    root = parse(svg)
    assert "<script>" not in svg
    step = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "step")
    assert step.get("data-step") == EVIL and step.find(f"{SVG}title").text.startswith(EVIL)
    empty = journey_graph([], [], chart_id="e", title="none", counts=COUNTS, count_format=str)
    assert parse(empty).find(f"{SVG}title").text == "none"
    assert NODE_H > 0
