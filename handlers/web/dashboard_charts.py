"""The dashboard's charts as data: messages per day and channel, opt-outs by reason and language, the
review queue per day (handlers/web/charts.py turns each into SVG geometry)."""

from __future__ import annotations

from ..core.addresses import CHANNELS
from ..storage import reports
from . import charts as chart_geometry
from . import labels
from .context import services

LABELS = {"opt_out": "Opt-outs", "opt_in": "Opt-ins", "help": "Help requests", "ignored": "Ignored"}


def charts(days: list[str], counts: dict) -> list[dict]:
    """Stacked bars per day for each channel, each on its own scale."""
    result = []
    for channel in CHANNELS:
        name = labels.channel_name(channel)
        sums = {s: sum(counts.get((d, channel, s), 0) for d in days) for s in reports.SERIES}
        stacks = [[(s, counts.get((day, channel, s), 0), f"{day}, {name}: {counts.get((day, channel, s), 0):,} "
                    f"{LABELS[s].lower()}") for s in reports.SERIES] for day in days]
        summary = (f"{name}, last {len(days)} days: "
                   + ", ".join(f"{sums[s]:,} {LABELS[s].lower()}" for s in reports.SERIES) + ".")
        result.append({"channel": channel, "title": f"{name}: messages per day",
                       **chart_geometry.columns(days, stacks, summary)})
    return result


def opt_out_charts(store, days: list[str]) -> list[dict]:
    """Opt-outs of the last days by how they were asked for, and by language."""
    by_rule: dict[str, int] = {}
    for rule, n in reports.opt_outs_by(store, days, "rule").items():
        by_rule[labels.kind(rule)] = by_rule.get(labels.kind(rule), 0) + n
    languages = services().keywords.languages
    by_language = [(languages[code].name if code in languages else "Unknown", n)
                   for code, n in reports.opt_outs_by(store, days, "language").items()]
    span = f"last {len(days)} days"
    return [
        {"id": "reasons", "title": f"Opt-outs by reason, {span}", **chart_geometry.rows(
            sorted(by_rule.items(), key=lambda item: -item[1]), f"opt-outs, {span}",
            "; ".join(f"{k}: {n:,}" for k, n in by_rule.items()) or "No opt-outs.")},
        {"id": "languages", "title": f"Opt-outs by language, {span}", **chart_geometry.rows(
            by_language, f"opt-outs, {span}", "; ".join(f"{k}: {n:,}" for k, n in by_language) or "No opt-outs.")},
    ]


def queue_chart(store, days: list[str]) -> dict:
    """The review queue's size at the end of each day."""
    sizes = reports.review_queue_sizes(store, days)
    stacks = [[("queue", sizes[d], f"{d}: {sizes[d]:,} waiting for review at the end of the day")] for d in days]
    return {"id": "queue", "title": "Review queue, waiting at the end of each day", **chart_geometry.columns(
        days, stacks, f"Waiting for review: {sizes[days[-1]]:,} now, at most {max(sizes.values()):,} "
                      f"at the end of a day in the last {len(days)} days.")}
