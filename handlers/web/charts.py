"""The dashboard's charts as SVG geometry for its templates: no script, no library.

Horizontal positions are percentages of the chart's width and vertical ones pixels, so the SVG is
never scaled: its 12 px labels stay 12 px on a phone and on a wide screen alike. Every bar carries a
<title> (its value on hover) and every chart a one-line summary for screen readers.
"""

from __future__ import annotations

HEIGHT, TOP, BOTTOM = 220, 14, 30  # px: the plot runs from TOP to HEIGHT - BOTTOM
LEFT, RIGHT = 9.0, 1.0  # % of the width: room for the scale's numbers
ROW, BAR, LABEL_WIDTH = 46, 16, 78.0  # rows chart: px per row, bar thickness, % of the width for bars


def columns(days: list[str], stacks: list[list[tuple[str, int, str]]], summary: str) -> dict:
    """Bars per day, each a stack of (series, value, title); one scale from 0 to the largest stack."""
    top = max([sum(n for _, n, _ in stack) for stack in stacks] + [1])
    plot, slot = HEIGHT - TOP - BOTTOM, (100 - LEFT - RIGHT) / max(len(days), 1)
    bars = []
    for i, stack in enumerate(stacks):
        y = HEIGHT - BOTTOM
        for series, n, title in stack:
            if n:
                h = n * plot / top
                y -= h
                bars.append({"x": round(LEFT + i * slot + slot * .15, 3), "w": round(slot * .7, 3), "y": round(y, 2),
                             "h": round(h, 2), "series": series, "title": title})
    scale = sorted({0, top // 2, top}) if top > 1 else [0, 1]
    return {"kind": "columns", "height": HEIGHT, "left": LEFT, "base": HEIGHT - BOTTOM, "bars": bars,
            "scale": [{"label": f"{n:,}", "y": round(HEIGHT - BOTTOM - n * plot / top, 2)} for n in scale],
            "ticks": [{"x": round(LEFT + i * slot + slot / 2, 3), "label": days[i][5:]}
                      for i in range(len(days) - 1, -1, -7)],
            "summary": summary}


def rows(items: list[tuple[str, int]], unit: str, summary: str) -> dict:
    """One horizontal bar per (label, value), the label above it and the value at its end."""
    top = max([n for _, n in items] + [1])
    return {"kind": "rows", "height": max(len(items), 1) * ROW + 4, "summary": summary,
            "rows": [{"label": label, "n": f"{n:,}", "y": i * ROW, "bar_y": i * ROW + 20, "bar_h": BAR,
                      "w": round(max(n / top * LABEL_WIDTH, .5), 3), "value_x": round(n / top * LABEL_WIDTH + 1.5, 3),
                      "title": f"{label}: {n:,} {unit}"} for i, (label, n) in enumerate(items)]}
