"""Inline-SVG charts for the offline HTML reports, the health report and the backtest report (no
JavaScript, no CDN, no matplotlib): the one place that draws SVG."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from typing import Any

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f")


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(v: float) -> str:
    if abs(v) >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.2f}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    x_labels: Sequence[str] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
    width: int = 520,
    height: int = 320,
) -> str:
    """Lines (name, xs, ys); NaN points break nothing, they are skipped."""
    left, right, top, bottom = 56, 16, 34, 46
    xs_all = [x for _, xs, _ in series for x in xs]
    ys_all = [y for _, _, ys in series for y in ys if y is not None and not math.isnan(y)]
    x0, x1 = (min(xs_all), max(xs_all)) if xs_all else (0.0, 1.0)
    if x1 == x0:
        x1 = x0 + 1
    y0, y1 = y_range or ((min(ys_all), max(ys_all)) if ys_all else (0.0, 1.0))
    if y1 == y0:
        y1 = y0 + 1
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = [_open(width, height, title)]
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>')
        out.append(
            f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" font-size="11">{_fmt(t)}</text>'
        )
    if x_labels:
        step = max(1, len(x_labels) // 6)
        for i, lab in enumerate(x_labels):
            if i % step == 0:
                out.append(
                    f'<text x="{sx(i):.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="10">'
                    f"{_esc(str(lab))}</text>"
                )
    else:
        for t in _ticks(x0, x1):
            out.append(
                f'<text x="{sx(t):.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">{_fmt(t)}</text>'
            )
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    if diagonal:
        out.append(
            f'<line x1="{sx(x0):.1f}" y1="{sy(y0):.1f}" x2="{sx(x1):.1f}" y2="{sy(y1):.1f}" '
            'stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    for i, (name, xs, ys) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = [
            f"{sx(x):.1f},{sy(y):.1f}"
            for x, y in zip(xs, ys, strict=False)
            if y is not None and not math.isnan(y)
        ]
        if pts:
            out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.append(
            f'<rect x="{left + 8}" y="{top + 8 + 16 * i}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + 22}" y="{top + 17 + 16 * i}" font-size="11">{_esc(name)}</text>'
        )
    out.append(_labels(width, height, left, top, ph, x_label, y_label))
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    y_label: str = "",
    value_fmt: str = "{:.1%}",
    reference: float | None = None,
    width: int = 520,
    height: int = 320,
) -> str:
    left, right, top, bottom = 56, 16, 34, 46
    pw, ph = width - left - right, height - top - bottom
    vmax = max([v for v in values if v is not None and not math.isnan(v)] + [reference or 0, 1e-9]) * 1.15
    out = [_open(width, height, title)]
    n = max(1, len(values))
    bw = pw / n
    for i, (lab, v) in enumerate(zip(labels, values, strict=False)):
        v = 0.0 if v is None or math.isnan(v) else v
        h = v / vmax * ph
        x = left + i * bw + bw * 0.15
        out.append(
            f'<rect x="{x:.1f}" y="{top + ph - h:.1f}" width="{bw * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}"/>'
        )
        out.append(
            f'<text x="{x + bw * 0.35:.1f}" y="{top + ph - h - 4:.1f}" text-anchor="middle" font-size="10">'
            f"{_esc(value_fmt.format(v))}</text>"
        )
        out.append(
            f'<text x="{x + bw * 0.35:.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="10">'
            f"{_esc(str(lab))}</text>"
        )
    if reference is not None:
        y = top + ph - reference / vmax * ph
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d62728" stroke-dasharray="4 3"/>'
        )
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    out.append(_labels(width, height, left, top, ph, "", y_label))
    out.append("</svg>")
    return "".join(out)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">'
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">'
        f"{_esc(title)}</text>"
    )


def _labels(width: int, height: int, left: int, top: int, ph: float, x_label: str, y_label: str) -> str:
    parts = []
    if x_label:
        parts.append(
            f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" font-size="11">{_esc(x_label)}</text>'
        )
    if y_label:
        cy = top + ph / 2
        parts.append(
            f'<text x="14" y="{cy:.1f}" text-anchor="middle" font-size="11" '
            f'transform="rotate(-90 14 {cy:.1f})">{_esc(y_label)}</text>'
        )
    return "".join(parts)


def grade_bars(counts: dict[str, int], colors: dict[str, str], width: int = 520, bar_height: int = 26) -> str:
    """Horizontal bars, one per grade, with the count and share written next to each (styled by
    the page's CSS classes lbl and val)."""
    if not counts:
        return "<p class='muted'>No scores published yet.</p>"
    total = sum(counts.values()) or 1
    label_w, value_w = 130, 110
    plot_w = width - label_w - value_w
    biggest = max(counts.values()) or 1
    height = bar_height * len(counts) + 8
    parts = [
        f"<svg role='img' aria-label='Grade distribution' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
    ]
    for i, (grade, n) in enumerate(counts.items()):
        y = 4 + i * bar_height
        w = max(1.0, plot_w * n / biggest)
        color = colors.get(grade, "#888")
        parts.append(f"<text x='0' y='{y + bar_height * 0.65:.1f}' class='lbl'>{_esc(grade)}</text>")
        parts.append(
            f"<rect x='{label_w}' y='{y + 3}' width='{w:.1f}' height='{bar_height - 8}' fill='{color}' rx='2'/>"
        )
        parts.append(
            f"<text x='{label_w + w + 6:.1f}' y='{y + bar_height * 0.65:.1f}' class='val' data-grade='{_esc(grade)}'>"
            f"{n:,} ({100 * n / total:.1f}%)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def date_lines(
    dates: Sequence[dt.date],
    series: dict[str, Sequence[float | None]],
    colors: dict[str, str],
    *,
    title: str,
    width: int = 760,
    height: int = 240,
    y_min: float | None = None,
    y_max: float | None = None,
) -> str:
    """Lines over dates with y gridlines, first/last date labels and a legend (styled by the page's
    CSS classes grid and axis; a None value breaks the line)."""
    if not dates:
        return "<p class='muted'>No score history yet.</p>"
    left, right, top, bottom = 48, 12, 14, 42
    pw, ph = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s if v is not None]
    lo = y_min if y_min is not None else (min(values) if values else 0.0)
    hi = y_max if y_max is not None else (max(values) if values else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    n = len(dates)

    def x(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph - ph * (v - lo) / (hi - lo)

    parts = [
        f"<svg role='img' aria-label='{_esc(title)}' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
    ]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(f"<line x1='{left}' x2='{left + pw}' y1='{y(v):.1f}' y2='{y(v):.1f}' class='grid'/>")
        parts.append(
            f"<text x='{left - 6}' y='{y(v) + 4:.1f}' class='axis' text-anchor='end'>{v:,.0f}</text>"
        )
    parts.append(f"<text x='{left}' y='{height - 24}' class='axis'>{_esc(dates[0])}</text>")
    if n > 1:
        parts.append(
            f"<text x='{left + pw}' y='{height - 24}' class='axis' text-anchor='end'>{_esc(dates[-1])}</text>"
        )
    legend_x = left
    for name, points in series.items():
        color = colors.get(name, "#333")
        segments: list[list[str]] = [[]]
        for i, v in enumerate(points):
            if v is None:
                segments.append([])
            else:
                segments[-1].append(f"{x(i):.1f},{y(v):.1f}")
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f"<circle cx='{cx}' cy='{cy}' r='3' fill='{color}'/>")
            elif seg:
                parts.append(
                    f"<polyline points='{' '.join(seg)}' fill='none' stroke='{color}' stroke-width='2'/>"
                )
        parts.append(f"<rect x='{legend_x}' y='{height - 12}' width='10' height='10' fill='{color}'/>")
        parts.append(f"<text x='{legend_x + 14}' y='{height - 3}' class='axis'>{_esc(name)}</text>")
        legend_x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)
