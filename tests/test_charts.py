"""The SVG charts (django_smsverify.charts): well-formed, escaped, accessible,
and drawn to scale."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from django_smsverify import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # Well-formed XML is itself a check: a text that was not escaped breaks it.
    return ET.fromstring(str(markup))  # noqa: S314 - the app's own markup


def bars(svg: ET.Element, css: str) -> list[ET.Element]:
    return [
        rect
        for rect in svg.iter(f"{SVG}rect")
        if f"smsverify-chart-{css}" in rect.get("class", "").split()
        and "smsverify-chart-bar" in rect.get("class", "")
    ]


def daily(**kwargs):
    options = {
        "chart_id": "daily",
        "title": "Codes per day",
        "description": "Sent and verified per day.",
    }
    options.update(kwargs)
    labels = options.pop("labels", ["May 1", "May 2", "May 3", "May 4"])
    series = options.pop(
        "series",
        [
            charts.Series("Sent", [10, 0, 40, 20], "sent"),
            charts.Series("Verified", [5, 0, 30, 20], "verified", charts.GREEN),
        ],
    )
    return parse(charts.column_chart(labels, series, **options))


def test_a_column_per_non_zero_value_of_each_series():
    svg = daily()
    assert [int(b.get("data-value")) for b in bars(svg, "sent")] == [10, 40, 20]
    assert [int(b.get("data-value")) for b in bars(svg, "verified")] == [5, 30, 20]


def test_columns_are_drawn_to_scale_on_one_axis():
    svg = daily()
    sent = {int(b.get("data-value")): float(b.get("height")) for b in bars(svg, "sent")}
    verified = {int(b.get("data-value")): float(b.get("height")) for b in bars(svg, "verified")}
    assert sent[40] == pytest.approx(4 * sent[10], rel=0.01)
    assert sent[20] == pytest.approx(verified[20])
    # Every column stands on the same base line.
    bottoms = {
        round(float(b.get("y")) + float(b.get("height")), 1)
        for b in bars(svg, "sent") + bars(svg, "verified")
    }
    assert len(bottoms) == 1
    # The axis reaches the tallest column: 40 on a scale to 40.
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert ticks[-1] == "40"


def test_the_chart_is_an_image_named_by_its_title_and_described():
    svg = daily(title="Codes per day", description="Sent and verified, 4 days.")
    assert svg.get("role") == "img"
    title = svg.find(f"{SVG}title")
    desc = svg.find(f"{SVG}desc")
    assert title is not None and title.text == "Codes per day"
    assert desc is not None and desc.text == "Sent and verified, 4 days."
    assert svg.get("aria-labelledby") == title.get("id") == "daily-title"
    assert svg.get("aria-describedby") == desc.get("id") == "daily-desc"
    # Each column says what it is when pointed at.
    assert [b.find(f"{SVG}title").text for b in bars(svg, "sent")] == [
        "May 1: Sent 10",
        "May 3: Sent 40",
        "May 4: Sent 20",
    ]


def test_texts_are_escaped():
    evil = '<script>alert("x")</script> & co'
    svg = daily(
        labels=[evil, "b"],
        series=[charts.Series(evil, [3, 4], "sent")],
        title=evil,
        description=evil,
        chart_id='x" onload="alert(1)',
        rate=[0.5, 1.0],
        rate_name=evil,
    )
    assert svg.find(f"{SVG}title").text == evil
    assert svg.find(f"{SVG}desc").text == evil
    assert svg.get("id") == 'x" onload="alert(1)'
    assert svg.get("onload") is None
    assert not list(svg.iter(f"{SVG}script")) and not list(svg.iter("script"))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert evil in texts
    markup = str(charts.bar_chart([(evil, 2)], chart_id="f", title=evil, description=evil))
    assert "<script>" not in markup
    assert parse(markup).find(f"{SVG}title").text == evil


def test_labels_thin_out_so_they_do_not_overlap_and_the_newest_shows():
    labels = [f"day {i}" for i in range(30)]
    svg = daily(labels=labels, series=[charts.Series("Sent", [1] * 30, "sent")])
    shown = [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert 5 <= len(shown) < 30
    assert shown[-1] == "day 29"
    xs = [float(t.get("x")) for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 64


def test_the_conversion_line_breaks_where_nothing_was_sent():
    svg = daily(
        labels=["a", "b", "c", "d", "e"],
        series=[charts.Series("Sent", [2, 0, 4, 4, 5], "sent")],
        rate=[0.5, None, 0.25, 1.0, 0.8],
        rate_name="Conversion",
    )
    lines = list(svg.iter(f"{SVG}polyline"))
    assert [len(line.get("points").split()) for line in lines] == [3]
    points = [c for c in svg.iter(f"{SVG}circle") if c.get("class") == "smsverify-chart-point"]
    assert [p.find(f"{SVG}title").text for p in points] == [
        "a: Conversion 50.0%",
        "c: Conversion 25.0%",
        "d: Conversion 100.0%",
        "e: Conversion 80.0%",
    ]
    # 100 % is the top of the plot, 25 % a quarter of the way up.
    ys = {p.find(f"{SVG}title").text[0]: float(p.get("cy")) for p in points}
    base, top = 320 - 32, 40
    assert ys["d"] == pytest.approx(top)
    assert ys["c"] == pytest.approx(base - (base - top) / 4, abs=0.2)
    assert "Conversion" in [t.text for t in svg.iter(f"{SVG}text")]


def test_a_conversion_above_100_percent_stretches_the_axis():
    svg = daily(
        labels=["a", "b"],
        series=[charts.Series("Sent", [2, 2], "sent")],
        rate=[1.5, 0.5],
        rate_name="Conversion",
    )
    assert "150%" in [t.text for t in svg.iter(f"{SVG}text")]


def test_nothing_to_draw_still_gives_a_valid_chart():
    svg = daily(labels=[], series=[charts.Series("Sent", [], "sent")], rate=[])
    assert svg.get("role") == "img"
    assert bars(svg, "sent") == []


def test_bar_chart_longest_bar_for_the_largest_value():
    rows = [("tencent:LimitExceeded", 8), ("aliyun:isv.BUSINESS_LIMIT_CONTROL", 2)]
    svg = parse(
        charts.bar_chart(
            rows, chart_id="failed", title="Failures", description="By code", css_class="failed"
        )
    )
    drawn = bars(svg, "failed")
    widths = [float(b.get("width")) for b in drawn]
    assert widths[0] == pytest.approx(4 * widths[1])
    assert [b.find(f"{SVG}title").text for b in drawn] == [
        "tencent:LimitExceeded: 8",
        "aliyun:isv.BUSINESS_LIMIT_CONTROL: 2",
    ]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "tencent:LimitExceeded" in texts and "8" in texts and "2" in texts


def test_bar_chart_shortens_long_labels_but_keeps_them_whole_in_the_tooltip():
    label = "provider:" + "X" * 200
    svg = parse(charts.bar_chart([(label, 1)], chart_id="f", title="t", description="d"))
    shown = next(t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end")
    assert shown.endswith("…") and shown.startswith("provider:") and len(shown) < 60
    assert bars(svg, "bar")[0].find(f"{SVG}title").text == f"{label}: 1"
    # The label stays inside the picture.
    assert charts.text_width(shown) <= 640 * 2 // 5


@pytest.mark.parametrize(
    ("maximum", "scale"),
    [(0, (4, 1)), (1, (1, 1)), (3, (3, 1)), (7, (8, 2)), (40, (40, 10)), (60, (60, 20))],
)
def test_nice_scale(maximum, scale):
    assert charts.nice_scale(maximum) == scale


def test_nice_scale_steps_are_1_2_or_5_times_a_power_of_ten():
    for maximum in range(1, 5000, 7):
        top, step = charts.nice_scale(maximum)
        assert top >= maximum and top - step < maximum
        assert int(str(step).rstrip("0") or "0") in (1, 2, 5)
        assert top // step <= 5


def test_percent_and_text_width():
    assert charts.percent(None) == "–"
    assert charts.percent(0.4567) == "45.7%"
    assert charts.percent(1.25) == "125.0%"
    assert charts.text_width("验证码") == 36
    assert charts.text_width("abc") == round(3 * 7.2)
