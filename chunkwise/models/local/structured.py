"""Schemas for constrained decoding: what JSON the model must emit and how to parse it back.

llama.cpp compiles a JSON schema into a grammar that masks every token that would break it, so
the model cannot produce malformed or off-schema JSON. That replaces both OpenAI-style
`json_schema` responses and function calling, which small local models do unreliably.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

STRUCTURED_METHODS = ("json_schema", "function_calling", "json_mode")
_FORCING_CHOICES = ("any", "required")


@dataclass(frozen=True)
class OutputSchema:
    """A named JSON schema the reply must match."""

    name: str
    description: str
    parameters: dict[str, Any]

    def for_prompt(self) -> dict[str, Any]:
        """The schema as shown to the model, carrying the top-level description if any."""
        if self.description and "description" not in self.parameters:
            return {"description": self.description, **self.parameters}
        return self.parameters


def output_schema(schema: Mapping[str, Any] | type) -> OutputSchema:
    """Normalize a pydantic class, TypedDict, OpenAI tool/function dict or JSON schema."""
    if isinstance(schema, Mapping) and _is_plain_json_schema(schema):
        return OutputSchema(
            name=str(schema.get("title", "output")),
            description=str(schema.get("description", "")),
            parameters=dict(schema),
        )
    function = convert_to_openai_tool(schema)["function"]
    return OutputSchema(
        name=function["name"],
        description=function.get("description", ""),
        parameters=function.get("parameters") or {"type": "object", "properties": {}},
    )


def _is_plain_json_schema(schema: Mapping[str, Any]) -> bool:
    is_tool_format = "function" in schema or ("name" in schema and "parameters" in schema)
    return not is_tool_format and ("properties" in schema or "type" in schema)


def output_parser(schema: Mapping[str, Any] | type) -> Runnable[Any, Any]:
    """Parser for the reply text: a pydantic instance for pydantic classes, else a dict."""
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        return PydanticOutputParser(pydantic_object=schema)
    return JsonOutputParser()


def response_format(schema: OutputSchema | None) -> dict[str, Any]:
    """llama-cpp-python's `response_format`: JSON constrained to `schema`, or any JSON object.

    The schema also feeds the prompt instruction, so it carries the description; the grammar
    compiler ignores that key.
    """
    if schema is None:
        return {"type": "json_object"}
    return {"type": "json_object", "schema": schema.for_prompt()}


def forced_tool(tools: Sequence[Mapping[str, Any]], tool_choice: Any) -> Mapping[str, Any]:
    """The one tool the model must call, or ValueError if the choice leaves the model free.

    Constrained decoding can force one schema but cannot let the model choose whether and which
    tool to call, so only choices that pin a single tool are accepted.
    """
    names = [tool["function"]["name"] for tool in tools]
    if isinstance(tool_choice, Mapping):
        tool_choice = tool_choice.get("function", {}).get("name")
    if tool_choice in names:
        return tools[names.index(tool_choice)]
    if (tool_choice is True or tool_choice in _FORCING_CHOICES) and len(tools) == 1:
        return tools[0]
    raise ValueError(
        "local models can only call a tool that is forced: bind exactly one tool with "
        f"tool_choice='any' or tool_choice=<its name> (got tools {names}, "
        f"tool_choice={tool_choice!r})"
    )
