"""Process-wide llama.cpp instances: one per (model file, n_ctx), loaded lazily, used one at a time.

A llama.cpp context holds mutable state (KV cache, sampler), so two generations on one instance
must never overlap: every use goes through `LoadedModel.lock`, and concurrent graph branches
simply queue. Sharing one instance per (file, n_ctx) also keeps memory bounded when a graph
builds many chat-model objects for the same model. `llama_cpp` is imported on first load only
(here and in `engine`), so the rest of chunkwise works without the `local` extra.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import re
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from chunkwise.errors import ConfigError
from chunkwise.models.local.sampling import Repetition
from chunkwise.models.local.weights import INSTALL_HINT

# KV states kept for prompts that come back (see `engine`): about 9,000 tokens of the 1.5B
# model (28 KB a token), a few prompts' worth.
PREFIX_CACHE_BYTES = 256 << 20

_CONTEXT_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


class ContextLengthExceededError(ValueError):
    """The prompt does not fit in the model's context; retrying the same prompt cannot help."""


@dataclass
class LoadedModel:
    """A loaded `llama_cpp.Llama` and the lock that serializes every call on it."""

    llama: Any
    n_ctx: int
    # A plain Lock, not an RLock: async streaming resumes the generator holding it on
    # different executor threads, and only a Lock may be released by another thread.
    lock: threading.Lock = field(default_factory=threading.Lock)
    _formatter: Any = None

    def begin(self, repetition: Repetition) -> None:
        """Set up one call (hold `lock`): its repetition controls, and fresh timings."""
        self.llama.repetition = repetition
        reset = getattr(self.llama, "reset_timings", None)
        if reset is not None:
            reset()

    def timings(self) -> dict[str, float] | None:
        """llama.cpp's counters since `begin` (hold `lock`), or None for other engines."""
        read = getattr(self.llama, "timings", None)
        return read() if read is not None else None

    def prompt_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        """Exact prompt size under the model's chat template, or None when it has none.

        Streaming responses from llama-cpp-python carry no usage, so this re-renders the
        template the same way `create_chat_completion` does to count the input side.
        """
        formatter = self._chat_formatter()
        if formatter is None:
            return None
        rendered = formatter(messages=messages)
        tokens = self.llama.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return len(tokens)

    def _chat_formatter(self) -> Any:
        if self._formatter is None and self.llama.chat_format == "chat_template.default":
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            model = self.llama._model
            eos_id, bos_id = self.llama.token_eos(), self.llama.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=self.llama.metadata["tokenizer.chat_template"],
                eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
                bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
                stop_token_ids=[eos_id],
            )
        return self._formatter


_MODELS: dict[tuple[str, int], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity set where the OS reports one.

    `os.cpu_count()` counts the host's CPUs even when a container or `taskset` allows fewer,
    and llama.cpp threads beyond the allowed CPUs stall each other at every barrier.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def llama_cpp_available() -> bool:
    """Whether llama-cpp-python is installed, checked without importing it (slow, native)."""
    return importlib.util.find_spec("llama_cpp") is not None


def import_llama_cpp() -> ModuleType:
    """The `llama_cpp` module, or a ConfigError saying how to install it."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConfigError(f"local models need llama-cpp-python: {INSTALL_HINT}") from exc
    return llama_cpp


def load_model(model_path: str, n_ctx: int, n_threads: int | None) -> LoadedModel:
    """The shared instance for (model_path, n_ctx), loading it on first use.

    `n_threads` only matters for the first caller; later callers share that instance.
    """
    key = (os.path.realpath(model_path), n_ctx)
    with _LOAD_LOCK:
        loaded = _MODELS.get(key)
        if loaded is None:
            loaded = LoadedModel(llama=_construct(model_path, n_ctx, n_threads), n_ctx=n_ctx)
            _MODELS[key] = loaded
    return loaded


@atexit.register
def _close_all() -> None:
    # Freed here, while the interpreter is intact: left to garbage collection at shutdown,
    # llama-cpp-python's finalizers run after its ctypes globals are gone and print tracebacks.
    with _LOAD_LOCK:
        for loaded in _MODELS.values():
            loaded.llama.close()
        _MODELS.clear()


def _construct(model_path: str, n_ctx: int, n_threads: int | None) -> Any:
    import_llama_cpp()  # a ConfigError with the install hint when it is missing
    from chunkwise.models.local.engine import ChunkwiseLlama

    try:
        llama = ChunkwiseLlama(
            model_path=model_path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            prefix_cache_bytes=PREFIX_CACHE_BYTES,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(
            f"llama.cpp cannot load model file {model_path} ({exc}): "
            "use a GGUF file this llama-cpp-python version supports"
        ) from exc
    trained = llama._model.n_ctx_train()
    if n_ctx > trained:
        llama.close()
        raise ConfigError(
            f"context window {n_ctx} exceeds the {trained} tokens {os.path.basename(model_path)} "
            f"was trained for: set --context-window or CHUNKWISE_LOCAL_N_CTX to at most {trained}"
        )
    return llama


def context_overflow(exc: ValueError, n_ctx: int) -> ContextLengthExceededError | None:
    """Translate llama-cpp-python's overflow ValueError into our non-retryable error."""
    match = _CONTEXT_OVERFLOW.search(str(exc))
    if match is None:
        return None
    return ContextLengthExceededError(
        f"prompt of {match.group(1)} tokens exceeds the local model's context length of "
        f"{n_ctx} tokens (n_ctx): use smaller chunks or a larger n_ctx"
    )
