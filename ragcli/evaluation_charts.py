"""Inline SVG charts for the `rag eval --html` page, drawn from plain numbers: no script, no
external resources, colours from the page's CSS (classes, ``currentColor``) so dark mode applies.

Every label that may come from the user's files (question ids, corpus names) goes through ``text``.
"""

from __future__ import annotations

import html
import math
import re

# C0 and C1 controls (bar tab and newline), and lone surrogates, which a JSON "\ud800" can hold and
# UTF-8 cannot: the page must always encode, and show where such a character was.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text(value: object) -> str:
    """``value`` as HTML text or a quoted attribute value: escaped, odd characters replaced by U+FFFD.
    The HTML variant of the terminal's ``one_line``: markup, not escape codes, is the danger here."""
    return html.escape(_UNSAFE.sub("\ufffd", str(value)), quote=True)


def _svg(width: float, height: float, label: str, body: list[str], css_class: str = "chart") -> str:
    return (
        f'<svg class="{css_class}" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" role="img" '
        f'aria-label="{text(label)}">' + "".join(body) + "</svg>"
    )


def recall_chart(series: list[tuple[str, list[float], int]], k: int) -> str:
    """recall@1..k as one line per series ``(name, values, colour number)``; each point carries
    ``data-series``, ``data-k`` and ``data-recall`` (4 decimals) and a tooltip."""
    width, height, left, right, top, bottom = 720, 300, 52, 20, 14, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    # Curves that all stay above 60% get an axis from a tenth below their lowest point, so that
    # they stay apart; the ticks say where it starts.
    lowest = min((v for _, values, _ in series for v in values), default=0.0)
    floor = math.floor(lowest * 10) / 10 - 0.1
    floor = floor if floor >= 0.5 else 0.0
    ticks = [floor + i * (0.1 if floor >= 0.5 else 0.25) for i in range(11)]

    def x(j: int) -> float:
        return left + (j - 1) / (k - 1) * plot_w if k > 1 else left + plot_w / 2

    def y(v: float) -> float:
        return top + (1 - v) / (1 - floor) * plot_h

    body = []
    for v in [t for t in ticks if t <= 1.0001]:
        body.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        body.append(f'<text class="tick" x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0%}</text>')
    step = max(1, math.ceil(k / 12))
    for j in range(1, k + 1):
        if j == 1 or j == k or j % step == 0:
            body.append(f'<text class="tick" x="{x(j):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{j}</text>')
    body.append(f'<text class="axis" x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle">k (passages retrieved)</text>')
    body.append(f'<text class="axis" transform="translate(13 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">recall@k</text>')
    for name, values, colour in series:
        points = " ".join(f"{x(j):.1f},{y(v):.1f}" for j, v in enumerate(values, start=1))
        body.append(f'<g class="series s{colour % 6}" data-series="{text(name)}"><polyline points="{points}"/>')
        for j, v in enumerate(values, start=1):
            body.append(
                f'<circle cx="{x(j):.1f}" cy="{y(v):.1f}" r="3.5" data-k="{j}" data-recall="{v:.4f}">'
                f"<title>{text(name)}: recall@{j} = {v:.1%}</title></circle>"
            )
        body.append("</g>")
    return _svg(width, height, f"recall@k for k = 1 to {k}", body)


def rank_class(rank: int | None) -> str:
    """The colour class of a gold rank: first, top five, lower, not found."""
    if rank is None:
        return "r-miss"
    return "r-1" if rank == 1 else "r-5" if rank <= 5 else "r-k"


def rank_chart(questions: list[tuple[str, str, int | None]], k: int) -> str:
    """One dot per ``(id, corpus, rank)``, left to right in the given order, at the row of the rank
    its first gold passage came (1 at the top, "not found" at the bottom); corpora are marked
    above; beside each row, a bar counts its questions. Each dot carries ``data-id`` and
    ``data-rank`` (a number, or "none")."""
    n = max(1, len(questions))
    col = max(3.0, min(14.0, 860 / n))
    row = max(5.0, min(16.0, 320 / (k + 1)))
    left, top, gap, bar_w = 72, 24, 18, 130
    plot_w, plot_h = col * n, row * (k + 1)
    width, height = left + plot_w + gap + bar_w + 44, top + plot_h + 10

    def y(rank: int | None) -> float:
        return top + ((rank if rank is not None else k + 1) - 0.5) * row

    counts = [sum(1 for _, _, r in questions if r == rank) for rank in range(1, k + 1)] + [sum(1 for _, _, r in questions if r is None)]
    label_every = 1 if k <= 20 else 5
    body = []
    for i, count in enumerate(counts):
        rank = i + 1 if i < k else None
        if i % 2 == 0:
            body.append(f'<rect class="stripe" x="{left}" y="{top + i * row:.1f}" width="{plot_w:.1f}" height="{row:.1f}"/>')
        if rank is None or rank == 1 or rank % label_every == 0:
            body.append(f'<text class="tick" x="{left - 8}" y="{y(rank) + 4:.1f}" text-anchor="end">{"not found" if rank is None else rank}</text>')
        length = bar_w * count / max(1, max(counts))
        bar_x = left + plot_w + gap
        body.append(
            f'<rect class="bar {rank_class(rank)}" x="{bar_x:.1f}" y="{top + i * row + 1:.1f}" width="{length:.1f}" '
            f'height="{max(1.0, row - 2):.1f}" data-rank="{rank if rank is not None else "none"}" data-count="{count}"/>'
        )
        if count:
            body.append(f'<text class="tick" x="{bar_x + length + 4:.1f}" y="{y(rank) + 4:.1f}">{count}</text>')
    # Corpus groups: a rule between them, the name above when there is room for it.
    start = 0
    for i in range(1, len(questions) + 1):
        if i == len(questions) or questions[i][1] != questions[start][1]:
            x0 = left + start * col
            if start:
                body.append(f'<line class="rule" x1="{x0:.1f}" x2="{x0:.1f}" y1="{top - 18}" y2="{top + plot_h:.1f}"/>')
            if (i - start) * col >= 48:
                body.append(f'<text class="axis" x="{x0 + 3:.1f}" y="{top - 8}">{text(questions[start][1] or "(no corpus)")}</text>')
            start = i
    for i, (qid, corpus, rank) in enumerate(questions):
        where = f"rank {rank}" if rank is not None else f"not in the first {k}"
        body.append(
            f'<circle class="dot {rank_class(rank)}" cx="{left + (i + 0.5) * col:.1f}" cy="{y(rank):.1f}" '
            f'r="{max(1.5, min(col, row) / 2 - 1):.1f}" data-id="{text(qid)}" data-rank="{rank if rank is not None else "none"}">'
            f"<title>{text(qid)} ({text(corpus or 'no corpus')}): {where}</title></circle>"
        )
    return _svg(width, height, "the rank of each question's first gold passage", body)


def latency_chart(figures: dict[str, float]) -> str:
    """Horizontal bars, one per percentile name in ``figures`` (milliseconds), longest = largest."""
    width, left, row, top = 520, 48, 26, 6
    longest = max(figures.values(), default=0.0) or 1.0
    body = []
    for i, (name, value) in enumerate(figures.items()):
        y = top + i * row
        length = (width - left - 90) * value / longest
        body.append(f'<text class="tick" x="{left - 8}" y="{y + 16}" text-anchor="end">{text(name)}</text>')
        body.append(f'<rect class="bar latency" x="{left}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" data-name="{text(name)}"/>')
        body.append(f'<text class="tick" x="{left + length + 6:.1f}" y="{y + 16}">{value:,.1f} ms</text>')
    return _svg(width, top * 2 + row * len(figures), "search latency percentiles", body)
