"""Checkpoint serializer that revives only the types a pipeline declares.

LangGraph warns on (and will block) restoring classes that are not allow-listed. Each state
module lists the types it keeps in checkpoints (`CHECKPOINT_TYPES`) and its `Pipeline` passes
them here, so resuming works and nothing else is revived from a checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer


def checkpoint_serializer(types: Iterable[type] = ()) -> JsonPlusSerializer:
    return _serializer(frozenset((t.__module__, t.__name__) for t in types))


@lru_cache(maxsize=8)
def _serializer(allowed: frozenset[tuple[str, str]]) -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=sorted(allowed))
