from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from ragcli.config import load_settings

SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "sample_docs"

# A runner started in the background by a non-interactive shell (`pytest &` in a script) inherits
# SIGINT ignored, and so would every command the tests start; the Ctrl-C tests need it delivered.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory):
    """No test writes outside its temporary directories: the per-user cache, data, state and
    config folders (and HOME, where libraries keep their own caches) point into one temporary
    folder for the whole session. The real models' one-time work (the ONNX export, the assembled
    GGUF) happens there once per session and is shared by the tests that need it."""
    home = tmp_path_factory.mktemp("home")
    saved = dict(os.environ)
    os.environ.update({
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CONFIG_HOME": str(home / ".config"),
    })
    yield home
    os.environ.clear()
    os.environ.update(saved)


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


def fake_flags(tmp_path: Path) -> dict[str, str]:
    """The fakes (hash embedder, echo generator, no second stage), index and cache in ``tmp_path``."""
    return {
        "index.dir": str(tmp_path / "index"),
        "cache_dir": str(tmp_path / "cache"),
        "embedding.model": "hash",
        "generation.model": "echo",
        "reranking.mode": "off",
    }


def fake_environment(tmp_path: Path) -> dict[str, str]:
    """``fake_flags`` as the RAG_* variables a `rag` process reads."""
    return {"RAG_" + key.replace(".", "_").upper(): value for key, value in fake_flags(tmp_path).items()}


@pytest.fixture
def settings(tmp_path: Path):
    """Settings with the fakes: hash embedder, echo generator."""
    return load_settings(flags=fake_flags(tmp_path), environ={})


def real_settings(tmp_path: Path, **flags):
    """Settings with the real default models, the index in ``tmp_path`` and the session's model cache."""
    return load_settings(flags={"index.dir": str(tmp_path / "index"), **flags})
