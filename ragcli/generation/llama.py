"""llama-cpp-python adapter: any local GGUF, its own chat template, streamed."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator, Sequence

from ragcli.config import GenerationSettings
from ragcli.errors import ModelError


def default_threads() -> int:
    """Every available core, up to 8: on 2 cores two threads reach the first token much sooner than
    one (benchmarks/RESULTS.md, "Choosing the default generator"); past 8, memory bandwidth limits."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores))


class LlamaGenerator:
    def __init__(self, model_path: Path, settings: GenerationSettings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError("llama-cpp-python is not installed", hint="pip install llama-cpp-python") from None
        threads = settings.threads or default_threads()
        lora = {}
        if settings.lora:
            adapter = Path(settings.lora).expanduser()
            if not adapter.is_file():
                raise ModelError(f"LoRA adapter {settings.lora} does not exist", hint="Pass --lora PATH/TO/adapter.gguf (a GGUF LoRA file).")
            lora = {"lora_path": str(adapter.resolve())}
        try:
            self._llm = Llama(
                model_path=str(model_path),
                n_ctx=settings.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=settings.gpu_layers,
                seed=settings.seed,
                verbose=False,
                **lora,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"cannot load GGUF model {model_path}" + (f" with LoRA {settings.lora}" if settings.lora else "") + f": {exc}",
                hint="Check that the file is a complete GGUF model that this llama.cpp build supports.",
            ) from exc
        self.id = model_path.name + (f"+{Path(settings.lora).name}" if settings.lora else "")
        self.n_ctx = self._llm.n_ctx()
        # llama.cpp reads a prompt in C for seconds without returning to Python, where Ctrl-C is
        # handled; its abort callback, polled between the graph's steps, stops it within a moment.
        import llama_cpp

        self._cancelled = threading.Event()
        self._abort = llama_cpp.ggml_abort_callback(lambda data: self._cancelled.is_set())
        llama_cpp.llama_set_abort_callback(self._llm._ctx.ctx, self._abort, None)

    def cancel(self) -> None:
        """Stop the generation in progress, or the next one to start, from another thread: it
        raises KeyboardInterrupt."""
        self._cancelled.set()

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=False))

    def stream_chat(self, messages: Sequence[dict], max_tokens: int, temperature: float) -> Iterator[str]:
        stream = self._llm.create_chat_completion(
            messages=list(messages),
            max_tokens=max_tokens,
            temperature=temperature,
            repeat_penalty=1.1,
            stream=True,
        )
        try:
            for event in stream:
                if self._cancelled.is_set():
                    raise KeyboardInterrupt
                piece = event["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        except RuntimeError:
            if self._cancelled.is_set():  # llama_decode returned "aborted"
                raise KeyboardInterrupt from None
            raise
        finally:
            # A cancel meant this generation (or the one about to start): the next one runs.
            self._cancelled.clear()

    def score_choices(self, messages: Sequence[dict], choices: Sequence[str]) -> list[float]:
        """Log-probabilities, normalised over ``choices``, that the reply starts with each choice
        (its first token): a judge's verdict as a number rather than as free text."""
        import numpy as np

        firsts = [self._llm.tokenize(choice.encode("utf-8"), add_bos=False, special=False)[0] for choice in choices]
        captured: list[np.ndarray] = []

        def capture(input_ids, scores):
            if not captured:
                captured.append(np.array(scores, dtype=np.float64))
            return scores

        self._llm.create_chat_completion(messages=list(messages), max_tokens=1, temperature=0.0, logits_processor=[capture])
        logits = captured[0][firsts]
        shifted = logits - logits.max()
        return list(shifted - np.log(np.exp(shifted).sum()))
