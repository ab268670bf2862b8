"""Charts of a patient's trends as SVG or PNG, drawn from the stored weekly summaries.

Drawn with matplotlib's object API (no pyplot, so no global state between requests) on the Agg
backend. SVG keeps its text as text, so it stays sharp, searchable and small.
"""

import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context
from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure

from diary.models import TrendSummary
from diary.trends.selectors import EventMark
from diary.vocabulary import RELIEF_MEASURES, RELIEF_SCALE, TRIGGERS

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
# Colours that stay apart for the common colour-vision deficiencies (Okabe-Ito).
SEVERITY, SPASMS, MEDICATION, PUMP, INJECTION = "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00"
EVENT_STYLE: dict[Any, Any] = {"medication": (MEDICATION, "--"), "pump": (PUMP, ":"), "injection": (INJECTION, "-")}
STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "spasticity-trends",  # the same data draws the same SVG
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _figure(height: float = 3.6) -> Figure:
    return Figure(figsize=(7.5, height), dpi=100, layout="constrained")


def _no_data(figure: Figure, title: str) -> None:
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_title(title, loc="left")
    axes.text(0.5, 0.5, "Nothing recorded in this time", ha="center", va="center", color="#555555")


def _weekly_series(weeks: Sequence[TrendSummary]) -> list[tuple[date, TrendSummary | None]]:
    """Every week from the first to the last summary, ``None`` for a week without one, so that a
    line breaks where the diary has a gap instead of bridging it."""
    by_start = {w.period_start: w for w in weeks}
    first, last = weeks[0].period_start, weeks[-1].period_start
    return [
        (first + timedelta(weeks=n), by_start.get(first + timedelta(weeks=n)))
        for n in range((last - first).days // 7 + 1)
    ]


def _value(week: TrendSummary | None, read: Callable[[TrendSummary], float | None]) -> float:
    """A week's figure, or NaN (not drawn) for a missing week or an unknown figure."""
    value = read(week) if week is not None else None
    return float("nan") if value is None else float(value)


def severity_chart(weeks: Sequence[TrendSummary], marks: Sequence[EventMark]) -> Figure:
    """Weekly mean and worst severity, spasms per diary day, and plan events on the time axis.

    A week without entries breaks the severity line, and a week whose spasms were not counted
    has no bar: unknown is not zero.
    """
    figure = _figure(4.2)
    title = "Severity (0-10) and spasms per day, by week"
    if not weeks:
        _no_data(figure, title)
        return figure
    axes = figure.add_subplot()
    series = _weekly_series(weeks)
    days = date2num([start for start, _ in series])
    counted = [
        (start, day, week.spasms_per_day)
        for day, (start, week) in zip(days, series, strict=True)
        if week is not None and week.spasms_per_day is not None
    ]
    spasms = axes.twinx()
    bars = spasms.bar(
        [day for _, day, _ in counted],
        [rate for _, _, rate in counted],
        width=5,
        color=SPASMS,
        alpha=0.35,
        label="Spasms per diary day",
    )
    for bar, (start, _, _) in zip(bars, counted, strict=True):
        bar.set_gid(f"spasms-{start.isoformat()}")  # element ids in the SVG: which weeks have a bar
    spasms.set_ylabel("Spasms per day")
    spasms.spines["right"].set_visible(True)
    axes.set_zorder(spasms.get_zorder() + 1)
    axes.patch.set_visible(False)
    axes.plot(
        days,
        [_value(w, lambda w: w.severity_mean) for _, w in series],
        marker="o",
        color=SEVERITY,
        label="Mean severity",
        gid="mean-severity",
    )
    axes.plot(
        days,
        [_value(w, lambda w: w.figures["severity_max"]) for _, w in series],
        linestyle="none",
        marker="^",
        color=SEVERITY,
        alpha=0.5,
        label="Worst severity",
    )
    axes.set_ylim(0, 10.5)
    axes.set_ylabel("Severity (NRS 0-10)")
    axes.set_title(title, loc="left")
    axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
    # The axis runs over the weeks shown and any plan event since (the caller passes events up
    # to today only): a change after the diary stopped is still on the chart, inside the plot.
    right = max([days[-1] + 10, *(float(date2num(m.day)) + 4 for m in marks)])
    axes.set_xlim(days[0] - 4, right)
    shown: set[str] = set()
    for mark in marks:
        colour, line = EVENT_STYLE[mark.kind]
        label = {"medication": "Medicine change", "pump": "Pump dose change", "injection": "Injection"}[mark.kind]
        day = float(date2num(mark.day))
        axes.axvline(day, color=colour, linestyle=line, linewidth=1.5, label=None if label in shown else label)
        axes.annotate(
            mark.label,
            (mark.day, 10.4),
            rotation=90,
            fontsize=7,
            va="top",
            ha="right",
            color=colour,
            annotation_clip=True,  # a label outside the plot would squeeze it in the layout
        )
        shown.add(label)
    handles, labels = axes.get_legend_handles_labels()
    bar_handles, bar_labels = spasms.get_legend_handles_labels()
    axes.legend(handles + bar_handles, labels + bar_labels, loc="upper left", fontsize=8, ncols=3, frameon=False)
    return figure


def time_of_day_chart(weeks: Sequence[TrendSummary], marks: Sequence[EventMark]) -> Figure:
    """A heat map of entries by local hour (columns) and week (rows, newest at the bottom)."""
    figure = _figure(max(2.6, 0.22 * len(weeks) + 1.4))
    title = "When spasms happen: diary entries by hour of the patient's day"
    if not weeks:
        _no_data(figure, title)
        return figure
    axes = figure.add_subplot()
    grid = [w.figures["time_of_day"]["by_hour"] for w in weeks]
    image = axes.imshow(grid, aspect="auto", cmap="YlOrRd", interpolation="nearest")
    axes.set_xticks(range(0, 24, 2), [f"{h:02d}:00" for h in range(0, 24, 2)], fontsize=8)
    step = max(1, len(weeks) // 12)
    axes.set_yticks(range(0, len(weeks), step), [w.figures["label"] for w in weeks][::step], fontsize=8)
    axes.set_title(title, loc="left")
    figure.colorbar(image, ax=axes, label="Entries", shrink=0.9)
    return figure


def _bars(figure: Figure, title: str, rows: list[tuple[str, float, str]], xlabel: str, xmax: float | None) -> None:
    axes = figure.add_subplot()
    labels, values, notes = zip(*reversed(rows), strict=True)
    bars = axes.barh(labels, values, color=SEVERITY)
    axes.bar_label(bars, labels=list(notes), padding=3, fontsize=8)
    axes.set_xlabel(xlabel)
    axes.set_title(title, loc="left")
    if xmax is not None:
        axes.set_xlim(0, xmax)


def triggers_chart(weeks: Sequence[TrendSummary], marks: Sequence[EventMark]) -> Figure:
    """How often each trigger was named over the weeks shown, most frequent first."""
    counts: dict[str, int] = defaultdict(int)
    for week in weeks:
        for item in week.figures["triggers"]:
            counts[item["trigger"]] += item["count"]
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:10]
    figure = _figure(max(2.4, 0.35 * len(rows) + 1.2))
    title = "Triggers named in the diary"
    if not rows:
        _no_data(figure, title)
        return figure
    label = {w.name: w.label for w in TRIGGERS}
    _bars(figure, title, [(label.get(t, t), n, str(n)) for t, n in rows], "Entries naming the trigger", None)
    return figure


def relief_chart(weeks: Sequence[TrendSummary], marks: Sequence[EventMark]) -> Figure:
    """Each relief measure's mean 'helped' score (0-3) over the weeks shown, with how often it was used."""
    used: dict[str, int] = defaultdict(int)
    helped: dict[str, int] = defaultdict(int)
    for week in weeks:
        for item in week.figures["relief"]:
            used[item["measure"]] += item["used"]
            helped[item["measure"]] += item["helped_total"]
    rows = sorted(used, key=lambda m: (-helped[m] / used[m], -used[m], m))
    figure = _figure(max(2.4, 0.35 * len(rows) + 1.2))
    title = "What helped: mean score (0 did not help, 3 stopped it)"
    if not rows:
        _no_data(figure, title)
        return figure
    label = {w.name: w.label for w in RELIEF_MEASURES}
    _bars(
        figure,
        title,
        [(label.get(m, m), helped[m] / used[m], f"{helped[m] / used[m]:.1f} (used {used[m]}x)") for m in rows],
        f"Mean score: {', '.join(f'{k} {v.lower()}' for k, v in RELIEF_SCALE.items())}",
        3.6,
    )
    return figure


CHARTS: dict[str, tuple[str, Callable[[Sequence[TrendSummary], Sequence[EventMark]], Figure]]] = {
    "severity": ("Severity and spasms by week, with medicine, pump and injection changes", severity_chart),
    "time-of-day": ("Diary entries by hour of the day and week", time_of_day_chart),
    "triggers": ("Triggers named in the diary", triggers_chart),
    "relief": ("Relief measures and how much they helped", relief_chart),
}


def render(name: str, fmt: str, weeks: Sequence[TrendSummary], marks: Sequence[EventMark]) -> bytes:
    """The chart ``name`` as ``fmt`` ("svg" or "png") bytes."""
    with rc_context(STYLE):
        figure = CHARTS[name][1](weeks, marks)
        buffer = io.BytesIO()
        metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def first_day(weeks: Sequence[TrendSummary], default: date) -> date:
    return weeks[0].period_start if weeks else default
