"""Run options given as JSON, turned into the types their dataclass declares.

LangGraph builds a dataclass `context_schema` from a JSON object with `Context(**json)`, so
Studio and the server API hand nested settings over as plain dicts and numbers as whatever the
form sent. Each field is validated against its annotation (pydantic, lax mode): a dict becomes
`ModelSettings`, `"0.5"` a float, and a value that cannot be used is a `ConfigError` naming its
field. Fields annotated `Any` (a model spec or a ready chat model, a tokenizer object) pass as
they are.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from chunkwise.errors import ConfigError


@lru_cache(maxsize=64)
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def _unknown_keys(hint: Any, value: Any) -> list[str]:
    """Keys of a JSON object that the dataclass it becomes has no field for."""
    if not (isinstance(value, dict) and dataclasses.is_dataclass(hint)):
        return []
    known = {f.name for f in dataclasses.fields(hint)}
    return sorted(str(k) for k in value if k not in known)


def _describe(exc: ValidationError, nested: bool) -> str:
    """`.rpm: Input should be a valid number` for a field of a nested dataclass, else
    `: Input should be ...` (a union's member names are not worth showing)."""
    error = exc.errors()[0]
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    path = ".".join(str(part) for part in error.get("loc", ())) if nested else ""
    return f".{path}: {message}" if path else f": {message}"


def coerce_json_fields(obj: Any, where: str = "context") -> None:
    """Validate and convert `obj`'s dataclass fields in place (see the module docstring)."""
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        hint = hints.get(field.name, Any)
        if hint is Any:
            continue
        value = getattr(obj, field.name)
        if unknown := _unknown_keys(hint, value):
            raise ConfigError(f"{where}.{field.name}: unknown setting {unknown[0]!r}")
        try:
            coerced = _adapter(hint).validate_python(value)
        except ValidationError as exc:
            detail = _describe(exc, dataclasses.is_dataclass(hint))
            raise ConfigError(f"{where}.{field.name}{detail}") from None
        object.__setattr__(obj, field.name, coerced)
