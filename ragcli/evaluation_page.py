"""`rag eval --html`: an evaluation as one self-contained page, to look at rather than read.

The page holds its own CSS and SVG (``evaluation_charts``); it has no script and loads nothing:
its Content-Security-Policy forbids every fetch, so opened from a shared folder or a mail it
reaches no network. Questions, answers, ids and paths come from the user's files and the
documents, and are escaped (``text``) wherever they appear.
"""

from __future__ import annotations

import os
from pathlib import Path

from ragcli.durable import atomic_write
from ragcli.errors import RagError, UsageError
from ragcli.evaluation import EvalReport, QuestionResult, latency_percentiles, recall_curve
from ragcli.evaluation_charts import latency_chart, rank_chart, rank_class, recall_chart, text

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_CSS = """
:root { color-scheme: light dark; --bg: #fbfbfa; --fg: #1d2125; --muted: #5c6670; --card: #fff; --line: #dde1e5;
  --stripe: #f2f4f6; --s0: #2563eb; --s1: #d97706; --s2: #059669; --s3: #db2777; --s4: #7c3aed; --s5: #0891b2;
  --r1: #15803d; --r5: #65a30d; --rk: #d97706; --miss: #dc2626; --bar: #64748b; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15181c; --fg: #e6e8ea; --muted: #9aa4ae; --card: #1d2126; --line: #323840; --stripe: #22272d;
    --s0: #60a5fa; --s1: #fbbf24; --s2: #34d399; --s3: #f472b6; --s4: #a78bfa; --s5: #22d3ee;
    --r1: #4ade80; --r5: #a3e635; --rk: #fbbf24; --miss: #f87171; --bar: #94a3b8; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; } h2 { font-size: 1.15rem; margin: 0 0 10px; }
p.lead, .note { color: var(--muted); margin: 0 0 10px; } .note { font-size: .9rem; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; margin: 18px 0; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 10px 16px; min-width: 120px; }
.tile b { display: block; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
.tile span { color: var(--muted); font-size: .85rem; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dl.settings dt { color: var(--muted); } dl.settings dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
svg.chart { max-width: 100%; height: auto; display: block; }
svg text { fill: var(--muted); font-size: 11px; font-family: inherit; } svg text.axis { font-size: 12px; }
svg .grid { stroke: var(--line); } svg .rule { stroke: var(--muted); stroke-dasharray: 3 3; } svg .stripe { fill: var(--stripe); }
.series polyline { fill: none; stroke: currentColor; stroke-width: 2.5; stroke-linejoin: round; }
.series circle { fill: currentColor; }
.s0 { color: var(--s0); } .s1 { color: var(--s1); } .s2 { color: var(--s2); } .s3 { color: var(--s3); } .s4 { color: var(--s4); } .s5 { color: var(--s5); }
.r-1 { color: var(--r1); fill: var(--r1); } .r-5 { color: var(--r5); fill: var(--r5); } .r-k { color: var(--rk); fill: var(--rk); }
.r-miss { color: var(--miss); fill: var(--miss); } .bar.latency { fill: var(--bar); }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 0; font-size: .9rem; }
.legend span::before { content: ""; display: inline-block; width: 14px; height: 4px; margin-right: 6px; vertical-align: middle; background: currentColor; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; white-space: nowrap; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.rank { font-weight: 700; white-space: nowrap; } td.id, td.corpus { white-space: nowrap; }
td.gold, td.question { overflow-wrap: anywhere; } .answer { max-height: 9em; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.yes { color: var(--r1); font-weight: 600; } .no { color: var(--miss); font-weight: 600; }
"""


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _tile(value: str, label: str) -> str:
    return f'<div class="tile"><b>{text(value)}</b><span>{text(label)}</span></div>'


def _has_answers(report: EvalReport) -> bool:
    return any(r.answer is not None for r in report.results)


def _curves(report: EvalReport) -> list[tuple[str, list[float], int]]:
    """Overall, and each corpus with answerable questions when there are two or more of them."""
    curves = [("overall", recall_curve(report.results, report.k), 0)]
    corpora = sorted({r.question.corpus for r in report.results if r.question.answerable})
    if len(corpora) > 1:
        for colour, corpus in enumerate(corpora, start=1):
            curves.append((corpus or "(no corpus)", recall_curve([r for r in report.results if r.question.corpus == corpus], report.k), colour))
    return [curve for curve in curves if curve[1]]


def _summary(report: EvalReport) -> str:
    answerable = sum(1 for r in report.results if r.question.answerable)
    corpora = sorted({r.question.corpus for r in report.results})
    rows = [
        ("QA file", report.qa_file), ("index", report.index), ("embedder", report.embedder),
        ("second stage", report.reranker or "off"), ("passages per question (k)", str(report.k)),
        ("questions", f"{report.questions} ({answerable} with gold passages, {report.questions - answerable} unanswerable)"),
        ("corpora", ", ".join(f"{c or '(none)'} ({sum(1 for r in report.results if r.question.corpus == c)})" for c in corpora)),
        ("run at", report.created.replace("T", " ").replace("+00:00", " UTC")),
    ]
    return '<dl class="settings">' + "".join(f"<dt>{text(a)}</dt><dd>{text(b)}</dd>" for a, b in rows) + "</dl>"


def _tiles(report: EvalReport) -> str:
    tiles = [_tile(_percent(report.recall.get(k)), f"recall@{k}") for k in sorted(report.recall)]
    tiles.append(_tile(f"{report.mrr10:.3f}", "MRR@10"))
    tiles.append(_tile(f"{report.search_ms_median:,.1f} ms", "median search"))
    if _has_answers(report):
        tiles += [_tile(_percent(report.answer_accuracy), "answer accuracy"), _tile(_percent(report.abstention_precision), "abstention precision"),
                  _tile(_percent(report.abstention_recall), "abstention recall")]
    return '<div class="tiles">' + "".join(tiles) + "</div>"


def _recall_section(report: EvalReport) -> str:
    curves = _curves(report)
    if not curves:
        return '<section id="recall"><h2>Recall@k</h2><p class="note">No question has a gold passage, so there is no recall to draw.</p></section>'
    legend = "".join(f'<span class="s{colour % 6}">{text(name)}</span>' for name, _, colour in curves)
    head = "".join(f'<th class="num">@{j}</th>' for j in range(1, report.k + 1))
    rows = "".join(
        f'<tr data-series="{text(name)}"><th>{text(name)}</th>' + "".join(f'<td class="num">{v:.1%}</td>' for v in values) + "</tr>"
        for name, values, _ in curves
    )
    return (
        '<section id="recall"><h2>Recall@k</h2><p class="note">The share of questions with a gold passage among the first k '
        f"retrieved, for k = 1 to {report.k}; unanswerable questions are left out.</p>"
        f'{recall_chart(curves, report.k)}<div class="legend">{legend}</div>'
        f'<div class="scroll"><table class="recall"><tr><th>recall</th>{head}</tr>{rows}</table></div></section>'
    )


def _rank_section(report: EvalReport) -> str:
    answerable = [r for r in report.results if r.question.answerable]
    if not answerable:
        return ""
    # Grouped by corpus (in order of first appearance), in file order within each.
    first = {}
    for r in answerable:
        first.setdefault(r.question.corpus, len(first))
    ordered = sorted(answerable, key=lambda r: first[r.question.corpus])
    found = sum(1 for r in answerable if r.rank is not None)
    left_out = len(report.results) - len(answerable)
    return (
        '<section id="ranks"><h2>Where the gold passage ranked</h2><p class="note">One dot per question with a gold passage, '
        f"at the rank of the first one retrieved ({found} of {len(answerable)} within the first {report.k}); bars count the questions "
        f"at each rank.{f' {left_out} unanswerable questions have no gold and are not shown.' if left_out else ''}</p>"
        f'<div class="scroll">{rank_chart([(r.question.id, r.question.corpus, r.rank) for r in ordered], report.k)}</div></section>'
    )


def _latency_section(report: EvalReport) -> str:
    figures = latency_percentiles([r.search_ms for r in report.results])
    if not figures:
        return ""
    return (
        f'<section id="latency"><h2>Search latency</h2><p class="note">Over {len(report.results)} searches of {report.k} passages, '
        "in milliseconds; p50 is the median, p90 and above the nearest rank below.</p>"
        f"{latency_chart({name: figures[name] for name in ('p50', 'p90', 'p95', 'p99', 'max')})}</section>"
    )


def _faithfulness_section(report: EvalReport) -> str:
    figures = report.faithfulness
    if not figures:
        return ""
    rows = [
        ("sentences shown", str(figures["sentences_shown"])),
        ("sentences withheld by the verifier", f'{figures["sentences_withheld"]} ({_percent(figures["withheld_share"])} of those checked)'),
        ("citation precision (cited passages from a gold page)", _percent(figures["citation_precision"])),
        ("citation recall (answers citing a gold page)", _percent(figures["citation_recall"])),
        ("abstention precision / recall", f'{_percent(figures["abstention_precision"])} / {_percent(figures["abstention_recall"])}'),
    ]
    judged = figures.get("judge")
    if judged:
        rows += [
            (f"judge ({report.judge}): shown sentences supported", _percent(judged["sentences_supported_share"])),
            ("judge: answers correct / partly / wrong", f'{judged["correct"]} / {judged["partly"]} / {judged["wrong"]} (mean credit {_percent(judged["mean_credit"])})'),
            ("judge: agrees with the gold-string score", f'{_percent(judged["agreement_with_gold_string"])} ({judged["correct_but_string_missed"]} correct the string missed, '
             f'{judged["string_matched_but_not_correct"]} string matches not called correct)'),
        ]
    body = "".join(f"<dt>{text(name)}</dt><dd>{text(value)}</dd>" for name, value in rows)
    return f'<section id="faithfulness"><h2>Faithfulness</h2><dl class="settings">{body}</dl></section>'


def _gold(result: QuestionResult) -> str:
    if not result.question.gold:
        return '<span class="note">(unanswerable)</span>'
    return "<br>".join(
        text(unit.get("path", "")) + (f" p.&nbsp;{text(unit['page'])}" if unit.get("page") is not None else "") for unit in result.question.gold
    )


def _rank_cell(result: QuestionResult, k: int) -> str:
    if not result.question.answerable:
        return '<td class="rank" data-rank="n/a">–</td>'
    if result.rank is None:
        return f'<td class="rank r-miss" data-rank="none" title="not in the first {k}">not found</td>'
    return f'<td class="rank {rank_class(result.rank)}" data-rank="{result.rank}">{result.rank}</td>'


def _yes_no(value: bool | None) -> str:
    return "" if value is None else '<span class="yes">yes</span>' if value else '<span class="no">no</span>'


def _question_table(report: EvalReport) -> str:
    answers = _has_answers(report)
    head = ["#", "id", "corpus", "question", "gold", "rank", "search ms"] + (["expected", "answer", "abstained", "correct"] if answers else [])
    rows = []
    for n, r in enumerate(report.results, start=1):
        cells = [
            f'<td class="num">{n}</td>', f'<td class="id">{text(r.question.id)}</td>', f'<td class="corpus">{text(r.question.corpus)}</td>',
            f'<td class="question">{text(r.question.question)}</td>', f'<td class="gold">{_gold(r)}</td>', _rank_cell(r, report.k),
            f'<td class="num">{r.search_ms:,.1f}</td>',
        ]
        if answers:
            cells += [
                f'<td class="expected">{text(r.question.answer)}</td>', f'<td><div class="answer">{text(r.answer or "")}</div></td>',
                f"<td>{_yes_no(r.abstained)}</td>", f"<td>{_yes_no(r.correct)}</td>",
            ]
        rows.append(f'<tr data-id="{text(r.question.id)}">' + "".join(cells) + "</tr>")
    header = "".join(f'<th class="num">{h}</th>' if h in ("#", "search ms") else f"<th>{h}</th>" for h in head)
    note = "correct: the expected answer given, or an abstention for an unanswerable question. " if answers else ""
    return (
        f'<section id="questions"><h2>Questions</h2><p class="note">{note}rank: where the first gold passage came among the {report.k} retrieved.</p>'
        f'<div class="scroll"><table class="questions"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>'
    )


def render_page(report: EvalReport) -> str:
    """The whole page for ``report``, as HTML text."""
    title = f"rag eval: {Path(report.qa_file).name}" if report.qa_file else "rag eval"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">'
        f"<title>{text(title)}</title><style>{_CSS}</style></head><body><main>"
        f'<h1>{text(title)}</h1><p class="lead">Retrieval{" and answers" if _has_answers(report) else ""} scored on '
        f"{report.questions} questions.</p>{_tiles(report)}"
        f'<section id="settings"><h2>Run</h2>{_summary(report)}</section>'
        f"{_recall_section(report)}{_rank_section(report)}{_latency_section(report)}{_faithfulness_section(report)}{_question_table(report)}"
        "</main></body></html>\n"
    )


def check_page_target(path: Path) -> None:
    """Refuse, before a long evaluation, a page path that cannot be written: its folder missing
    or not writable, or the path a folder."""
    folder = path.parent
    why = (
        "its folder does not exist" if not folder.is_dir()
        else "it is a folder" if path.is_dir()
        else "its folder is not writable" if not os.access(folder, os.W_OK)
        else ""
    )
    if why:
        raise UsageError(f"cannot write the report page to {path}: {why}", hint="Pass an --html path in an existing, writable folder.")


def write_page(report: EvalReport, path: Path) -> None:
    """Write ``render_page(report)`` to ``path`` in one rename, private to the user (it holds questions and answers)."""
    check_page_target(path)
    page = render_page(report)
    try:
        with atomic_write(path) as temporary:
            temporary.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise RagError(f"cannot write the report page to {path}: {exc.strerror}", hint="Check the folder's free space and permissions, and run again.") from exc
