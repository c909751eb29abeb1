"""Resolution of `local:` model specs to built-in models or the user's own GGUF files."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.local import registry
from chunkwise.models.local.registry import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODEL_ENV,
    resolve_local_model,
)


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOCAL_MODEL_ENV, raising=False)


@pytest.fixture
def gguf_file(tmp_path: Path) -> Path:
    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF\x03\x00\x00\x00rest-of-header")
    return path


def test_default_is_the_1_5b_model() -> None:
    assert DEFAULT_LOCAL_MODEL == "qwen2.5-coder-1.5b"
    for spec in ("local:", "local:default", "local", "default", "  local:  "):
        choice = resolve_local_model(spec)
        assert choice.name == DEFAULT_LOCAL_MODEL
        assert choice.weights is not None


@pytest.mark.parametrize(
    "spec", ["local:qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b", "LOCAL:Qwen2.5-Coder-0.5B"]
)
def test_builtin_names(spec: str) -> None:
    choice = resolve_local_model(spec)
    assert choice.name == "qwen2.5-coder-0.5b"
    assert choice.user_file is None
    assert choice.n_ctx_train == 32768


def test_env_chooses_what_default_means(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCAL_MODEL_ENV, "qwen2.5-coder-0.5b")
    assert resolve_local_model("local:").name == "qwen2.5-coder-0.5b"
    assert resolve_local_model("local:default").name == "qwen2.5-coder-0.5b"
    monkeypatch.setenv(LOCAL_MODEL_ENV, "local:qwen2.5-coder-0.5b")
    assert resolve_local_model("local:").name == "qwen2.5-coder-0.5b"


def test_env_does_not_override_an_explicit_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCAL_MODEL_ENV, "qwen2.5-coder-0.5b")
    assert resolve_local_model("local:qwen2.5-coder-1.5b").name == "qwen2.5-coder-1.5b"


def test_env_can_name_a_user_file(monkeypatch: pytest.MonkeyPatch, gguf_file: Path) -> None:
    monkeypatch.setenv(LOCAL_MODEL_ENV, str(gguf_file))
    choice = resolve_local_model("local:")
    assert choice.user_file == gguf_file


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCAL_MODEL_ENV, "llama-99b")
    with pytest.raises(ConfigError, match=LOCAL_MODEL_ENV):
        resolve_local_model("local:")


def test_user_file_is_used_as_is_without_hashing(gguf_file: Path) -> None:
    choice = resolve_local_model(f"local:{gguf_file}")
    assert choice.name == "mine.gguf"
    assert choice.weights is None
    assert choice.n_ctx_train is None
    assert choice.model_file() == gguf_file


def test_user_file_relative_and_home(gguf_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(gguf_file.parent)
    assert resolve_local_model("local:mine.gguf").user_file == gguf_file
    monkeypatch.setenv("HOME", str(gguf_file.parent))
    assert resolve_local_model("local:~/mine.gguf").user_file == gguf_file


def test_missing_user_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_local_model(f"local:{tmp_path}/nope.gguf")


def test_folder_is_not_a_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_local_model(f"local:{tmp_path}/")


def test_user_file_without_gguf_magic(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(ConfigError, match="not a GGUF file"):
        resolve_local_model(f"local:{path}")


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_local_model("local:qwen3-coder-480b")
    message = str(caught.value)
    assert "local:qwen2.5-coder-1.5b" in message
    assert "local:qwen2.5-coder-0.5b" in message
    assert "\n" not in message


def test_resolution_does_not_touch_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(name: str) -> Path:
        raise AssertionError("resolution must not join or hash")

    monkeypatch.setattr(registry, "ensure_model_file", fail)
    resolve_local_model("local:qwen2.5-coder-1.5b")
