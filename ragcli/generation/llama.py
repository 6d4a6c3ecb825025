"""llama-cpp-python adapter: any local GGUF, its own chat template, streamed."""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import json
import os
import threading
from pathlib import Path
from typing import Iterator, Sequence

from ragcli.config import GenerationSettings
from ragcli.durable import atomic_write
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
        self._path = model_path
        self.n_ctx = self._llm.n_ctx()
        # llama.cpp reads a prompt in C for seconds without returning to Python, where Ctrl-C is
        # handled; its abort callback, polled between the graph's steps, stops it within a moment.
        import llama_cpp

        self._cancelled = threading.Event()
        self._abort = llama_cpp.ggml_abort_callback(lambda data: self._cancelled.is_set())
        llama_cpp.llama_set_abort_callback(self._llm._ctx.ctx, self._abort, None)

    def warm(self, system: str, user_start: str, cache_dir: Path) -> int:
        """Have the fixed start of every prompt (``system`` and the first words of the user turn)
        read already: from a llama.cpp state file saved beside the assembled models, or read now
        and saved, so that a later first answer reads only what follows. Returns its tokens."""
        import llama_cpp

        tokens = self._fixed_tokens(system, user_start)
        if len(tokens) < 2:
            return 0
        key = hashlib.sha256(json.dumps([self._state_identity(), tokens]).encode()).hexdigest()[:16]
        path = cache_dir / "models" / f"{self.id}.{key}.prefix-state"
        ctx = self._llm._ctx.ctx
        if path.is_file():
            found = (llama_cpp.llama_token * len(tokens))()
            count = ctypes.c_size_t(0)
            if llama_cpp.llama_state_load_file(ctx, str(path).encode(), found, len(tokens), ctypes.byref(count)) and list(found)[: count.value] == tokens:
                self._llm.input_ids[: len(tokens)] = tokens
                self._llm.n_tokens = len(tokens)
                return len(tokens)
            path.unlink(missing_ok=True)  # another llama.cpp's, or damaged: read the prefix afresh
        self._llm.reset()
        self._llm.eval(tokens)
        with atomic_write(path) as tmp:
            array = (llama_cpp.llama_token * len(tokens))(*tokens)
            if not llama_cpp.llama_state_save_file(ctx, str(tmp).encode(), array, len(tokens)):
                raise OSError(f"llama.cpp could not save its state to {tmp}")
        return len(tokens)

    def _fixed_tokens(self, system: str, user_start: str) -> list[int]:
        """The tokens two prompts with these starts share, as the model's chat template renders them."""
        formatter = self._formatter()
        if formatter is None:
            return []
        rendered = []
        for ending in ("\u2460", "\u2461"):
            result = formatter(messages=[{"role": "system", "content": system}, {"role": "user", "content": user_start + ending}])
            rendered.append(self._llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True))
        shared = list(itertools.takewhile(lambda pair: pair[0] == pair[1], zip(*rendered)))
        return [int(a) for a, _ in shared]

    def choose(self, messages: Sequence[dict], options: Sequence[str]) -> dict[str, float]:
        """The model's probability of starting its reply with each of ``options`` (words such as
        "yes" and "no"), read from its next-token distribution rather than from sampled text, and
        normalised over the options. A word's spellings ("yes", "Yes", " yes") are pooled."""
        import numpy as np

        tokens = self._prompt_tokens(messages)
        llm = self._llm
        shared = 0
        for held, wanted in zip(llm.input_ids[: llm.n_tokens], tokens[:-1]):
            if held != wanted:
                break
            shared += 1
        llm.n_tokens = shared  # the state keeps the shared prefix (the fixed prompt start)
        llm.eval(tokens[shared:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        mass = {}
        for option in options:
            firsts = {llm.tokenize(spelling.encode(), add_bos=False, special=False)[0]
                      for spelling in (option, option.capitalize(), " " + option, " " + option.capitalize())}
            mass[option] = float(sum(probabilities[t] for t in firsts))
        total = sum(mass.values()) or 1.0
        return {option: value / total for option, value in mass.items()}

    def _prompt_tokens(self, messages: Sequence[dict]) -> list[int]:
        """The prompt as the model's chat template renders it, up to where its reply begins."""
        formatter = self._formatter()
        if formatter is None:
            raise ModelError(f"{self.id} has no chat template", hint="Use a chat (instruct) GGUF model as the judge.")
        result = formatter(messages=list(messages))
        return self._llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def _formatter(self):
        """The model's own chat template as llama-cpp-python renders it, or None without one."""
        from llama_cpp import llama_chat_format

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        model = self._llm._model
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        return llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "", stop_token_ids=[eos],
        )

    def _state_identity(self) -> list:
        import llama_cpp

        info = self._path.stat()
        return [str(self._path), info.st_size, info.st_mtime_ns, self.n_ctx, self._llm.n_batch, llama_cpp.__version__]

    def cancel(self) -> None:
        """Stop the generation in progress, or the next one to start, from another thread: it
        raises KeyboardInterrupt."""
        self._cancelled.set()

    def forget_cancel(self) -> None:
        self._cancelled.clear()

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
