"""Bar charts drawn on the server with matplotlib, as SVG text ready to inline in an HTML report.

Every glyph is a path (``svg.fonttype = path``): the reader needs no font. Each chart is made safe and
self-contained for inlining: no XML prolog or doctype, no comments (matplotlib writes every label into one),
no stylesheet of its own (its ``*`` rule would style the whole page), ``href`` instead of ``xlink:href`` (so
the only URL left is the SVG namespace), and every id prefixed with the chart's id (several charts share one
document). Bars are drawn for non-zero values only and each bar is a ``<g class="mark">`` carrying its series,
label and value, so a reader (or a test) can tell which bar shows which figure.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

ENROLLED_COLOR = "#2b6cb0"
COMPLETED_COLOR = "#2f855a"
ACTIVE_COLOR = "#b7791f"
NEUTRAL_COLOR = "#4a5568"
LABEL_MAX_CHARS = 40
_WIDTH_IN = 7.5
_RC: Any = {  # matplotlib's stubs type rc keys as literals
    "svg.fonttype": "path",
    "svg.hashsalt": "smartcourse-report",  # the same figures draw the same SVG (ids do not change per run)
    "text.parse_math": False,  # a "$" in a course or module title is text, never mathtext
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_GID = re.compile(r'<g id="(mark-(\d+))"')
_ID_REF = re.compile(r'(id="|href="#|url\(#)([^")]+)')


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str


@dataclass(frozen=True)
class _Mark:
    series: str
    label: str
    value: float


def short_label(text: str, limit: int = LABEL_MAX_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _figure(height_in: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(_WIDTH_IN, height_in), layout="constrained")
    return figure, figure.add_subplot()


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def vertical_bars(chart_id: str, title: str, labels: Sequence[str | date], series: Sequence[Series], *,
                  y_label: str, empty_text: str) -> str:
    """Side-by-side bars per label (dates get a date axis); one mark per non-zero value."""
    import matplotlib
    from matplotlib import dates as mdates

    with matplotlib.rc_context(_RC):
        figure, ax = _figure(3.2)
        use_dates = bool(labels) and all(isinstance(x, date) for x in labels)
        positions = [float(mdates.date2num(x)) for x in labels] if use_dates else list(range(len(labels)))
        width = 0.8 / max(1, len(series))
        marks: list[_Mark] = []
        for s_index, s in enumerate(series):
            offset = (s_index - (len(series) - 1) / 2) * width
            shown = [(p + offset, v, lab) for p, v, lab in zip(positions, s.values, labels, strict=True) if v]
            if not shown:
                continue
            bars = ax.bar([p for p, _, _ in shown], [v for _, v, _ in shown], width=width, color=s.color,
                          label=s.name)
            for bar, (_, value, lab) in zip(bars, shown, strict=True):
                bar.set_gid(f"mark-{len(marks)}")
                marks.append(_Mark(s.name, lab.isoformat() if isinstance(lab, date) else str(lab), float(value)))
        if use_dates:
            ax.set_xlim(positions[0] - 0.6, positions[-1] + 0.6)
            locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        else:
            ax.set_xticks(positions, [short_label(str(x)) for x in labels])
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(y_label)
        ax.set_title(short_label(title, 80), loc="left")
        if marks:
            if len(series) > 1:
                ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=len(series), frameon=False)
        else:
            ax.set_ylim(0, 1)
            ax.text(0.5, 0.5, empty_text, ha="center", va="center", transform=ax.transAxes, color=NEUTRAL_COLOR)
        return _finish(figure, chart_id, title, marks)


def horizontal_bars(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], *,
                    x_label: str, empty_text: str) -> str:
    """One row per label (first at the top), one bar per series and non-zero value."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        figure, ax = _figure(min(12.0, 1.4 + 0.28 * max(1, len(labels)) * max(1, len(series))))
        height = 0.8 / max(1, len(series))
        positions = list(range(len(labels)))
        marks: list[_Mark] = []
        for s_index, s in enumerate(series):
            offset = (s_index - (len(series) - 1) / 2) * height
            shown = [(p + offset, v, lab) for p, v, lab in zip(positions, s.values, labels, strict=True) if v]
            if not shown:
                continue
            bars = ax.barh([p for p, _, _ in shown], [v for _, v, _ in shown], height=height, color=s.color,
                           label=s.name)
            for bar, (_, value, lab) in zip(bars, shown, strict=True):
                bar.set_gid(f"mark-{len(marks)}")
                marks.append(_Mark(s.name, lab, float(value)))
        ax.set_yticks(positions, [short_label(x) for x in labels])
        ax.invert_yaxis()
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel(x_label)
        ax.set_title(short_label(title, 80), loc="left")
        if marks:
            if len(series) > 1:
                ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=len(series), frameon=False)
        else:
            ax.set_xlim(0, 1)
            ax.text(0.5, 0.5, empty_text, ha="center", va="center", transform=ax.transAxes, color=NEUTRAL_COLOR)
        return _finish(figure, chart_id, title, marks)


def _finish(figure: Any, chart_id: str, title: str, marks: Sequence[_Mark]) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buffer = io.StringIO()
    FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None, "Creator": None, "Format": None,
                                                        "Type": None})
    return inline_svg(buffer.getvalue(), chart_id, title, marks)


def inline_svg(svg: str, chart_id: str, title: str, marks: Sequence[_Mark] = ()) -> str:
    """matplotlib's SVG document as an element to inline (see the module docstring)."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, flags=re.DOTALL)
    svg = svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "").replace("xlink:href=", "href=")

    def describe(match: re.Match[str]) -> str:
        mark = marks[int(match.group(2))]
        return (f'<g id="{match.group(1)}" class="mark" data-series="{html.escape(mark.series)}" '
                f'data-label="{html.escape(mark.label)}" data-value="{_fmt(mark.value)}"')

    svg = _GID.sub(describe, svg)
    ids = set(re.findall(r'id="([^"]+)"', svg))
    svg = _ID_REF.sub(lambda m: m.group(1) + (f"{chart_id}-{m.group(2)}" if m.group(2) in ids else m.group(2)),
                      svg)
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*" ',
                 lambda m: f'<svg id="{chart_id}" class="chart" role="img" aria-label="{html.escape(title)}" '
                           f"{m.group(1)}", svg, count=1)
    return svg.replace(">", f"><title>{html.escape(title)}</title>", 1).strip()
