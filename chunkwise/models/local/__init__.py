"""Embedded local model backend: GGUF models run in-process with llama.cpp.

The model factory calls `build_local_chat_model` for specs whose provider is `local`. Importing
this package does not import `llama_cpp`; that happens on the first generation, so chunkwise
works without the `local` extra until a local model is actually used.
"""

from __future__ import annotations

import os

from chunkwise.errors import ConfigError
from chunkwise.models.local.chat import DEFAULT_N_CTX, LlamaCppChatModel
from chunkwise.models.local.registry import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODEL_ENV,
    LocalModelChoice,
    resolve_local_model,
)
from chunkwise.models.local.runtime import ContextLengthExceededError, llama_cpp_available
from chunkwise.models.local.sampling import PROSE_REPETITION, Repetition, TextKind
from chunkwise.models.local.weights import CACHE_ENV, INSTALL_HINT, ensure_model_file

N_CTX_ENV = "CHUNKWISE_LOCAL_N_CTX"
MIN_N_CTX = 512

__all__ = [
    "CACHE_ENV",
    "DEFAULT_LOCAL_MODEL",
    "DEFAULT_N_CTX",
    "LOCAL_MODEL_ENV",
    "N_CTX_ENV",
    "PROSE_REPETITION",
    "ContextLengthExceededError",
    "LlamaCppChatModel",
    "LocalModelChoice",
    "Repetition",
    "TextKind",
    "build_local_chat_model",
    "ensure_model_file",
    "resolve_local_model",
]


def build_local_chat_model(
    model: str,
    *,
    temperature: float | None,
    top_p: float | None,
    max_new_tokens: int | None,
    n_ctx: int | None = None,
) -> LlamaCppChatModel:
    """Chat model for a local spec (`local:…` or the part after it; see `registry`).

    Fails fast with ConfigError, before any run starts, if the spec names nothing, llama-cpp-
    python or the model's parts are missing, or the weights fail their hash check; the first
    call joins the built-in weights into the cache (seconds), the model itself loads lazily on
    first generation. `n_ctx` falls back to `CHUNKWISE_LOCAL_N_CTX`, then 8192 (or less if
    the model was trained for less).
    """
    choice = resolve_local_model(model)
    context = n_ctx if n_ctx is not None else _n_ctx_from_env(choice)
    _check_n_ctx(context, choice)
    if not llama_cpp_available():
        raise ConfigError(f"local models need llama-cpp-python: {INSTALL_HINT}")
    return LlamaCppChatModel(
        model_path=str(choice.model_file()),
        model_name=choice.name,
        n_ctx=context,
        temperature=0.0 if temperature is None else temperature,
        top_p=top_p,
        max_tokens=max_new_tokens,
    )


def _n_ctx_from_env(choice: LocalModelChoice) -> int:
    raw = os.environ.get(N_CTX_ENV, "").strip()
    if not raw:
        return min(DEFAULT_N_CTX, choice.n_ctx_train or DEFAULT_N_CTX)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{N_CTX_ENV}={raw!r} is not an integer: set a token count") from None


def _check_n_ctx(n_ctx: int, choice: LocalModelChoice) -> None:
    where = f"--context-window or {N_CTX_ENV}"
    if n_ctx < MIN_N_CTX:
        raise ConfigError(
            f"context window {n_ctx} is too small for a local model: set {where} to at least "
            f"{MIN_N_CTX}"
        )
    trained = choice.n_ctx_train
    if trained is not None and n_ctx > trained:
        raise ConfigError(
            f"context window {n_ctx} exceeds the {trained} tokens {choice.name} was trained "
            f"for: set {where} to at most {trained}"
        )
