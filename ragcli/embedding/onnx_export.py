"""Export a sentence-transformers folder's transformer to ONNX once, into the cache directory.

The export needs torch (and the onnx package), so it happens once per model folder
and precision; afterwards only onnxruntime reads the cached file. Files are keyed
by the folder's fingerprint, so a changed model never meets a stale export, and
written to a temporary name then renamed, so a killed export leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import warnings
from pathlib import Path

from ragcli.durable import atomic_write
from ragcli.embedding import PRECISIONS
from ragcli.embedding.model_folder import ModelFolder, make_cache_dir
from ragcli.errors import ModelError

# Bumped when the exported graph changes shape (inputs, outputs, opset), so old cache files are ignored.
EXPORT_VERSION = 1
OPSET = 17


def onnx_cache_dir(cache_dir: Path, folder: ModelFolder) -> Path:
    return cache_dir / "onnx" / f"{folder.path.name}-{folder.fingerprint}-v{EXPORT_VERSION}"


def onnx_model_file(cache_dir: Path, folder: ModelFolder, precision: str) -> Path:
    """The cached ONNX file for this folder and precision, exported (and quantized) first if missing."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown embedding precision {precision!r}", hint="Set embedding.precision to \"fp32\" or \"int8\".")
    plain = onnx_cache_dir(cache_dir, folder) / f"model-{precision}.onnx"
    target = plain.with_name(f"model-{precision}.opt.onnx")
    if target.is_file():
        return target
    make_cache_dir(target.parent)
    fp32 = target.parent / "model-fp32.onnx"
    if not fp32.is_file():
        _export_fp32(folder, fp32)
    if precision == "int8" and not plain.is_file():
        _quantize_int8(fp32, plain)
    _optimize(plain, target)
    return target


def _optimize(source: Path, target: Path) -> None:
    """Save the graph after ONNX Runtime's portable fusions, so each process starts from it: the
    int8 graph's session then opens several times faster, since its fusions are not redone."""
    from ragcli.embedding.onnx_runtime import import_onnxruntime

    onnxruntime = import_onnxruntime()

    options = onnxruntime.SessionOptions()
    # EXTENDED, not ALL: the layout transformations of ALL are tied to this CPU and are redone at load.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.log_severity_level = 3
    try:
        with atomic_write(target) as tmp:
            options.optimized_model_filepath = str(tmp)
            onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"optimizing {source} for ONNX Runtime failed: {exc}", hint=f"Delete {source.parent} so it is exported again.") from exc


@contextlib.contextmanager
def _quiet():
    """The exporter and quantizer warn about tracing details that do not apply here; users need not see them."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _export_fp32(folder: ModelFolder, target: Path) -> None:
    if folder.extra_modules:
        raise ModelError(
            f"{folder.path} has modules the ONNX backend does not run: {', '.join(folder.extra_modules)}",
            hint="Set embedding.backend = \"torch\" for this model.",
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Their tqdm bars would land in the middle of ragcli's own display (and in cron's mail).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as transformers_logging
    except ImportError:
        raise ModelError(
            "exporting the embedder to ONNX needs torch and transformers, which are not installed",
            hint="pip install sentence-transformers, or set embedding.backend = \"torch\".",
        ) from None
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(str(folder.path), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"cannot load the transformer in {folder.path} for ONNX export: {exc}", hint="Set embedding.backend = \"torch\".") from exc
    model.eval()
    wants_types = "token_type_ids" in inspect.signature(model.forward).parameters and getattr(model.config, "type_vocab_size", 0) > 0
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if wants_types else [])

    class _Wrapped(torch.nn.Module):
        """Positional inputs and one output, which is what the TorchScript exporter handles."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    axes["token_embeddings"] = {0: "batch", 1: "tokens"}
    try:
        with atomic_write(target) as tmp, torch.inference_mode(), _quiet():
            torch.onnx.export(
                _Wrapped(model), example, str(tmp), input_names=names, output_names=["token_embeddings"],
                dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, dynamo=False,
            )
    except Exception as exc:
        raise ModelError(f"exporting {folder.path} to ONNX failed: {exc}", hint="Set embedding.backend = \"torch\" for this model.") from exc


def _quantize_int8(source: Path, target: Path) -> None:
    from ragcli.embedding.onnx_runtime import import_onnxruntime

    try:
        import_onnxruntime()
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise ModelError("int8 quantization needs onnxruntime and onnx", hint="pip install onnxruntime onnx, or set embedding.precision = \"fp32\".") from None
    try:
        # Dynamic quantization: int8 weights, activations quantized per batch at run time, no calibration data.
        # Per-channel scales keep MiniLM's vectors much closer to fp32 than per-tensor scales do;
        # the reduced range avoids int8 saturation on CPUs without VNNI instructions.
        with atomic_write(target) as tmp, _quiet():
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
    except Exception as exc:
        raise ModelError(f"quantizing {source} to int8 failed: {exc}", hint="Set embedding.precision = \"fp32\".") from exc
