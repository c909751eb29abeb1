"""A fake Bedrock Runtime Converse server: `POST /model/{modelId}/converse`.

Point botocore at it with `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` and fake credentials. Answers
text or, when `toolConfig` forces a tool, a `toolUse` block; reports `usage`
(inputTokens/outputTokens/cacheReadInputTokens). Errors use Bedrock's shape: the
`x-amzn-ErrorType` header names the exception and the JSON body carries `message`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from .base import Fault, Reply, Request, ScriptedServer


def _text(blocks: Any) -> str:
    if isinstance(blocks, str):
        return blocks
    parts = []
    for block in blocks or []:
        if isinstance(block, dict):
            if "text" in block:
                parts.append(str(block["text"]))
            elif "toolResult" in block:
                parts.append(_text(block["toolResult"].get("content")))
            elif "toolUse" in block:
                parts.append(json.dumps(block["toolUse"].get("input")))
    return "".join(parts)


class FakeBedrock(ScriptedServer):
    protocol = "bedrock"

    def route(self, method: str, path: str) -> bool:
        parts = path.split("?")[0].strip("/").split("/")
        return method == "POST" and len(parts) == 3 and parts[0] == "model" and (
            parts[2] == "converse"
        )

    def not_found(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return bedrock_error(404, "UnknownOperationException", f"no route {path}").as_response()

    def parse(self, path: str, body: dict[str, Any]) -> Request:
        model = unquote(path.split("?")[0].strip("/").split("/")[1])
        messages = [("system", _text(body.get("system")))] if body.get("system") else []
        messages += [
            (str(m.get("role")), _text(m.get("content"))) for m in body.get("messages", [])
        ]
        request = Request(body=body, model=model, messages=messages)
        config = body.get("toolConfig") or {}
        tools = [t["toolSpec"] for t in config.get("tools", []) if "toolSpec" in t]
        request.tools = tools
        choice = config.get("toolChoice") or {}
        name = None
        if "tool" in choice:
            name = choice["tool"].get("name")
        elif "any" in choice and tools:
            name = tools[0]["name"]
        elif len(tools) == 1:
            name = tools[0]["name"]  # models without tool_choice support still use the only tool
        if name is not None:
            request.tool_name = name
            request.structured = "tools"
            for tool in tools:
                if tool["name"] == name:
                    request.schema = tool.get("inputSchema", {}).get("json")
        return request

    def reply_cap(self, body: dict[str, Any]) -> int:
        return int((body.get("inferenceConfig") or {}).get("maxTokens") or 0)

    def too_many(self, wait: float) -> tuple[int, dict[str, str], bytes]:
        return bedrock_error(429, "ThrottlingException",
                             "Too many tokens, please wait before trying again.").as_response()

    def answer(self, request: Request, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        if reply.tool_args is not None and request.tool_name:
            content: list[dict[str, Any]] = [
                {"toolUse": {"toolUseId": f"tooluse_{len(self.requests)}",
                             "name": request.tool_name, "input": reply.tool_args}}
            ]
            stop = "tool_use"
        elif reply.tool_args is not None:
            content, stop = [{"text": json.dumps(reply.tool_args)}], "end_turn"
        else:
            content, stop = [{"text": reply.text or ""}], "end_turn"
        usage = {
            "inputTokens": reply.input_tokens,
            "outputTokens": reply.output_tokens,
            "totalTokens": (reply.input_tokens or 0) + (reply.output_tokens or 0),
        }
        if reply.cached_tokens:
            usage["cacheReadInputTokens"] = reply.cached_tokens
        body = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": usage,
            "metrics": {"latencyMs": 5},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode("utf-8")


# -- faults as Bedrock sends them -------------------------------------------------------------
class _BedrockFault(Fault):
    def as_response(self) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json", **dict(self.headers)}
        return self.status, headers, json.dumps(self.body).encode("utf-8")


def bedrock_error(status: int, code: str, message: str, **headers: str) -> _BedrockFault:
    return _BedrockFault(
        f"{status}:{code}",
        status=status,
        body={"message": message},
        headers=(("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                 *headers.items()),
    )


def throttled(status: int = 429, message: str = "Too many tokens, please wait before trying again.",
              retry_after: float | None = None) -> Fault:
    extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return bedrock_error(status, "ThrottlingException", message, **extra)


def server_error(status: int = 500) -> Fault:
    return bedrock_error(status, "InternalServerException", "The server encountered an error.")


def unavailable() -> Fault:
    return bedrock_error(503, "ServiceUnavailableException", "Bedrock is unable to process "
                         "your request.")


def access_denied() -> Fault:
    return bedrock_error(403, "AccessDeniedException",
                         "You don't have access to the model with the specified model ID.")


def unrecognized_client() -> Fault:
    return bedrock_error(403, "UnrecognizedClientException",
                         "The security token included in the request is invalid.")


def unknown_model() -> Fault:
    return bedrock_error(404, "ResourceNotFoundException", "Could not resolve the foundation "
                         "model from the provided model identifier.")


def validation(message: str = "Malformed input request: #: extraneous key [foo] is not "
               "permitted, please reformat your input and try again.") -> Fault:
    return bedrock_error(400, "ValidationException", message)


def context_length() -> Fault:
    return bedrock_error(400, "ValidationException", "Input is too long for requested model.")


def malformed() -> Fault:
    return Fault("malformed", status=200, raw=b'{"output": {"message": ')


def slow(seconds: float) -> Fault:
    return Fault("slow", delay=seconds, then_answer=True)


def dropped() -> Fault:
    return Fault("drop", drop=True)
