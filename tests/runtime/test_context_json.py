"""Contexts given as JSON (Studio, the server API): coerced to their types; errors name fields."""

from __future__ import annotations

from typing import Any

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.settings import ModelSettings
from chunkwise.state.generate import GenerateContext
from chunkwise.state.paper2code import Paper2CodeContext
from chunkwise.state.rephrase import RephraseContext


def test_nested_model_settings_and_numbers_from_json() -> None:
    context = Paper2CodeContext(**{
        "chunk_model": "openai:m",
        "models": {"base_url": "http://127.0.0.1:9/v1", "temperature": "0.2", "rpm": 30},
        "num_chunks": "auto",
        "min_success_ratio": "0.75",
    })
    assert isinstance(context.models, ModelSettings)
    assert context.models.base_url == "http://127.0.0.1:9/v1"
    assert context.models.temperature == 0.2 and context.models.rpm == 30
    assert context.num_chunks == "auto" and context.min_success_ratio == 0.75
    assert context.chunk_model == "openai:m"


def test_lists_become_tuples_and_python_objects_pass() -> None:
    tokenizer = object()
    rephrase = RephraseContext(checks=["numbers", "citations"], tokenizer=tokenizer)
    assert rephrase.checks == ("numbers", "citations") and rephrase.tokenizer is tokenizer
    generate = GenerateContext(max_retries="1", consistency_pass="false")  # type: ignore[arg-type]
    assert generate.max_retries == 1 and generate.consistency_pass is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"models": {"temprature": 0.1}}, "context.models: unknown setting 'temprature'"),
        ({"models": {"timeout": "soon"}}, "context.models.timeout: Input should be a valid"),
        ({"num_chunks": "many"}, "context.num_chunks: "),
        ({"min_success_ratio": [1]}, "context.min_success_ratio: "),
    ],
)
def test_bad_values_name_their_field(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Paper2CodeContext(**options)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_user_errors_are_value_errors_for_the_server() -> None:
    # langgraph-api shows the message of ValueError/RuntimeError subclasses to a Studio user
    from chunkwise.errors import InputError, RunFailed
    from chunkwise.models.retry import ModelCallError

    assert issubclass(ConfigError, ValueError) and issubclass(InputError, ValueError)
    assert issubclass(RunFailed, RuntimeError) and issubclass(ModelCallError, RuntimeError)
