"""A scripted HTTP server on 127.0.0.1 for driving real SDK clients in tests.

Each server runs stdlib `ThreadingHTTPServer` in a daemon thread on an ephemeral port. It
records every request (arrival and finish times, path, JSON body, headers) and the highest
number of requests in flight at once, so tests measure retries, rates and concurrency at the
server rather than trusting the client. Faults are scripted per request: `server.script(...)`
queues `Fault`s, and each arriving request takes the next one (or is answered normally when the
queue is empty). Protocol subclasses (`fake_openai`, `fake_bedrock`) turn a `reply` callback's
answer into their wire format.

`server.bucket = BucketLimit(...)` makes the server meter requests and tokens the way hosted
providers do (continuously refilled buckets holding a few seconds' worth): a request that does
not fit is answered 429 with Retry-After, every answer carries `x-ratelimit-*` headers when
asked, and `server.throttled` counts the 429s it sent.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    started: float
    finished: float = 0.0
    status: int = 0
    fault: str | None = None


@dataclass(frozen=True)
class Fault:
    """What to do instead of answering normally.

    `status` + `body` + `headers`: send that response. `delay`: sleep first (a delay past the
    client's timeout makes it give up). `raw`: send these bytes as the body verbatim
    (malformed JSON). `drop`: close the connection without any response (connection reset).
    `then_answer`: after `delay`, answer normally instead of sending an error.
    """

    name: str
    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    raw: bytes | None = None
    drop: bool = False
    then_answer: bool = False


@dataclass
class Reply:
    """A normal answer: text, or a tool call with arguments; token counts for usage."""

    text: str | None = None
    tool_args: dict[str, Any] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0


@dataclass
class Request:
    """What a `reply` callback sees: the parsed request in protocol-neutral terms."""

    body: dict[str, Any]
    model: str
    messages: list[tuple[str, str]]  # (role, text)
    tool_name: str | None = None  # a forced tool (tool calling)
    schema: dict[str, Any] | None = None  # JSON schema of the tool or response_format
    structured: str | None = None  # "tools" or "json_schema"
    tools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.messages)

    @property
    def last(self) -> str:
        return self.messages[-1][1] if self.messages else ""


ReplyFn = Callable[[Request], "Reply | str | dict[str, Any]"]


@dataclass
class BucketLimit:
    """Per-minute request and token limits enforced as continuously refilled buckets.

    A request costs one request and its prompt words plus its requested reply cap, taken when
    it arrives; with `refund` the unused part of the cap comes back when it is answered (as
    Anthropic and Bedrock settle output tokens). `headers` adds OpenAI's `x-ratelimit-*`
    headers to every answer, 429s included.
    """

    rpm: float | None = None
    tpm: float | None = None
    burst_seconds: float = 1.0
    refund: bool = True
    headers: bool = False
    _levels: dict[str, float] = field(default_factory=dict)
    _stamp: float = 0.0

    def _limits(self) -> dict[str, float]:
        return {k: v for k, v in (("requests", self.rpm), ("tokens", self.tpm)) if v is not None}

    def _advance(self, now: float) -> None:
        for kind, per_minute in self._limits().items():
            capacity = per_minute / 60.0 * self.burst_seconds
            level = self._levels.get(kind, capacity)
            self._levels[kind] = min(capacity, level + (now - self._stamp) * per_minute / 60.0)
        self._stamp = now

    def take(self, tokens: float, now: float) -> float:
        """0 if the request fits (and is charged), else the seconds until it would."""
        self._advance(now)
        costs = {"requests": 1.0, "tokens": tokens}
        waits = [
            (costs[kind] - self._levels[kind]) / (per_minute / 60.0)
            for kind, per_minute in self._limits().items() if self._levels[kind] < costs[kind]
        ]
        if waits:
            return max(waits)
        for kind in self._limits():
            self._levels[kind] -= costs[kind]
        return 0.0

    def give_back(self, tokens: float, now: float) -> None:
        self._advance(now)
        if "tokens" in self._levels and self.tpm is not None and self.refund:
            capacity = self.tpm / 60.0 * self.burst_seconds
            self._levels["tokens"] = min(capacity, self._levels["tokens"] + tokens)

    def response_headers(self, now: float) -> dict[str, str]:
        if not self.headers:
            return {}
        self._advance(now)
        out = {}
        for kind, per_minute in self._limits().items():
            capacity = per_minute / 60.0 * self.burst_seconds
            level = max(0.0, self._levels[kind])
            out[f"x-ratelimit-limit-{kind}"] = str(int(per_minute))
            out[f"x-ratelimit-remaining-{kind}"] = str(int(level))
            out[f"x-ratelimit-reset-{kind}"] = f"{(capacity - level) / (per_minute / 60.0):.3f}s"
        return out


def _words(text: str) -> int:
    return max(1, len(text.split()))


class ScriptedServer:
    """Base class: threading, recording, scripted faults; subclasses speak a protocol."""

    protocol = "base"

    def __init__(self, reply: ReplyFn | None = None, *, latency: float = 0.0) -> None:
        self.reply: ReplyFn = reply or (lambda request: "ok")
        # a standing rule, asked when the scripted queue is empty: a fault for this request?
        self.fault_for: Callable[[Recorded], Fault | None] | None = None
        self.latency = latency
        self.requests: list[Recorded] = []
        self.bucket: BucketLimit | None = None
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                server._handle(self)

            def do_GET(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scripting ---------------------------------------------------------------------------
    def script(self, *faults: Fault | Iterable[Fault]) -> None:
        """Queue faults; each request takes the next one, then requests are answered normally."""
        with self._lock:
            for item in faults:
                if isinstance(item, Fault):
                    self._faults.append(item)
                else:
                    self._faults.extend(item)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.max_in_flight = 0

    def calls(self, path_part: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if path_part in r.path]

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def throttled(self) -> int:
        """429s this server sent (scripted or from its bucket)."""
        with self._lock:
            return sum(1 for r in self.requests if r.status == 429)

    # -- protocol hooks ----------------------------------------------------------------------
    def route(self, method: str, path: str) -> bool:
        """Whether the path is an endpoint of this protocol (else 404)."""
        raise NotImplementedError

    def parse(self, path: str, body: dict[str, Any]) -> Request:
        raise NotImplementedError

    def answer(self, request: Request, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def not_found(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return 404, {"Content-Type": "application/json"}, b'{"message": "no such route"}'

    def reply_cap(self, body: dict[str, Any]) -> int:
        """The reply cap a request asks for (what a provider books against its token limit)."""
        return 0

    def too_many(self, wait: float) -> tuple[int, dict[str, str], bytes]:
        """The protocol's 429 for a request that does not fit the bucket."""
        body = {"message": "Too many tokens, please wait before trying again."}
        return 429, {"Content-Type": "application/json"}, json.dumps(body).encode()

    # -- internals ---------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> None:
        self._closing.wait(seconds)

    def _reply_for(self, request: Request) -> Reply:
        value = self.reply(request)
        if isinstance(value, Reply):
            reply = value
        elif isinstance(value, dict):
            reply = Reply(tool_args=value)
        else:
            reply = Reply(text=str(value))
        if reply.input_tokens is None:
            reply.input_tokens = _words(request.text)
        if reply.output_tokens is None:
            out = reply.text if reply.text is not None else json.dumps(reply.tool_args)
            reply.output_tokens = _words(out)
        return reply

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        started = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = Recorded(
            method=handler.command,
            path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            started=started,
        )
        with self._lock:
            self.requests.append(record)
            fault = self._faults.popleft() if self._faults else None
            rule = self.fault_for
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        if fault is None and rule is not None:
            fault = rule(record)
        try:
            status, headers, payload = self._respond(handler, record, fault)
            record.status = status
            record.fault = fault.name if fault else None
            if status < 0:  # dropped
                return
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            handler.wfile.flush()
        except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up first (a timeout test)
        finally:
            record.finished = time.monotonic()
            with self._lock:
                self._in_flight -= 1

    def _respond(
        self, handler: BaseHTTPRequestHandler, record: Recorded, fault: Fault | None
    ) -> tuple[int, dict[str, str], bytes]:
        if fault is not None:
            if fault.delay:
                self._sleep(fault.delay)
            if fault.drop:
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
                return -1, {}, b""
            if not fault.then_answer:
                headers = {"Content-Type": "application/json", **dict(fault.headers)}
                if fault.raw is not None:
                    return fault.status, headers, fault.raw
                return fault.status, headers, json.dumps(fault.body).encode("utf-8")
        if not self.route(record.method, record.path):
            return self.not_found(record.path)
        body = record.body if isinstance(record.body, dict) else {}
        request = self.parse(record.path, body)
        if self.bucket is None:
            if self.latency:
                self._sleep(self.latency)
            return self.answer(request, self._reply_for(request))
        return self._metered(request, body)

    def _metered(self, request: Request, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        assert self.bucket is not None
        booked = _words(request.text) + self.reply_cap(body)
        with self._lock:
            now = time.monotonic()
            wait = self.bucket.take(booked, now)
            limit_headers = self.bucket.response_headers(now)
        if wait > 0:
            status, headers, payload = self.too_many(wait)
            after = {"retry-after": str(math.ceil(wait)),
                     "retry-after-ms": str(math.ceil(wait * 1000))}
            return status, {**headers, **after, **limit_headers}, payload
        if self.latency:
            self._sleep(self.latency)
        reply = self._reply_for(request)
        status, headers, payload = self.answer(request, reply)
        with self._lock:
            now = time.monotonic()
            used = (reply.input_tokens or 0) + (reply.output_tokens or 0)
            self.bucket.give_back(booked - used, now)
            limit_headers = self.bucket.response_headers(now)
        return status, {**headers, **limit_headers}, payload
