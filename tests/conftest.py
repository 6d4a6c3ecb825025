from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ragcli.config import load_settings

SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "sample_docs"


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
        },
        environ={},
    )
