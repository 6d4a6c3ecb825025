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
from ragcli.errors import ModelError


class Reranker(Protocol):
    id: str

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, higher is better (comparable within one call)."""
        ...


def _overlap(settings: Settings) -> Reranker:
    from ragcli.reranking.overlap import OverlapReranker

    return OverlapReranker()


def _bundled_mpnet(settings: Settings) -> Reranker:
    from ragcli.reranking.bi_encoder import BiEncoderReranker
    from ragcli.reranking.bundled import MPNET, assemble_folder

    folder = assemble_folder(MPNET, settings.cache_path)
    return BiEncoderReranker(folder, settings.reranking, settings.cache_path, model_id=MPNET.model_id)


RERANKERS = {
    "overlap": _overlap,
    "all-mpnet-base-v2": _bundled_mpnet,
}


def _from_folder(settings: Settings, folder: Path) -> Reranker:
    """A sentence-transformers folder (modules.json) re-scores as a bi-encoder; anything else loads as a CrossEncoder."""
    if (folder / "modules.json").is_file():
        from ragcli.reranking.bi_encoder import BiEncoderReranker

        return BiEncoderReranker(folder, settings.reranking, settings.cache_path)
    from ragcli.reranking.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(folder, settings.reranking)


def load_reranker(settings: Settings) -> Reranker | None:
    """The configured second stage, or None when it is off.

    ``auto`` runs it where it is cheap: on a GPU (``reranking.device`` other than
    "cpu") and only when its model is installed. On CPU the bundled mpnet costs
    seconds per query (benchmarks/RESULTS.md), so there it runs only with ``on``.
    """
    options = settings.reranking
    if options.mode == "off" or (options.mode == "auto" and options.device == "cpu"):
        return None
    factory = RERANKERS.get(options.model.lower())
    if factory is not None:
        from ragcli.reranking.bundled import ModelNotInstalled

        try:
            return factory(settings)
        except ModelNotInstalled:
            # "auto" means: use the second stage where its package is installed.
            if options.mode == "auto":
                return None
            raise
    folder = Path(options.model).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"unknown reranker {options.model!r}: not a short name ({', '.join(RERANKERS)}) nor a folder",
            hint="Set reranking.model to a short name or a local CrossEncoder / sentence-transformers folder,"
            ' or reranking.mode = "off".',
        )
    return _from_folder(settings, folder.resolve())
