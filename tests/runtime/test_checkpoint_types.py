"""Every pydantic type a pipeline's state or `Send` payloads hold is on its checkpoint allow-list.

LangGraph refuses to revive classes that are not allow-listed (it hands back a plain dict), so a
type missing from `CHECKPOINT_TYPES` breaks resume only on the first resumed run that holds it.
"""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel
from typing_extensions import is_typeddict

from chunkwise.graphs import generate, paper2code, rephrase
from chunkwise.runtime.pipeline import Pipeline


def _models_in(annotation: object, found: set[type]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in found:
            found.add(annotation)
            for field in annotation.model_fields.values():
                _models_in(field.annotation, found)
        return
    if is_typeddict(annotation):
        for hint in typing.get_type_hints(annotation).values():
            _models_in(hint, found)
        return
    for arg in typing.get_args(annotation):
        _models_in(arg, found)


@pytest.mark.parametrize("pipeline", [paper2code.PIPELINE, rephrase.PIPELINE, generate.PIPELINE],
                         ids=lambda p: p.name)
def test_state_types_are_allow_listed(pipeline: Pipeline[BaseModel]) -> None:
    module = __import__(pipeline.context_type.__module__, fromlist=["_"])
    found: set[type] = set()
    for value in vars(module).values():
        if is_typeddict(value) and value.__module__ == module.__name__:
            _models_in(value, found)
    missing = {t.__name__ for t in found} - {t.__name__ for t in pipeline.checkpoint_types}
    assert not missing, f"{pipeline.name}: add {sorted(missing)} to CHECKPOINT_TYPES"
