"""Results as text for a person: ingest progress (a bar on a terminal, log lines otherwise), hits,
answers and their sources, status, check and eval reports."""

from __future__ import annotations

import sys
import time

from ragcli.cli.terminal import one_line, wrapped
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

    def __init__(self, enabled: bool, quiet: bool, log=None, verbose: bool = False) -> None:
        self.enabled = enabled
        self.quiet = quiet
        self.verbose = verbose
        self._by_bytes = False
        self._files_done = self._files_total = 0
        # A RunLog (`--log FILE`): every line goes there; stderr then gets only the failures.
        self.log = log
        self._bar = None
        self._task = None
        # Files committed so far (an event is sent only after its transaction): what a Ctrl-C keeps.
        self.saved = 0

    def __enter__(self) -> "IngestProgress":
        if self.enabled and not self.quiet and self.log is None and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            # The bar moves by the bytes of the files parsed and embedded (the work that dominates),
            # not by files: hundreds of unchanged files pass in a second, one large PDF takes minutes.
            self._bar = Progress(
                TextColumn("[bold]ingest"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[files]}"), TextColumn("{task.description}"), transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _advance(self, event: IngestEvent) -> None:
        self._files_done += 1
        name = event.path.rsplit("/", 1)[-1]
        self._bar.update(
            self._task, advance=event.size if self._by_bytes else 1, description=name[:40],
            files=f"{self._files_done}/{self._files_total} files",
        )

    def on_event(self, event: IngestEvent) -> None:
        if event.kind is EventKind.START:
            if self._bar is not None:
                self._by_bytes = event.total_bytes > 0
                self._files_total = event.total
                total = event.total_bytes if self._by_bytes else event.total
                self._task = self._bar.add_task("", total=max(total, 1), files=f"0/{event.total} files")
            if event.detail:  # once after an upgrade, and it explains a long night: shown even with --quiet
                self._show(f"note: {event.detail}", always=True)
            return
        if event.kind is EventKind.PHASE:
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, description=event.detail)
            elif not self.quiet:
                self._show(event.detail, always=False)
            return
        if event.kind is EventKind.FINISH:
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, description="done")
            return
        if event.status in (FileStatus.INDEXED, FileStatus.UPDATED, FileStatus.REREAD):
            self.saved += 1
        if self._bar is not None and self._task is not None and event.status is not FileStatus.REMOVED:
            self._advance(event)
        if event.status is FileStatus.FAILED:
            message = f"failed: {event.path}: {event.detail}"
        elif event.status in (FileStatus.INDEXED, FileStatus.UPDATED, FileStatus.REMOVED, FileStatus.SKIPPED, FileStatus.DUPLICATE) and (
            not self.quiet or self.log is not None  # the log is the whole story; --quiet is about the terminal
        ):
            if self._bar is not None and not self.verbose and event.status is not FileStatus.SKIPPED:
                return  # on a terminal the bar shows the files going by; -v lists each one
            message = f"{event.status}: {event.path}" + (f" ({event.detail})" if event.detail else "")
        else:
            return
        self._show(message, always=event.status == "failed")

    def _show(self, message: str, always: bool) -> None:
        if self.log is not None:
            self.log.write(message)
            if always and not message.startswith("note: "):
                log_line(message)
            return
        if self._bar is not None:
            failed = message.startswith("failed: ")
            self._bar.console.print(one_line(message), markup=False, highlight=False, style="red" if failed else None)
        elif self.enabled or always:
            log_line(message)

    def interrupted(self) -> None:
        """What a Ctrl-C left: everything committed before it, and how to go on."""
        self._show(
            f"stopped: the {self.saved} files indexed in this run are saved and the index is usable; "
            "run the same `rag ingest` again to go on (files already saved are not read again)",
            always=True,
        )

    def summary(self, report: IngestReport) -> None:
        """The run in one line; each failure was shown once already, as it happened."""
        line = (
            f"{report.indexed} indexed ({report.updated} updated"
            + (f", {report.reread} read again by newer parsers" if report.reread else "")
            + f"), {report.unchanged} unchanged, "
            f"{report.removed} removed, {len(report.failed)} failed"
            + (f", {report.excluded} excluded by patterns" if report.excluded else "")
            + (f", {len(report.duplicates)} copies of indexed documents left out" if report.duplicates else "")
            + f"; {report.chunks} chunks in {report.seconds:.1f}s"
        )
        if self.log is not None:
            self.log.write(line)
            if report.failed:  # cron mails stderr: say what the failures belong to
                log_line(line)
        else:
            log_line(line)


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
    copies = report.get("duplicates") or []
    if copies:
        lines.append(f"copies ({len(copies)}, the same text as an indexed document, not searched):")
        lines += [f"  {one_line(c['path'])} = {one_line(c['same_as'])}" for c in copies[:20]]
        if len(copies) > 20:
            lines.append(f"  ... and {len(copies) - 20} more (`rag status --json`)")
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


def _styles(colour: bool) -> tuple[str, str, str, str]:
    """Bold, the colour of paths, the colour of failures, reset: ragcli's own codes, or none."""
    return ("\x1b[1m", "\x1b[36m", "\x1b[31m", "\x1b[0m") if colour else ("", "", "", "")


def render_hits(result: SearchResult, colour: bool = False, width: int | None = None) -> str:
    """Search hits: rank, place and similarity, heading path, and the start of the text wrapped
    under it. The similarity is the cosine of the dense match (what a reader can compare across
    queries); the fused score that ranks them is in --json."""
    if not result.hits:
        return "No passages found."
    bold, path_colour, _, reset = _styles(colour)
    blocks = []
    for hit in result.hits:
        match = f"similarity {hit.similarity:.2f}" if hit.similarity is not None else "keyword match"
        lines = [f"{bold}[{hit.rank}]{reset} {path_colour}{_where(hit.path, hit.page)}{reset}  ({match})"]
        if hit.headings:
            lines.append(f"    {one_line(' > '.join(hit.headings))}")
        snippet = one_line(" ".join(hit.text.split()))
        lines.append(wrapped(f"{snippet[:400]}{'…' if len(snippet) > 400 else ''}", width=width) + "\n")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


class EvalProgress:
    """`rag eval`'s bar with an ETA on a terminal's stderr (nothing on a pipe or in a log)."""

    def __init__(self, label: str = "eval") -> None:
        self._label = label
        self._bar = self._task = None

    def __enter__(self) -> "EvalProgress":
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn(f"[bold]{self._label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
            self._bar.start()
        return self

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task("", total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.stop()


def render_faithfulness(figures: dict) -> list[str]:
    def show(value) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        f"faithfulness: {figures['sentences_shown']} sentences shown, {figures['sentences_withheld']} withheld by the verifier"
        f" (share {show(figures['withheld_share'])}); citation precision {show(figures['citation_precision'])},"
        f" recall {show(figures['citation_recall'])}",
    ]
    judged = figures.get("judge")
    if judged:
        lines.append(
            f"judge: shown sentences supported {show(judged['sentences_supported_share'])}; answers {judged['correct']} correct,"
            f" {judged['partly']} partly, {judged['wrong']} wrong (mean credit {show(judged['mean_credit'])}); agrees with the"
            f" gold-string score on {show(judged['agreement_with_gold_string'])} ({judged['correct_but_string_missed']} correct"
            f" the string missed, {judged['string_matched_but_not_correct']} string matches it did not call correct)"
        )
    return lines


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
        if report.faithfulness:
            lines += render_faithfulness(report.faithfulness)
            if report.judge:
                lines.append(f"judge model: {report.judge} (its agreement with a reader's labels: benchmarks/RESULTS.md, \"A local judge for rag eval\")")
    for failure in report.failures:
        lines.append(f"failed: {one_line(failure['id'])}: {one_line(failure['error'])} (scored as wrong; --resume tries it again)")
    return "\n".join(lines)


def render_sources(answer, colour: bool = False) -> str:
    """The source list under an answer: each cited passage with the sentences that back the answer
    (highlighted on a terminal), or, when it abstained, why and the closest passages."""
    bold, path_colour, _, reset = _styles(colour)
    if answer.abstained:
        lines = [f"Why: {one_line(answer.abstention_reason)}."] if answer.abstention_reason else []
        lines.append("Closest passages:" if answer.sources else "No passages found.")
    else:
        lines = [f"Note: {one_line(note)}." for note in answer.notes] + ["Sources:"]
    shown = [s for s in answer.sources if s.cited] or answer.sources
    for source in shown:
        lines.append(f"{bold}[{source.n}]{reset} {path_colour}{_where(source.hit.path, source.hit.page)}{reset}")
        if source.evidence:
            # Wrapped before the codes go in, so that they never count as width.
            lines += [
                "\n".join(f"{line[:4]}{bold}{line[4:]}{reset}" for line in wrapped(one_line(" ".join(sentence.split()))).splitlines())
                for sentence in source.evidence
            ]
            continue
        snippet = one_line(" ".join(source.hit.text.split()))
        lines.append(wrapped(f"{snippet[:200]}{'…' if len(snippet) > 200 else ''}"))
    return "\n".join(lines)


def render_generation(report) -> str:
    """`rag eval --generate`'s summary: what was written, what was passed over and why."""
    made = report.answerable + report.unanswerable
    lines = [
        f"{made} questions written to {one_line(report.out) if report.out != '-' else 'stdout'} ({report.answerable} answerable,"
        f" {report.unanswerable} unanswerable; {report.resumed} from before) by {report.model}, seed {report.seed},"
        f" in {report.seconds:.0f} s from {report.attempts} attempts"
    ]
    if report.rejected:
        lines.append("passed over: " + ", ".join(f"{reason} {n}" for reason, n in sorted(report.rejected.items(), key=lambda item: -item[1])))
    for failure in report.failures:
        lines.append(f"failed: {one_line(failure)}")
    if made < report.wanted:
        lines.append(f"only {made} of {report.wanted} questions passed the checks: the index may be small, or try another --seed")
    return "\n".join(lines)
