"""A fake OpenAI chat-completions server: `POST {base}/chat/completions`.

Speaks enough of the protocol for `ChatOpenAI`: plain text, `tools` + `tool_choice` tool calls,
`response_format` json_schema answers, `usage` (with cached prompt tokens) and, when asked,
SSE streaming with a final usage chunk. Faults mimic what OpenAI, OpenRouter and vLLM send.

`reads_max_tokens_only` makes it behave like llama.cpp's server, Ollama and older vLLM: the
reply is cut to `max_tokens` words, and `max_completion_tokens` is ignored.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .base import Fault, Reply, Request, ScriptedServer

BASE_PATH = "/v1"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class FakeOpenAI(ScriptedServer):
    protocol = "openai"
    reads_max_tokens_only = False

    @property
    def base_url(self) -> str:
        return self.url + BASE_PATH

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?")[0].rstrip("/").endswith("/chat/completions")

    def not_found(self, path: str) -> tuple[int, dict[str, str], bytes]:
        body = {"error": {"message": f"Invalid URL (POST {path})", "type": "invalid_request_error"}}
        return 404, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def parse(self, path: str, body: dict[str, Any]) -> Request:
        messages = [(str(m.get("role")), _text(m.get("content"))) for m in body.get("messages", [])]
        request = Request(body=body, model=str(body.get("model", "")), messages=messages)
        tools = body.get("tools") or []
        request.tools = tools
        choice = body.get("tool_choice")
        fmt = body.get("response_format") or {}
        if tools and choice not in (None, "none", "auto"):
            name = (
                choice.get("function", {}).get("name")
                if isinstance(choice, dict)
                else tools[0]["function"]["name"]
            )
            request.tool_name = name
            request.structured = "tools"
            for tool in tools:
                if tool["function"]["name"] == name:
                    request.schema = tool["function"].get("parameters")
        elif fmt.get("type") == "json_schema":
            request.structured = "json_schema"
            request.schema = fmt.get("json_schema", {}).get("schema")
        return request

    def reply_cap(self, body: dict[str, Any]) -> int:
        return int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)

    def too_many(self, wait: float) -> tuple[int, dict[str, str], bytes]:
        return rate_limited().as_response()

    def answer(self, request: Request, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        cap = request.body.get("max_tokens")
        if self.reads_max_tokens_only and isinstance(cap, int) and reply.text is not None:
            words = reply.text.split()
            if len(words) > cap:
                reply.text, reply.output_tokens, finish = " ".join(words[:cap]), cap, "length"
        if reply.tool_args is not None and request.structured == "tools":
            finish = "tool_calls"
            message["tool_calls"] = [
                {
                    "id": f"call_{len(self.requests)}",
                    "type": "function",
                    "function": {
                        "name": request.tool_name,
                        "arguments": json.dumps(reply.tool_args),
                    },
                }
            ]
        elif reply.tool_args is not None:
            message["content"] = json.dumps(reply.tool_args)
        else:
            message["content"] = reply.text or ""
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": (reply.input_tokens or 0) + (reply.output_tokens or 0),
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        }
        created = int(time.time())
        if request.body.get("stream"):
            return self._stream(request, message, finish, usage, created)
        body = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": created,
            "model": request.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode("utf-8")

    def _stream(
        self,
        request: Request,
        message: dict[str, Any],
        finish: str,
        usage: dict[str, Any],
        created: int,
    ) -> tuple[int, dict[str, str], bytes]:
        base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": created,
                "model": request.model}
        delta: dict[str, Any] = {"role": "assistant"}
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            delta["tool_calls"] = [{"index": 0, **call}]
        else:
            delta["content"] = message["content"]
        events = [
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        ]
        if (request.body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": usage})
        data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return 200, {"Content-Type": "text/event-stream"}, data.encode("utf-8")


# -- faults as OpenAI-compatible servers send them ----------------------------------------------
class _OpenAIFault(Fault):
    def as_response(self) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json", **dict(self.headers)}
        return self.status, headers, json.dumps(self.body).encode("utf-8")


def _error(status: int, message: str, type_: str, code: str | None = None,
           **headers: str) -> _OpenAIFault:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return _OpenAIFault(f"{status}:{type_}", status=status, body=body,
                        headers=tuple(headers.items()))


def rate_limited(
    retry_after: float | None = None, retry_after_ms: int | None = None
) -> _OpenAIFault:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return _error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded",
                  **headers)


def server_error(status: int = 500) -> Fault:
    return _error(status, "The server had an error while processing your request.", "server_error")


def unauthorized(key: str = "", status: int = 401) -> Fault:
    # the worst case: a server that echoes the whole key back (OpenAI masks most of it)
    return _error(status, f"Incorrect API key provided: {key}.", "invalid_request_error",
                  "invalid_api_key")


def unknown_model(model: str) -> Fault:
    return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                  "invalid_request_error", "model_not_found")


def context_length() -> Fault:
    return _error(
        400,
        "This model's maximum context length is 8192 tokens. However, your messages resulted "
        "in 9100 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
    )


def bad_request(message: str = "Invalid value for 'temperature'.") -> Fault:
    return _error(400, message, "invalid_request_error")


def malformed() -> Fault:
    return Fault("malformed", status=200, raw=b'{"id": "chatcmpl-x", "choices": [')


def slow(seconds: float) -> Fault:
    return Fault("slow", delay=seconds, then_answer=True)


def dropped() -> Fault:
    return Fault("drop", drop=True)
