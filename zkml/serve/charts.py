"""Per-model charts rendered on the server as SVG with matplotlib (no pyplot: thread-safe
figures; text drawn as paths, so no string from the chain reaches the SVG as markup; the
claim chart writes its group names as ``<text>``, escaped by matplotlib's XML writer, so that
each group can be found in the drawing).

- activity: inferences per time bucket, stacked by predicted class (argmax of the decoded
  outputs; labelled when the model's verification package names its outputs): the view for
  drift or bias, e.g. the share of each diagnosis per day;
- outputs: the distribution of each decoded output;
- groups (a claim): selection rate and true-positive rate per group, side by side: the view
  of demographic parity and equal opportunity.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["activity_svg", "outputs_svg", "groups_svg", "bucket_seconds"]

_LOCK = threading.Lock()  # matplotlib's text and font caches are shared state
_BUCKETS = [(60, "minute"), (3600, "hour"), (86400, "day"), (7 * 86400, "week")]


def bucket_seconds(span: int) -> tuple[int, str]:
    """The bucket that gives at most ~60 bars over ``span`` seconds."""
    for seconds, name in _BUCKETS:
        if span / seconds <= 60:
            return seconds, name
    return _BUCKETS[-1]


def _render(draw: Callable[[Any], None], *, text_as_paths: bool = True) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fonttype = "path" if text_as_paths else "none"
    with _LOCK, matplotlib.rc_context({"svg.fonttype": fonttype, "text.parse_math": False,
                                       "svg.hashsalt": "zkml"}):
        fig = Figure(figsize=(7.5, 3.2), dpi=100)
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        draw(ax)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _name(i: int, labels: list[str] | None) -> str:
    return labels[i] if labels and 0 <= i < len(labels) else f"class {i}"


def activity_svg(points: list[tuple[int, int]], labels: list[str] | None, title: str) -> bytes:
    """Inferences over time, stacked by predicted class; ``points`` = (timestamp, class)."""

    def draw(ax: Any) -> None:
        a = ax
        if not points:
            a.text(0.5, 0.5, "no inferences recorded yet", ha="center", va="center")
            a.set_axis_off()
            return
        span = points[-1][0] - points[0][0]
        size, unit = bucket_seconds(span)
        first = points[0][0] // size
        n = points[-1][0] // size - first + 1
        classes = sorted({c for _, c in points})
        counts = {c: [0] * n for c in classes}
        for t, c in points:
            counts[c][t // size - first] += 1
        xs = list(range(n))
        bottom = [0] * n
        for c in classes:
            a.bar(xs, counts[c], bottom=bottom, label=_name(c, labels), width=0.8)
            bottom = [b + v for b, v in zip(bottom, counts[c], strict=True)]
        step = max(1, n // 8)
        fmt = "%Y-%m-%d" if size >= 86400 else "%m-%d %H:%M"
        a.set_xticks(xs[::step], [datetime.fromtimestamp((first + x) * size, UTC).strftime(fmt)
                                  for x in xs[::step]], rotation=20, fontsize=8)
        a.set_ylabel(f"inferences per {unit}")
        a.set_title(title, fontsize=10)
        a.legend(title="predicted", fontsize=8)

    return _render(draw)


def outputs_svg(outputs: list[list[float]], labels: list[str] | None, title: str) -> bytes:
    """The distribution of each decoded output (one histogram per output, overlaid), and the
    share of each predicted class in the legend."""

    def draw(ax: Any) -> None:
        a = ax
        if not outputs:
            a.text(0.5, 0.5, "no inferences recorded yet", ha="center", va="center")
            a.set_axis_off()
            return
        width = max(len(o) for o in outputs)
        tops = Counter(max(range(len(o)), key=lambda i: o[i]) for o in outputs if o)
        for k in range(min(width, 10)):
            values = [o[k] for o in outputs if len(o) > k]
            share = tops.get(k, 0) / len(outputs)
            a.hist(values, bins=min(30, max(5, len(values) // 5)), alpha=0.55,
                   label=f"{_name(k, labels)} (top in {share:.0%})")
        a.set_xlabel("decoded output value")
        a.set_ylabel("inferences")
        a.set_title(title, fontsize=10)
        a.legend(fontsize=8)

    return _render(draw)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"


def groups_svg(groups: list[tuple[str, float, float | None]], title: str) -> bytes:
    """Per group (name, selection rate, true-positive rate or None), two bars. SVG ids: bar
    ``sel-<i>`` / ``tpr-<i>`` and label ``group-<i>`` for the i-th group (a group without a
    positive sample has no TPR bar)."""

    def draw(ax: Any) -> None:
        a = ax
        if not groups:
            a.text(0.5, 0.5, "no groups in this claim", ha="center", va="center")
            a.set_axis_off()
            return
        xs = list(range(len(groups)))
        width = 0.38
        sel = a.bar([x - width / 2 for x in xs], [g[1] for g in groups], width,
                    label="selection rate", color="#3b6ea5")
        for i, bar in enumerate(sel.patches):
            bar.set_gid(f"sel-{i}")
        with_tpr = [i for i, g in enumerate(groups) if g[2] is not None]
        if with_tpr:
            tpr = a.bar([xs[i] + width / 2 for i in with_tpr],
                        [groups[i][2] for i in with_tpr], width,
                        label="true-positive rate", color="#d9822b")
            for i, bar in zip(with_tpr, tpr.patches, strict=True):
                bar.set_gid(f"tpr-{i}")
        a.set_xticks(xs, [_short(g[0]) for g in groups], rotation=15 if len(groups) > 4 else 0,
                     fontsize=9)
        for i, label in enumerate(a.get_xticklabels()):
            label.set_gid(f"group-{i}")
        a.set_ylim(0, 1.05)
        a.set_ylabel("rate")
        a.set_title(title, fontsize=10)
        a.legend(fontsize=8)

    return _render(draw, text_as_paths=False)
