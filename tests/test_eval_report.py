"""`rag eval --html`: the report page's figures, its escaping and its isolation, and the CLI option."""

import html.parser
import json
import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.errors import UsageError
from ragcli.evaluation import EvalReport, Question, QuestionResult, evaluate, first_gold_rank, latency_percentiles
from ragcli.evaluation_page import CONTENT_SECURITY_POLICY, check_page_target, render_page, write_page
from ragcli.ingest import ingest
from tests.conftest import fake_environment

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<script>alert("q")</script><img src=x onerror=alert(1)>'


class Parsed(html.parser.HTMLParser):
    """What the tests read back: the curve's points, the rank dots, the table's rows and cells."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.points: dict[str, dict[int, float]] = {}
        self.dots: dict[str, str] = {}
        self.rows: list[str] = []
        self.ranks: dict[str, str] = {}
        self.cells: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.headers: list[str] = []
        self._series = None
        self._cell: list[str] | None = None
        self._in_th = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.attributes |= set(attrs)
        if tag == "g" and "data-series" in attrs:
            self._series = attrs["data-series"]
            self.points[self._series] = {}
        elif tag == "circle" and "data-recall" in attrs:
            self.points[self._series][int(attrs["data-k"])] = float(attrs["data-recall"])
        elif tag == "circle" and "data-id" in attrs:
            self.dots[attrs["data-id"]] = attrs["data-rank"]
        elif tag == "tr" and "data-id" in attrs and self._series is None:
            self.rows.append(attrs["data-id"])
            self.cells[attrs["data-id"]] = []
        elif tag == "td" and self.rows:
            if "data-rank" in attrs:
                self.ranks[self.rows[-1]] = attrs["data-rank"]
            self._cell = []
        elif tag == "th":
            self._in_th = True

    def handle_endtag(self, tag):
        if tag == "g":
            self._series = None
        elif tag == "td" and self._cell is not None:
            self.cells[self.rows[-1]].append("".join(self._cell))
            self._cell = None
        elif tag == "th":
            self._in_th = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_th:
            self.headers.append(data)


def question(qid, corpus, gold=True, text="a question", answer="fifty"):
    return Question(
        id=qid, question=text, answer=answer if gold else "UNANSWERABLE", corpus=corpus,
        gold=[{"path": "spec.pdf", "page": 4}] if gold else [], answerable=gold,
    )


def hand_made_report(**answers) -> EvalReport:
    """Four questions, k = 5: ranks 1 and 3 in corpus A, not found in B, one unanswerable."""
    results = [
        QuestionResult(question=question("q1", "A", text=HOSTILE), rank=1, search_ms=10.0, **answers.get("q1", {})),
        QuestionResult(question=question("q2", "A"), rank=3, search_ms=20.0, **answers.get("q2", {})),
        QuestionResult(question=question('q3" onmouseover="x', "<b>B</b>"), rank=None, search_ms=30.0, **answers.get("q3", {})),
        QuestionResult(question=question("q4", "A", gold=False, text="bell\x07 and \ud800"), rank=None, search_ms=40.0,
                       **answers.get("q4", {})),
    ]
    return EvalReport(questions=4, recall={1: 1 / 3, 5: 2 / 3, 10: 2 / 3}, k=5, embedder="hash", qa_file="qa.jsonl",
                      created="2026-01-02T03:04:05+00:00", results=results)


def test_the_curve_the_ranks_and_every_row_are_drawn_from_the_results():
    page = Parsed(render_page(hand_made_report()))
    assert page.points == {
        "overall": {1: 0.3333, 2: 0.3333, 3: 0.6667, 4: 0.6667, 5: 0.6667},
        "<b>B</b>": {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0},
        "A": {1: 0.5, 2: 0.5, 3: 1.0, 4: 1.0, 5: 1.0},
    }
    # The unanswerable question has no gold: no dot, and "n/a" in the table.
    assert page.dots == {"q1": "1", "q2": "3", 'q3" onmouseover="x': "none"}
    assert page.rows == ["q1", "q2", 'q3" onmouseover="x', "q4"]
    assert page.ranks == {"q1": "1", "q2": "3", 'q3" onmouseover="x': "none", "q4": "n/a"}
    assert page.cells["q2"] == ["2", "q2", "A", "a question", "spec.pdf p.\xa04", "3", "20.0"]
    assert "answer" not in page.headers


def test_one_corpus_draws_one_curve():
    report = hand_made_report()
    report.results = report.results[:2]
    assert Parsed(render_page(report)).points == {"overall": {1: 0.5, 2: 0.5, 3: 1.0, 4: 1.0, 5: 1.0}}


def test_hostile_text_is_escaped_and_odd_characters_replaced():
    page = render_page(hand_made_report())
    assert "&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page and "<img" not in page and "<b>B</b>" not in page
    assert 'data-id="q3&quot; onmouseover=&quot;x"' in page and "onmouseover=\"x" not in page
    assert "bell\ufffd and \ufffd" in page and "\x07" not in page
    page.encode("utf-8")  # a lone surrogate would make this raise
    assert Parsed(page).cells["q1"][3] == HOSTILE


def test_the_page_loads_nothing_from_anywhere():
    page = render_page(hand_made_report())
    assert f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">' in page
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none';") and "script-src" not in CONTENT_SECURITY_POLICY
    assert re.search(r"https?:|//[a-z]", page, re.IGNORECASE) is None
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL).group(1)
    assert "url(" not in style and "@import" not in style
    parsed = Parsed(page)
    assert {"script", "img", "link", "iframe", "object", "embed", "base", "form"}.isdisjoint(parsed.tags)
    assert {"src", "srcset", "href", "xlink:href", "action", "style"}.isdisjoint(parsed.attributes)
    assert not any(name.startswith("on") for name in parsed.attributes)


def test_latency_percentiles_and_their_chart():
    timings = [float(n) for n in range(100, 0, -1)]
    assert latency_percentiles(timings) == {"p50": 50.5, "p90": 90.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert latency_percentiles([]) == {}
    page = render_page(hand_made_report())
    for name, value in {"p50": "25.0", "p90": "30.0", "p95": "30.0", "p99": "30.0", "max": "40.0"}.items():
        assert re.search(rf'data-name="{name}"/><text [^>]*>{value} ms<', page), name


def test_answers_add_their_columns_and_figures():
    answers = {
        "q1": {"answer": "It is fifty.", "abstained": False}, "q2": {"answer": "Ten <em>thousand</em>", "abstained": False},
        "q3": {"answer": "", "abstained": True}, "q4": {"answer": "", "abstained": True},
    }
    report = hand_made_report(**answers)
    report.answer_accuracy, report.abstention_precision, report.abstention_recall = 1 / 3, 0.5, 1.0
    page = Parsed(render_page(report))
    assert page.headers[-4:] == ["expected", "answer", "abstained", "correct"]
    assert [page.cells[qid][-2:] for qid in page.rows] == [["no", "yes"], ["no", "no"], ["yes", "no"], ["yes", "yes"]]
    assert page.cells["q2"][-3] == "Ten <em>thousand</em>"
    text = render_page(report)
    assert "<em>" not in text and "33.3%</b><span>answer accuracy" in text and "50.0%</b><span>abstention precision" in text


@pytest.fixture
def indexed(tmp_path, docs, settings):
    ingest(settings, [docs])
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(item) + "\n" for item in [
        {"id": "a", "question": "NINJA_STATUS progress", "answer": "NINJA_STATUS",
         "gold": [{"path": "ninja-build-manual.html", "page": None}], "kind": "factoid", "corpus": "docs"},
        {"id": "b", "question": "EAR99 export classification", "answer": "EAR99",
         "gold": [{"path": "zlib-faq.pdf", "page": 6}], "kind": "factoid", "corpus": "pdfs"},
        {"id": "<script>x</script>", "question": HOSTILE, "answer": "UNANSWERABLE", "gold": [], "kind": "unanswerable", "corpus": "none"},
        {"id": "c", "question": "Sankey diagrams in Excel?", "answer": "UNANSWERABLE", "gold": [], "kind": "unanswerable", "corpus": "none"},
    ]))
    return qa


def test_a_real_evaluation_keeps_each_rank_and_timing(indexed, settings, tmp_path):
    out = tmp_path / "out.jsonl"
    report = evaluate(settings, indexed, k=7, out_path=out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.question.id for r in report.results] == ["a", "b", "<script>x</script>", "c"]
    assert [r.rank for r in report.results] == [first_gold_rank(line["hits"], q.question.gold, limit=7) for line, q in zip(lines, report.results)]
    assert report.results[0].rank is not None and report.results[2].rank is None
    assert [line["search_ms"] for line in lines] == [round(r.search_ms, 2) for r in report.results]
    assert all(r.search_ms > 0 for r in report.results) and report.k == 7 and report.embedder.startswith("hash")
    page = Parsed(render_page(report))
    assert page.rows == ["a", "b", "<script>x</script>", "c"] and set(page.points) == {"overall", "docs", "pdfs"}
    assert {k: page.points["overall"][k] for k in (1, 5)} == {k: round(report.recall[k], 4) for k in (1, 5)}
    assert len(page.points["overall"]) == 7


def test_the_cli_writes_the_page_beside_json_and_out(indexed, tmp_path):
    env = fake_environment(tmp_path)
    target, out = tmp_path / "report.html", tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["eval", str(indexed), "--json", "--out", str(out), "--html", str(target)], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"questions", "recall@1", "recall@5", "recall@10", "mrr@10", "by_corpus", "search_ms_median", "search_ms_p95",
            "answer_accuracy", "abstention_precision", "abstention_recall", "reranker"} <= set(report)
    assert result.stderr.strip().endswith(f"report page: {target}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and len(out.read_text().splitlines()) == 4
    page = Parsed(target.read_text(encoding="utf-8"))
    assert page.rows == ["a", "b", "<script>x</script>", "c"]
    assert page.points["overall"][10] == report["recall@10"]
    assert list(tmp_path.glob(".report.*")) == []  # no temporary left beside it


def test_the_cli_with_answers_shows_them(indexed, tmp_path):
    target = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["eval", str(indexed), "--answers", "--html", str(target)], env=fake_environment(tmp_path))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    page = Parsed(text)
    assert page.headers[-4:] == ["expected", "answer", "abstained", "correct"]
    assert page.cells["c"][-2:] == ["yes", "yes"]  # abstained, rightly: nothing is about Excel
    for qid in ("a", "b"):  # answered (the echo generator never abstains on them): right when the answer holds the expected
        expected, answer, abstained, correct = page.cells[qid][-4:]
        assert abstained == "no" and correct == ("yes" if expected.lower() in answer.lower() else "no")
    assert "<script" not in text and "<img" not in text


@pytest.mark.parametrize("where", ["no/such/folder/report.html", "."])
def test_a_bad_page_path_is_refused_before_the_questions_run(indexed, tmp_path, where):
    target = tmp_path / where
    result = CliRunner().invoke(app, ["eval", str(indexed), "--html", str(target)], env=fake_environment(tmp_path))
    assert result.exit_code == 2 and result.stdout == ""
    assert f"error: cannot write the report page to {target}: " in result.stderr
    assert "hint: Pass an --html path in an existing, writable folder." in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "no").exists()


def test_the_library_refuses_the_same_paths(tmp_path):
    with pytest.raises(UsageError, match="its folder does not exist"):
        write_page(hand_made_report(), tmp_path / "missing" / "r.html")
    with pytest.raises(UsageError, match="it is a folder"):
        check_page_target(tmp_path)
    write_page(hand_made_report(), tmp_path / "r.html")
    assert Parsed((tmp_path / "r.html").read_text(encoding="utf-8")).rows[0] == "q1"
