"""`chunkwise models check|show`: try a model with one tiny request; show each role's model.

`check [SPEC]` sends one short request through the same seam the pipelines use (limiter,
retry classification, usage, price) and prints the backend, latency, token usage and reply, or
the provider's error on one line. Exit 0 when the model answered; 2 for a configuration error
(bad spec, missing key or credentials, missing package, and the provider rejecting the key or
the model id: 401/403/404); 1 for any other failed call (throttled, server error, timeout...).
A check retries like any call (429s as the server asks; 5xx, timeouts up to `--max-attempts`),
and reports the retries and the time waited, so it tells whether a setup works under the
provider's normal throttling.

`show` prints, for every role, which backend and model it resolves to and why (flag, env,
credentials or default), and its context window and reply cap with where each number comes
from (settings, model, profile, table, default), without contacting or loading anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from pydantic import BaseModel, Field

from chunkwise.commands.common import add_model_flags, model_settings, role_model, write_json
from chunkwise.errors import ConfigError
from chunkwise.models.client import client_for
from chunkwise.models.defaults import ROLES
from chunkwise.models.limits import expected_limits
from chunkwise.models.resolve import resolve_model
from chunkwise.models.retry import ModelCallError
from chunkwise.models.secrets import redact
from chunkwise.models.settings import ModelSettings
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
    check.set_defaults(run=run_check)

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
    resolved = resolve_model(args.role, args.spec or args.model, _settings(args))
    _out(f"model: {resolved.describe()}")
    client = client_for(resolved)  # ConfigError: exit 2 from the CLI
    report: dict[str, Any] = {"spec": resolved.name, "backend": resolved.backend,
                              "source": resolved.source}
    started = time.monotonic()
    try:
        reply = client.complete(args.prompt, task="models-check")
        usage: Usage = reply.usage
        waited = reply.retry_seconds
        text = reply.text
        structured: str | None = None
        if args.structured:
            answer = client.structured(args.prompt, CheckAnswer, task="models-check-structured")
            usage = usage + answer.usage
            waited += answer.retry_seconds
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
    if usage.retries:
        _out(f"retried {usage.retries} time{'s' if usage.retries != 1 else ''}, "
             f"waiting {waited:.2f}s in all: the endpoint throttles or fails at times, and "
             "runs retry the same way")
    _out(f"reply: {redact(' '.join(text.split()))[:300] or '(empty)'}")
    if structured is not None:
        _out(f"structured reply: {structured!r}")
    write_json(args.json_path, {**report, "ok": True, "seconds": round(seconds, 3),
                                "usage": usage.model_dump(), "retries": usage.retries,
                                "retry_wait_seconds": round(waited, 3), "reply": text,
                                "structured": structured})
    return 0


def run_show(args: argparse.Namespace) -> int:
    settings = model_settings(args)
    for role in ROLES:
        try:
            resolved = resolve_model(role, role_model(args, role), settings)
        except ConfigError as exc:
            _out(f"{role:<9} invalid: {exc}")
            continue
        assert resolved.spec is not None  # a flag or variable names a spec, never an object
        limits = expected_limits(resolved.spec, resolved.settings)
        _out(f"{role:<9} {resolved.describe()} · {limits.describe()}")
    return 0
