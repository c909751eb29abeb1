"""`chunkwise models check|show`: try a model with one tiny request; show each role's model.

`check [SPEC]` sends one short request through the same seam the pipelines use (limiter,
retry classification, usage, price) and prints the backend, latency, token usage and reply, or
the provider's error on one line. Exit 0 when the model answered; 2 for a configuration error
(bad spec, missing key or credentials, missing package, and the provider rejecting the key or
the model id: 401/403/404); 1 for any other failed call (throttled, server error, timeout...).
One attempt by default, so a throttled endpoint is reported rather than waited out.

`show` prints, for every role, which backend and model it resolves to and why (flag, env,
credentials or default), without contacting anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from pydantic import BaseModel, Field

from chunkwise.commands.common import add_model_flags, model_settings, role_model, write_json
from chunkwise.errors import ConfigError
from chunkwise.models.client import get_client
from chunkwise.models.defaults import ROLES, resolve_spec
from chunkwise.models.factory import backend_of
from chunkwise.models.retry import ModelCallError
from chunkwise.models.secrets import redact
from chunkwise.models.settings import ModelSettings
from chunkwise.models.spec import parse_model_spec
from chunkwise.models.usage import Usage

CHECK_PROMPT = "Reply with the single word: pong"
CONFIG_KINDS = frozenset({"auth", "not_found"})  # the key or the model id is wrong: exit 2


class CheckAnswer(BaseModel):
    """A one-field schema to try structured output (tool calling or JSON schema)."""

    word: str = Field(description="the single word asked for")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "models", help="check a model with one request, or show each role's model",
        description="Check that a model answers, or show which model each role would use.",
    )
    actions = parser.add_subparsers(dest="models_command", required=True)

    check = actions.add_parser(
        "check", help="send one tiny request and print latency, usage and the reply",
        description="Send one tiny request to SPEC (or the role's default model) and print the "
        "backend, latency, token usage and reply, or the provider's error on one line.",
    )
    check.add_argument("spec", nargs="?", help="model spec, e.g. openai:gpt-4o-mini, "
                       "bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0, local:default")
    check.add_argument("--role", default="chunk", choices=ROLES,
                       help="role whose default model is checked when no spec is given")
    check.add_argument("--prompt", default=CHECK_PROMPT, help="what to send")
    check.add_argument("--structured", action="store_true",
                       help="also try structured output (tool calling / JSON schema)")
    check.add_argument("--json", dest="json_path", metavar="PATH", help="write the outcome as JSON")
    add_model_flags(check, [])
    check.set_defaults(run=run_check, max_attempts=1)

    show = actions.add_parser(
        "show", help="print which backend and model each role uses, and why",
        description="Resolve every role's model (flag > env > credentials > local default) "
        "without contacting any backend.",
    )
    add_model_flags(show, list(ROLES))
    show.set_defaults(run=run_show)


def _settings(args: argparse.Namespace) -> ModelSettings:
    settings = model_settings(args).with_(cache=False)
    if settings.max_new_tokens is None:
        settings = settings.with_(max_new_tokens=32)
    return settings


def _out(line: str) -> None:
    print(line, flush=True)


def run_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    resolved = resolve_spec(args.role, args.spec or args.model)
    if resolved.base_url and settings.base_url is None:
        settings = settings.with_(base_url=resolved.base_url)
    spec = parse_model_spec(resolved.spec)
    backend = backend_of(spec, settings)
    _out(f"model: {spec} · {backend} · from {resolved.source}"
         + (f" {resolved.variable}" if resolved.variable else ""))
    client = get_client(str(spec), settings)  # ConfigError: exit 2 from the CLI
    report: dict[str, Any] = {"spec": str(spec), "backend": backend, "source": resolved.source}
    started = time.monotonic()
    try:
        reply = client.complete(args.prompt, task="models-check")
        usage: Usage = reply.usage
        text = reply.text
        structured: str | None = None
        if args.structured:
            answer = client.structured(args.prompt, CheckAnswer, task="models-check-structured")
            usage = usage + answer.usage
            structured = answer.value.word
    except ModelCallError as exc:
        seconds = time.monotonic() - started
        code = 2 if exc.kind in CONFIG_KINDS else 1
        print(f"chunkwise: models check failed after {seconds:.2f}s: {exc}", file=sys.stderr)
        write_json(args.json_path, {**report, "ok": False, "kind": exc.kind, "status": exc.status,
                                    "attempts": exc.attempts, "error": str(exc),
                                    "seconds": round(seconds, 3)})
        return code
    seconds = time.monotonic() - started
    _out(f"ok in {seconds:.2f}s · {usage.line()}")
    _out(f"reply: {redact(' '.join(text.split()))[:300] or '(empty)'}")
    if structured is not None:
        _out(f"structured reply: {structured!r}")
    write_json(args.json_path, {**report, "ok": True, "seconds": round(seconds, 3),
                                "usage": usage.model_dump(), "reply": text,
                                "structured": structured})
    return 0


def run_show(args: argparse.Namespace) -> int:
    settings = model_settings(args)
    for role in ROLES:
        resolved = resolve_spec(role, role_model(args, role))
        role_settings = settings
        if resolved.base_url and role_settings.base_url is None:
            role_settings = role_settings.with_(base_url=resolved.base_url)
        try:
            spec = parse_model_spec(resolved.spec)
        except ConfigError as exc:
            name, backend = resolved.spec, f"invalid: {exc}"
        else:
            name, backend = str(spec), backend_of(spec, role_settings)
        why = resolved.source + (f" {resolved.variable}" if resolved.variable else "")
        _out(f"{role:<9} {name} · {backend} · from {why}")
    return 0
