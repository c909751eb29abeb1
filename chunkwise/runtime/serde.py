"""Checkpoint serializer that knows chunkwise's state types.

LangGraph warns on (and will block) restoring classes that are not allow-listed. Every type
our graphs keep in state lives in `chunkwise.state` (plus `Usage`), so the allowlist is built
from those modules: resuming works, and nothing else is revived from a checkpoint.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import pkgutil
from functools import lru_cache

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

import chunkwise.state
from chunkwise.models.usage import Usage


def _state_types() -> set[type]:
    found: set[type] = {Usage}
    for info in pkgutil.iter_modules(chunkwise.state.__path__, "chunkwise.state."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if not obj.__module__.startswith("chunkwise."):
                continue
            if issubclass(obj, BaseModel | enum.Enum) or dataclasses.is_dataclass(obj):
                found.add(obj)
    return found


@lru_cache(maxsize=1)
def checkpoint_serializer() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=sorted(
        ((t.__module__, t.__name__) for t in _state_types()), key=str
    ))
