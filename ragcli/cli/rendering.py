"""Results as text for a person: ingest progress (a bar on a terminal, log lines otherwise), hits,
answers and their sources, status, check and eval reports."""

from __future__ import annotations

import sys
import time

from ragcli.cli.terminal import one_line
from ragcli.parsing import page_label
from ragcli.records import EventKind, FileStatus, IngestEvent, IngestReport, SearchResult


def log_line(line: str) -> None:
    """One line of a log on stderr (cron's, the watcher's): timestamped unless it is a terminal."""
    # Logs from cron pile up in one file: a timestamp tells the nights apart.
    stamp = "" if sys.stderr.isatty() else time.strftime("%Y-%m-%d %H:%M:%S ")
    sys.stderr.write(stamp + one_line(line) + "\n")
    sys.stderr.flush()


class IngestProgress:
    """Shows ingest events: a rich progress bar when stderr is a terminal, log lines when not."""

    def __init__(self, enabled: bool, quiet: bool) -> None:
        self.enabled = enabled
        self.quiet = quiet
        self._bar = None
        self._task = None

    def __enter__(self) -> "IngestProgress":
        if self.enabled and not self.quiet and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.description}"), transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.stop()

    def on_event(self, event: IngestEvent) -> None:
        if event.kind is EventKind.START:
            if self._bar is not None:
                self._task = self._bar.add_task("", total=event.total)
            if event.detail:  # once after an upgrade, and it explains a long night: shown even with --quiet
                self._show(f"note: {event.detail}", always=True)
            return
        if event.kind is EventKind.FINISH:
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, description="done")
            return
        if self._bar is not None and self._task is not None and event.status is not FileStatus.REMOVED:
            name = event.path.rsplit("/", 1)[-1]
            self._bar.update(self._task, advance=1, description=name[:40])
        if event.status is FileStatus.FAILED:
            message = f"failed: {event.path}: {event.detail}"
        elif event.status in (FileStatus.INDEXED, FileStatus.UPDATED, FileStatus.REMOVED, FileStatus.SKIPPED) and not self.quiet:
            message = f"{event.status}: {event.path}" + (f" ({event.detail})" if event.detail else "")
        else:
            return
        self._show(message, always=event.status == "failed")

    def _show(self, message: str, always: bool) -> None:
        if self._bar is not None:
            self._bar.console.print(one_line(message), markup=False, highlight=False)
        elif self.enabled or always:
            log_line(message)

    def summary(self, report: IngestReport) -> None:
        log_line(
            f"{report.indexed} indexed ({report.updated} updated), {report.unchanged} unchanged, "
            f"{report.removed} removed, {len(report.failed)} failed"
            + (f", {report.excluded} excluded by patterns" if report.excluded else "")
            + f"; {report.chunks} chunks in {report.seconds:.1f}s"
        )
        for failure in report.failed:
            log_line(f"  failed: {failure.path}: {failure.error}")


def _size(num_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return ""


def render_status(report: dict) -> str:
    lines = [
        f"index:      {one_line(report['index'])}",
        f"documents:  {report['documents']} ({', '.join(f'{n} {k}' for k, n in report['kinds'].items()) or 'none'})",
        f"pages:      {report['pages']}",
        f"chunks:     {report['chunks']}",
        f"embedder:   {one_line(report['embedder'])} ({report['dimension']} dimensions)",
        f"chunking:   {report['chunk_tokens']} tokens, {report['chunk_overlap']} overlap",
        f"generator:  {one_line(report['generator'])}",
        f"size:       {_size(report['size_bytes'])}",
        f"roots:      {', '.join(map(one_line, report['roots'])) or 'none'}",
    ]
    last = report.get("last_ingest")
    if last:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last["at"]))
        lines.append(
            f"last ingest: {when}: {last['indexed']} indexed, {last['unchanged']} unchanged, "
            f"{last['removed']} removed, {len(last['failed'])} failed, {last['seconds']:.1f}s"
        )
    if report["failures"]:
        lines.append(f"failed files ({len(report['failures'])}):")
        lines += [f"  {one_line(f['path'])}: {one_line(f['error'])}" for f in report["failures"]]
    return "\n".join(lines)


def render_check(report) -> str:
    verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    lines = [f"index {one_line(report.index)}: {verdict} ({report.documents} documents, {report.chunks} chunks)"]
    lines += [f"  repaired: {one_line(action)}" for action in report.repaired]
    lines += [f"  problem: {one_line(finding.message)}" for finding in report.problems]
    lines += [f"  note: {one_line(finding.message)}" for finding in report.notes]
    if report.problems and not report.repaired:
        lines.append("hint: run `rag check --repair` to fix what can be fixed in place.")
    return "\n".join(lines)


def _where(path: str, page: int | None) -> str:
    label = page_label(path, page)
    return f"{one_line(path)}, {label}" if label else one_line(path)


def render_hits(result: SearchResult) -> str:
    """Search hits: rank, place and score, heading path, and the start of the text."""
    if not result.hits:
        return "No passages found."
    blocks = []
    for hit in result.hits:
        lines = [f"[{hit.rank}] {_where(hit.path, hit.page)}  (score {hit.score:.4f})"]
        if hit.headings:
            lines.append(f"    {one_line(' > '.join(hit.headings))}")
        snippet = one_line(" ".join(hit.text.split()))
        lines.append(f"    {snippet[:400]}{'…' if len(snippet) > 400 else ''}\n")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def render_eval(report, with_answers: bool) -> str:
    """The eval table: recall@k and MRR@10 overall and per corpus, latency, and answer scores."""
    lines = [f"{'group':<10} {'n':>4} {'R@1':>7} {'R@5':>7} {'R@10':>7} {'MRR@10':>7}"]
    overall = {"n": sum(g.get("n", 0) for g in report.by_corpus.values()), **{f"recall@{k}": v for k, v in report.recall.items()},
               "mrr@10": report.mrr10}
    groups = {"overall": overall, **{name: g for name, g in report.by_corpus.items() if g.get("n")}}
    for name, g in groups.items():
        lines.append(f"{name:<10} {g['n']:>4} {g['recall@1']:>7.3f} {g['recall@5']:>7.3f} {g['recall@10']:>7.3f} {g['mrr@10']:>7.3f}")
    lines.append(f"median search latency: {report.search_ms_median:.1f} ms; second stage: {report.reranker or 'off'}")
    if with_answers:
        lines.append(
            f"answer accuracy: {report.answer_accuracy}, abstention precision: {report.abstention_precision}, "
            f"abstention recall: {report.abstention_recall}"
        )
    return "\n".join(lines)


def render_sources(answer, colour: bool = False) -> str:
    """The source list under an answer: each cited passage with the sentences that back the answer
    (highlighted on a terminal), or, when it abstained, why and the closest passages."""
    bold, reset = ("\x1b[1m", "\x1b[0m") if colour else ("", "")
    if answer.abstained:
        lines = [f"Why: {one_line(answer.abstention_reason)}."] if answer.abstention_reason else []
        lines.append("Closest passages:" if answer.sources else "No passages found.")
    else:
        lines = [f"Note: {one_line(note)}." for note in answer.notes] + ["Sources:"]
    shown = [s for s in answer.sources if s.cited] or answer.sources
    for source in shown:
        lines.append(f"[{source.n}] {_where(source.hit.path, source.hit.page)}")
        if source.evidence:
            lines += [f"    {bold}{one_line(' '.join(sentence.split()))}{reset}" for sentence in source.evidence]
            continue
        snippet = one_line(" ".join(source.hit.text.split()))
        lines.append(f"    {snippet[:200]}{'…' if len(snippet) > 200 else ''}")
    return "\n".join(lines)
