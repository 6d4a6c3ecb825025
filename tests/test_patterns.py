"""Include/exclude patterns and .ragignore files: what is left out, remembered for re-syncs,
carried through a rebuild, and removed from the index when a pattern starts matching."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.walking import Patterns, Skip, walk
from tests.conftest import fake_environment

runner = CliRunner()


@pytest.fixture
def env(tmp_path):
    return fake_environment(tmp_path)


def run(env, *args):
    return runner.invoke(app, list(args), env=env)


@pytest.fixture
def twins(docs):
    """sample_docs with a .txt twin of every page (as git-doc ships them) and a drafts folder."""
    (docs / "ninja-build-manual.txt").write_text("The Ninja build system manual, asciidoc source. NINJA_STATUS.\n")
    (docs / "nodejs-intl.txt").write_text("Internationalization support, source text.\n")
    (docs / "drafts").mkdir()
    (docs / "drafts" / "notes.md").write_text("# Draft\n\nNot for the index.\n")
    return docs


def names(paths):
    return sorted(p.name for p in paths)


def walked(root, patterns=None):
    sources = (lambda r: [(r, patterns)]) if patterns else None
    kept, left = [], []
    for candidate in walk([root], patterns=sources):
        (left if candidate.skip is Skip.EXCLUDED else kept).append(candidate.path)
    return names(kept), names(left)


def test_exclude_and_include_follow_gitignore_rules(twins):
    kept, left = walked(twins, Patterns(exclude=("*.txt", "drafts/")))
    assert "ninja-build-manual.txt" not in kept and "notes.md" not in kept
    assert left == ["drafts", "ninja-build-manual.txt", "nodejs-intl.txt"]  # the folder once, not its files
    kept, _ = walked(twins, Patterns(include=("*.pdf",)))
    assert kept == ["shared-mime-info-spec.pdf", "zlib-faq.pdf"]
    kept, _ = walked(twins, Patterns(exclude=("*.txt", "!nodejs-intl.txt")))
    assert "nodejs-intl.txt" in kept and "ninja-build-manual.txt" not in kept


def test_a_deeper_ragignore_overrides_a_shallower_one(twins):
    (twins / ".ragignore").write_text("# twins of the HTML pages\n*.txt\n*.md\n")
    (twins / "drafts" / ".ragignore").write_text("!notes.md\n")
    kept, left = walked(twins)
    assert "notes.md" in kept and "nodejs-intl.md" not in kept and "ninja-build-manual.txt" in left


def test_an_unreadable_ragignore_leaves_its_folder_as_it_was(twins):
    (twins / "drafts" / ".ragignore").write_bytes(b"\xff\xfe not utf-8")
    problems = [c for c in walk([twins]) if c.problem]
    assert len(problems) == 1 and ".ragignore" in problems[0].problem and problems[0].unreadable_directory


def test_patterns_given_once_are_remembered_by_every_resync(env, twins):
    first = run(env, "ingest", str(twins), "--exclude", "*.txt", "--exclude", "drafts/", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["indexed"] == 5 and report["excluded"] == 3
    again = json.loads(run(env, "ingest", "--json").stdout)  # cron: no path, no flag
    assert again["unchanged"] == 5 and again["indexed"] == 0 and again["excluded"] == 3
    listed = json.loads(run(env, "sources", "--json").stdout)["sources"][0]
    assert listed["exclude"] == ["*.txt", "drafts/"] and listed["include"] == []
    assert "--exclude '*.txt' 'drafts/'" in run(env, "sources").stdout
    # Forgetting the patterns indexes the twins on the next run.
    cleared = json.loads(run(env, "ingest", str(twins), "--exclude", "", "--json").stdout)
    assert cleared["indexed"] == 3 and cleared["excluded"] == 0


def test_a_new_pattern_removes_what_it_now_matches(env, twins):
    assert run(env, "ingest", str(twins)).exit_code == 0
    (twins / ".ragignore").write_text("*.txt\n")
    report = json.loads(run(env, "ingest", "--json").stdout)
    assert report["removed"] == 2 and report["excluded"] == 2
    hits = json.loads(run(env, "search", "NINJA_STATUS", "--json").stdout)["hits"]
    assert all(not hit["path"].endswith(".txt") for hit in hits)


def test_configured_patterns_apply_to_every_folder(env, twins):
    report = json.loads(run({**env, "RAG_INGEST_EXCLUDE": "*.txt"}, "ingest", str(twins), "--json").stdout)
    assert report["excluded"] == 2 and report["indexed"] == 6


def test_rebuild_keeps_the_remembered_patterns(env, twins):
    assert run(env, "ingest", str(twins), "--exclude", "*.txt").exit_code == 0
    rebuilt = run({**env, "RAG_CHUNKING_TOKENS": "90"}, "ingest", "--rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["excluded"] == 2
    listed = json.loads(run(env, "sources", "--json").stdout)["sources"][0]
    assert listed["exclude"] == ["*.txt"]


def test_patterns_without_a_folder_are_a_usage_error(env, twins):
    assert run(env, "ingest", str(twins)).exit_code == 0
    result = run(env, "ingest", "--exclude", "*.txt")
    assert result.exit_code == 2 and "need the folders" in result.stderr


def test_a_folder_under_a_remembered_one_keeps_its_patterns(env, twins):
    assert run(env, "ingest", str(twins), "--exclude", "*.txt").exit_code == 0
    shutil.copy(twins / "nodejs-intl.txt", twins / "drafts" / "more.txt")
    report = json.loads(run(env, "ingest", str(twins / "drafts"), "--json").stdout)
    assert report["excluded"] == 1 and report["indexed"] == 0
