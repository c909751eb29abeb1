"""What a `local:` model spec names: a built-in model (joined from PyPI parts) or the user's file.

Accepted forms, with or without the `local:` prefix:
- `local:`, `local:default` or bare `local`: `CHUNKWISE_LOCAL_MODEL` if set, else
  `DEFAULT_LOCAL_MODEL`;
- `local:qwen2.5-coder-1.5b`, `local:qwen2.5-coder-0.5b`: built-in, sha256-pinned;
- `local:/path/to/model.gguf` (anything with a path separator, a leading `~` or a `.gguf`
  suffix): the user's own file, trusted as is but required to exist and look like GGUF.

Resolution touches no large file: joining and hashing wait for `LocalModelChoice.model_file()`,
so a spec can be validated cheaply before a run starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chunkwise.errors import ConfigError
from chunkwise.models.local.files import has_gguf_magic
from chunkwise.models.local.weights import BUILTIN_MODELS, ModelWeights, ensure_model_file

PROVIDER_PREFIX = "local:"
LOCAL_MODEL_ENV = "CHUNKWISE_LOCAL_MODEL"
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b"
_DEFAULT_ALIASES = ("", "default", "local")


@dataclass(frozen=True)
class LocalModelChoice:
    """A resolved local model: a built-in one (`weights`) or a user file (`user_file`)."""

    name: str
    weights: ModelWeights | None = None
    user_file: Path | None = None

    @property
    def n_ctx_train(self) -> int | None:
        """Context the model was trained for, when known without loading it."""
        return self.weights.n_ctx_train if self.weights else None

    def model_file(self) -> Path:
        """The GGUF file to load; for built-ins this joins and hash-checks on first use."""
        if self.user_file is not None:
            return self.user_file
        return ensure_model_file(self.name)


def resolve_local_model(spec: str) -> LocalModelChoice:
    """Resolve a local model spec (see module docstring); raise ConfigError if it names nothing."""
    body = _strip_prefix(spec)
    source = f"model spec {spec.strip()!r}"
    if body.lower() in _DEFAULT_ALIASES:
        body, source = _default_model()
    if body.lower() in BUILTIN_MODELS:
        weights = BUILTIN_MODELS[body.lower()]
        return LocalModelChoice(name=weights.name, weights=weights)
    if _looks_like_path(body):
        return _user_file(body, source)
    options = ", ".join(PROVIDER_PREFIX + name for name in BUILTIN_MODELS)
    raise ConfigError(
        f"unknown local model {body!r} in {source}: use one of {options} "
        f"or {PROVIDER_PREFIX}/path/to/model.gguf"
    )


def _strip_prefix(spec: str) -> str:
    text = spec.strip()
    if text.lower().startswith(PROVIDER_PREFIX):
        text = text[len(PROVIDER_PREFIX) :]
    return text.strip()


def _default_model() -> tuple[str, str]:
    configured = _strip_prefix(os.environ.get(LOCAL_MODEL_ENV, ""))
    if configured.lower() in _DEFAULT_ALIASES:
        return DEFAULT_LOCAL_MODEL, "the default local model"
    return configured, LOCAL_MODEL_ENV


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.startswith("~") or text.lower().endswith(".gguf")


def _user_file(text: str, source: str) -> LocalModelChoice:
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"local model file {path} does not exist: fix the path in {source}")
    try:
        is_gguf = has_gguf_magic(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot read local model file {path} ({exc.strerror}): fix its permissions"
        ) from exc
    if not is_gguf:
        raise ConfigError(
            f"local model file {path} is not a GGUF file (no GGUF magic bytes): "
            f"point {source} at a llama.cpp .gguf model"
        )
    return LocalModelChoice(name=path.name, user_file=path)
