"""`build_local_chat_model`, the entry point the model factory calls for `local` specs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import chunkwise.models.local as local
from chunkwise.errors import ConfigError
from chunkwise.models.local import LlamaCppChatModel, build_local_chat_model

from .conftest import FakeModel


@pytest.fixture(autouse=True)
def _llama_cpp_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "llama_cpp_available", lambda: True)
    monkeypatch.delenv(local.N_CTX_ENV, raising=False)


def _build(model: str = "local:fake-coder-0.1b", **overrides: object) -> LlamaCppChatModel:
    settings: dict = {"temperature": None, "top_p": None, "max_new_tokens": None}
    settings.update(overrides)
    return build_local_chat_model(model, **settings)


def test_importing_the_package_does_not_import_llama_cpp() -> None:
    code = "import sys, chunkwise.models.local; assert 'llama_cpp' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_settings_map_onto_the_chat_model(fake_model: FakeModel) -> None:
    model = _build(temperature=0.3, top_p=0.9, max_new_tokens=256, n_ctx=2048)

    assert model.model_path == str(fake_model.target)
    assert model.model_name == "fake-coder-0.1b"
    assert (model.temperature, model.top_p, model.max_tokens) == (0.3, 0.9, 256)
    assert model.context_window == model.n_ctx == 2048
    assert fake_model.target.is_file()  # joined up front, so failures surface before a run


def test_defaults_are_greedy_with_8k_context(fake_model: FakeModel) -> None:
    model = _build()
    assert model.temperature == 0.0
    assert model.top_p is None and model.max_tokens is None
    assert model.context_window == 4096  # 8192 by default, capped at what the model knows


def test_n_ctx_from_env(fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.N_CTX_ENV, "1024")
    assert _build().n_ctx == 1024
    monkeypatch.setenv(local.N_CTX_ENV, "lots")
    with pytest.raises(ConfigError, match=local.N_CTX_ENV):
        _build()


def test_n_ctx_beyond_training_is_refused(fake_model: FakeModel) -> None:
    with pytest.raises(ConfigError, match="trained for"):
        _build(n_ctx=8192)  # the fake model was "trained" for 4096


def test_tiny_n_ctx_is_refused(fake_model: FakeModel) -> None:
    with pytest.raises(ConfigError, match="at least"):
        _build(n_ctx=64)


def test_missing_llama_cpp_says_how_to_install(
    fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "llama_cpp_available", lambda: False)
    with pytest.raises(ConfigError, match=r'pip install "chunkwise\[local\]"'):
        _build()


def test_default_n_ctx_for_builtin_models() -> None:
    assert local.DEFAULT_N_CTX == 8192


def test_threads_default_to_the_cpus_this_process_may_use() -> None:
    from chunkwise.models.local.runtime import usable_cpus

    cpus = usable_cpus()
    assert 1 <= cpus <= (os.cpu_count() or 1)
    assert LlamaCppChatModel(model_path="/m.gguf").n_threads == cpus
