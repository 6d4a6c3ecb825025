from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ragcli.config import load_settings

SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "sample_docs"


@pytest.fixture(autouse=True)
def no_second_stage_by_default(monkeypatch):
    """Tests run without the second-stage model unless they ask for it: loading it takes seconds."""
    monkeypatch.setenv("RAG_RERANKING_MODE", "off")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A private copy of sample_docs that a test may edit."""
    target = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, target)
    (target / "SOURCES").unlink()
    return target


@pytest.fixture
def settings(tmp_path: Path):
    """Settings with the fakes: hash embedder, echo generator."""
    return load_settings(
        flags={
            "index.dir": str(tmp_path / "index"),
            "cache_dir": str(tmp_path / "cache"),
            "embedding.model": "hash",
            "generation.model": "echo",
            "reranking.mode": "off",
        },
        environ={},
    )
