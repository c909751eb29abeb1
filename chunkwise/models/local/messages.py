"""Translation between LangChain messages and the OpenAI-style dicts llama-cpp-python takes.

The model's own chat template (read from the GGUF) turns these dicts into its prompt, so roles
must map to the standard `system` / `user` / `assistant` / `tool` names the templates know.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)


def to_llama_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """OpenAI-style message dicts for `Llama.create_chat_completion`."""
    return [_convert(message) for message in messages]


def _convert(message: BaseMessage) -> dict[str, Any]:
    text = message_text(message)
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": text}
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": text}
    if isinstance(message, ToolMessage):
        return {"role": "tool", "content": text, "tool_call_id": message.tool_call_id}
    if isinstance(message, AIMessage):
        converted: dict[str, Any] = {"role": "assistant", "content": text}
        if message.tool_calls:
            # Qwen-style templates render `arguments` with `tojson`, so they must stay a dict.
            converted["tool_calls"] = [
                {
                    "id": call.get("id") or "",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["args"]},
                }
                for call in message.tool_calls
            ]
        return converted
    if isinstance(message, ChatMessage):
        return {"role": message.role, "content": text}
    raise TypeError(f"local models cannot take {type(message).__name__} messages")


def message_text(message: BaseMessage) -> str:
    """The text of a message; non-text content blocks are refused rather than dropped."""
    content = message.content
    if isinstance(content, str):
        return content
    pieces = []
    for block in content:
        if isinstance(block, str):
            pieces.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            pieces.append(str(block.get("text", "")))
        else:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise ValueError(f"local models accept text only, got a {kind!r} content block")
    return "".join(pieces)


def with_json_instruction(
    messages: list[dict[str, Any]], schema: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Messages with an instruction to answer in JSON matching `schema`, at the very end.

    Grammar-constrained decoding guarantees the shape, but the model only sees the keys as it is
    forced to write them; showing the schema (with its descriptions) up front lets a small model
    plan the content too. It goes last, appended to the final user message (a template may
    honour only one system message, and only first): a structured call then shares its whole
    prompt prefix with a plain call on the same material, which the KV cache reuses.
    """
    instruction = "Answer with a single JSON object only."
    if schema is not None:
        instruction = (
            "Answer with a single JSON object that conforms to this JSON schema:\n"
            + json.dumps(schema, ensure_ascii=False)
        )
    if messages and messages[-1]["role"] == "user":
        last = dict(messages[-1])
        last["content"] = f"{last['content']}\n\n{instruction}".lstrip()
        return [*messages[:-1], last]
    return [*messages, {"role": "user", "content": instruction}]
