"""Charts as server-rendered SVG: no JavaScript, nothing fetched from elsewhere.

Pure functions: figures and labels in, markup out. Every text is escaped,
so labels may hold anything (a provider's error code, a region the counters
saw); the result is a :class:`~django.utils.safestring.SafeString` to put
in a template as it is.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described
by its ``<desc>``; a chart shows what a table next to it says, in words (the
admin's *SMS traffic* page puts one there). Colours come from the
Okabe-Ito palette, which readers with colour-blindness tell apart, and are
set as attributes with a class beside them, so a style sheet may change them
(``django_smsverify/admin-traffic.css`` does, for the admin's dark theme).
Texts and grid lines take ``currentColor``: the colour of the text around.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from unicodedata import east_asian_width

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Okabe-Ito colours, for the defaults of :class:`Series` and :func:`bar_chart`.
BLUE = "#0072b2"
GREEN = "#009e73"
VERMILION = "#d55e00"
PURPLE = "#cc79a7"


@dataclass(frozen=True)
class Series:
    """One row of columns in :func:`column_chart`: a value per label."""

    name: str
    values: Sequence[int]
    #: Ends the ``class`` of each column (``smsverify-chart-<css_class>``).
    css_class: str
    color: str = BLUE


def nice_scale(maximum: float, ticks: int = 4) -> tuple[int, int]:
    """``(top, step)`` of an axis for whole numbers up to ``maximum``: a step
    of 1, 2 or 5 times a power of ten, and the first multiple of it at or
    above ``maximum`` (``(0, 1)`` scales to ``(4, 1)``)."""
    if maximum <= 0:
        return ticks, 1
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, int(step))
    return step * math.ceil(maximum / step), step


def text_width(text: str, size: int = 12) -> int:
    """About how many pixels ``text`` takes at ``size`` px: a CJK character
    is as wide as it is high, others about 0.6 of that."""
    return round(sum(size if east_asian_width(ch) in "WF" else size * 0.6 for ch in text))


def shorten(text: str, pixels: int, size: int = 12) -> str:
    """``text``, cut to about ``pixels`` wide with an ellipsis when it is wider."""
    if text_width(text, size) <= pixels:
        return text
    while text and text_width(text + "…", size) > pixels:
        text = text[:-1]
    return text + "…"


def percent(rate: float | None) -> str:
    """``0.4567`` as ``"45.7%"``; ``None`` (nothing to divide by) as ``"–"``."""
    if rate is None:
        return "–"
    return f"{rate * 100:.1f}%"


def column_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    description: str,
    rate: Sequence[float | None] | None = None,
    rate_name: str = "",
    titles: Sequence[str] | None = None,
    width: int = 960,
    height: int = 320,
) -> SafeString:
    """Columns side by side for each of ``labels`` (one per :class:`Series`),
    on a count axis at the left, and, when ``rate`` is given, a line of
    ratios (0.5 is 50 %) on a percent axis at the right, broken where a rate
    is ``None``.

    ``titles`` are the full names of the labels, for the tooltips (the
    labels themselves may be short). A column of 0 is not drawn, so the
    columns of a series are its non-zero values. ``chart_id`` must be unique
    in the page: the ids of the title and description derive from it.
    """
    count = len(labels)
    titles = list(titles) if titles is not None else list(labels)
    left, right = 52, (52 if rate is not None else 16)
    top, bottom = 40, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    highest = max((v for s in series for v in s.values), default=0)
    top_value, step = nice_scale(highest)
    slot = plot_w / max(count, 1)
    column = slot * 0.8 / max(len(series), 1)

    out = [_open(chart_id, title, description, width, height, "columns")]
    out.append('<g class="smsverify-chart-axis" fill="currentColor" font-size="12">')
    for value in range(0, top_value + 1, step):
        y = base - value / top_value * plot_h
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="currentColor" stroke-opacity="{0.5 if value == 0 else 0.15}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    room = max(64, 16 + max((text_width(label) for label in labels), default=0))
    every = max(1, math.ceil(count / max(1, plot_w // room)))
    for i, label in enumerate(labels):
        # Counted from the last label, so the newest one always shows.
        if (count - 1 - i) % every == 0:
            x = left + (i + 0.5) * slot
            out.append(
                f'<text x="{x:.1f}" y="{base + 18}" text-anchor="middle">{escape(label)}</text>'
            )
    out.append("</g>")

    for s_index, s in enumerate(series):
        out.append(f'<g class="smsverify-chart-series" data-series="{escape(s.css_class)}">')
        for i, value in enumerate(s.values):
            if value <= 0:
                continue
            h = value / top_value * plot_h
            x = left + i * slot + slot * 0.1 + s_index * column
            out.append(
                f'<rect class="smsverify-chart-bar smsverify-chart-{escape(s.css_class)}" '
                f'x="{x:.1f}" y="{base - h:.1f}" width="{max(column - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{escape(s.color)}" data-value="{value}">'
                f"<title>{escape(titles[i])}: {escape(s.name)} {value}</title></rect>"
            )
        out.append("</g>")

    if rate is not None:
        out.append(_rate_line(rate, titles, rate_name, left, slot, plot_w, plot_h, base))

    out.append(_legend(series, rate_name if rate is not None else "", left))
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped


def _rate_line(
    rate: Sequence[float | None],
    titles: Sequence[str],
    name: str,
    left: int,
    slot: float,
    plot_w: int,
    plot_h: int,
    base: int,
) -> str:
    # 100 % at the top, unless a rate passes it (codes sent one day, used the next).
    highest = max((r for r in rate if r is not None), default=0.0)
    top_rate = max(1.0, math.ceil(highest * 4) / 4)
    right_x = left + plot_w
    out = ['<g class="smsverify-chart-axis" fill="currentColor" font-size="12">']
    for quarter in range(round(top_rate * 4) + 1):
        value = quarter / 4
        y = base - value / top_rate * plot_h
        out.append(f'<text x="{right_x + 6}" y="{y + 4:.1f}">{value * 100:.0f}%</text>')
    out.append("</g>")
    out.append(
        f'<g class="smsverify-chart-rate" stroke="{VERMILION}" fill="{VERMILION}" '
        f'data-series="rate">'
    )
    segment: list[str] = []
    dots: list[str] = []

    def flush() -> None:
        if len(segment) > 1:
            out.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke-width="2"/>')
        segment.clear()

    for i, value in enumerate(rate):
        if value is None:
            flush()
            continue
        x = left + (i + 0.5) * slot
        y = base - min(value, top_rate) / top_rate * plot_h
        segment.append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle class="smsverify-chart-point" cx="{x:.1f}" cy="{y:.1f}" r="3">'
            f"<title>{escape(titles[i])}: {escape(name)} {percent(value)}</title></circle>"
        )
    flush()
    out.extend(dots)
    out.append("</g>")
    return "".join(out)


def _legend(series: Sequence[Series], rate_name: str, left: int) -> str:
    out = ['<g class="smsverify-chart-legend" font-size="12">']
    x = left
    for s in series:
        out.append(
            f'<rect x="{x}" y="12" width="12" height="12" fill="{escape(s.color)}" '
            f'class="smsverify-chart-{escape(s.css_class)}"/>'
            f'<text x="{x + 18}" y="22" fill="currentColor">{escape(s.name)}</text>'
        )
        x += 34 + text_width(s.name)
    if rate_name:
        out.append(
            f'<line x1="{x}" x2="{x + 16}" y1="18" y2="18" stroke="{VERMILION}" stroke-width="2" '
            f'class="smsverify-chart-rate-key"/>'
            f'<circle cx="{x + 8}" cy="18" r="3" fill="{VERMILION}" '
            f'class="smsverify-chart-rate-key"/>'
            f'<text x="{x + 22}" y="22" fill="currentColor">{escape(rate_name)}</text>'
        )
    out.append("</g>")
    return "".join(out)


def bar_chart(
    rows: Sequence[tuple[str, int]],
    *,
    chart_id: str,
    title: str,
    description: str,
    css_class: str = "bar",
    color: str = VERMILION,
    width: int = 640,
) -> SafeString:
    """A horizontal bar per ``(label, value)`` row, the label at its left and
    the value at its end, longest bar for the largest value. ``chart_id``
    must be unique in the page."""
    row_h, top = 24, 8
    room = width * 2 // 5
    longest = max((text_width(label) for label, _value in rows), default=0)
    label_w = min(room, 16 + longest)
    bar_room = width - label_w - 64
    highest = max((value for _label, value in rows), default=0)
    height = top * 2 + row_h * max(len(rows), 1)
    out = [_open(chart_id, title, description, width, height, "bars")]
    out.append('<g font-size="12">')
    for i, (label, value) in enumerate(rows):
        y = top + i * row_h
        bar = value / highest * bar_room if highest > 0 else 0
        out.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" fill="currentColor">'
            f"{escape(shorten(label, label_w - 16))}</text>"
        )
        if bar > 0:
            out.append(
                f'<rect class="smsverify-chart-bar smsverify-chart-{escape(css_class)}" '
                f'x="{label_w}" y="{y + 4}" width="{bar:.1f}" height="{row_h - 8}" '
                f'fill="{escape(color)}" data-value="{value}">'
                f"<title>{escape(label)}: {value}</title></rect>"
            )
        out.append(
            f'<text x="{label_w + bar + 6:.1f}" y="{y + 16}" fill="currentColor">{value}</text>'
        )
    out.append("</g></svg>")
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped


def _open(chart_id: str, title: str, description: str, width: int, height: int, kind: str) -> str:
    cid = escape(chart_id)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="smsverify-chart smsverify-chart-{kind}" '
        f'id="{cid}" '
        f'role="img" aria-labelledby="{cid}-title" aria-describedby="{cid}-desc" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(description)}</desc>'
    )
