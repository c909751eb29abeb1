"""Flags every pipeline command shares, and turning them into settings.

Model flags (`--model`, `--<role>-model`, `--base-url`, sampling, limits), run flags
(`--run-id`, `--checkpoint-db`) and the JSON result/report flag behave the same in every
command, so a user learns them once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from chunkwise.commands.events import JsonEventWriter
from chunkwise.commands.options import recorded_options
from chunkwise.commands.progress import ProgressBar
from chunkwise.errors import ConfigError
from chunkwise.models.defaults import LOCAL_DEFAULT_NOTICE
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.paths import blob_location_for, default_checkpoint_db
from chunkwise.runtime.pipeline import Pipeline, R
from chunkwise.runtime.runner import RunOutcome, new_run_id, run_pipeline
from chunkwise.runtime.runs import RunRecord
from chunkwise.state.context import BaseContext, describe_models


def add_model_flags(parser: argparse.ArgumentParser, roles: list[str]) -> None:
    group = parser.add_argument_group("models")
    group.add_argument("--model", help="model spec for every role (provider:model)")
    for role in roles:
        group.add_argument(f"--{role}-model", help=f"model spec for the {role} role")
    group.add_argument("--base-url", help="base URL of an OpenAI-compatible server")
    group.add_argument("--temperature", type=float)
    group.add_argument("--top-p", type=float)
    group.add_argument("--max-new-tokens", type=int, help="cap on tokens a model writes per call")
    group.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    group.add_argument("--rpm", type=float, help="requests per minute per endpoint "
                       "(default: none, adapting to the provider's 429s and rate-limit headers)")
    group.add_argument("--tpm", type=float, help="tokens per minute per endpoint "
                       "(default: none, adapting as --rpm)")
    group.add_argument("--burst-seconds", type=float, default=2.0,
                       help="seconds' worth of --rpm/--tpm that may start at once (default 2)")
    group.add_argument("--max-in-flight", type=int, help="requests at once per endpoint")
    group.add_argument("--max-attempts", type=int, default=6,
                       help="attempts per call on errors (a 429 waits as asked and does not count)")
    group.add_argument("--context-window", type=int, help="override the model's context size")
    group.add_argument(
        "--structured-output",
        choices=["json_schema", "function_calling", "json_mode"],
        help="how structured answers are requested (default: per provider)",
    )
    group.add_argument("--no-cache", action="store_true", help="do not reuse cached model calls")


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--run-id", help="name the run; the same id resumes it")
    group.add_argument(
        "--checkpoint-db",
        default=None,
        help=f"SQLite path or postgres URL (default {default_checkpoint_db()})",
    )
    group.add_argument(
        "--json", "--report", dest="json_path", metavar="PATH", help="write the result as JSON"
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    group.add_argument(
        "--json-events", metavar="PATH",
        help="append every progress event as a JSON line to PATH (- for stdout)",
    )


def model_settings(args: argparse.Namespace) -> ModelSettings:
    """Settings from the model flags; `ModelSettings` rejects bad values in one line."""
    return ModelSettings(
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        base_url=args.base_url,
        timeout=args.timeout,
        rpm=args.rpm,
        tpm=args.tpm,
        burst_seconds=args.burst_seconds,
        max_in_flight=args.max_in_flight,
        max_attempts=args.max_attempts,
        context_window=args.context_window,
        structured_method=args.structured_output,
        cache=not args.no_cache,
    )


# Tests put a chat model here (e.g. a ScriptedChatModel) to run any command without a backend.
MODEL_OVERRIDE: Any = None


def role_model(args: argparse.Namespace, role: str) -> Any:
    """`--<role>-model`, else `--model`, else None (defaults decide)."""
    if MODEL_OVERRIDE is not None:
        return MODEL_OVERRIDE
    return getattr(args, f"{role.replace('-', '_')}_model", None) or args.model


def context_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `BaseContext` fields every command sets from its flags: model settings and the blob
    store beside the checkpoint database."""
    return {"models": model_settings(args), "blob_store": blob_location_for(checkpoint_db(args))}


def checkpoint_db(args: argparse.Namespace) -> str:
    return str(args.checkpoint_db or default_checkpoint_db())


def say(message: str, *, quiet: bool = False) -> None:
    """Status lines go to stderr so stdout stays clean for piping."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def write_output(path: str | Path, data: str | bytes, flag: str) -> None:
    """Write a command's output file (folders made as needed); a failure names the flag."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data, "utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write ({exc.strerror})") from None


def write_json(path: str | None, payload: Any) -> None:
    if path:
        write_output(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "--json")


def announce_models(args: argparse.Namespace, context: BaseContext, roles: dict[str, Any]) -> None:
    """Say which model each role uses and why, then build every client (a bad spec or a
    missing credential stops here, before any work)."""
    chosen = describe_models(context, roles)
    for model in chosen:
        say(f"{model.role} model: {model.describe()}", quiet=args.quiet)
    if any(model.source == "default" for model in chosen):
        say(LOCAL_DEFAULT_NOTICE, quiet=args.quiet)
    for role, ref in roles.items():
        context.client(role, ref)


def prepare_run(
    args: argparse.Namespace, context: BaseContext, roles: dict[str, Any], pipeline: str
) -> str:
    """Say which model each role uses, build every client now and name the run."""
    announce_models(args, context, roles)
    args.run_id = args.run_id or new_run_id(pipeline)
    say(f"run id: {args.run_id} (resume with --run-id {args.run_id})", quiet=args.quiet)
    return str(args.run_id)


def run_with_progress(
    args: argparse.Namespace,
    pipeline: Pipeline[R],
    *,
    payload: dict[str, Any],
    context: BaseContext,
    run_id: str | None = None,
    max_concurrency: int | None = None,
    input_name: str = "",
) -> RunOutcome[R]:
    """`run_pipeline` under a progress bar, with the command's checkpoint database; the run
    keeps its command line so `chunkwise runs resume` can run it again."""
    bar = ProgressBar(enabled=not args.quiet)
    events = JsonEventWriter(args.json_events) if getattr(args, "json_events", None) else None

    def on_event(event: dict[str, Any]) -> None:
        bar(event)
        if events is not None:
            events(event)

    run_id = run_id or args.run_id
    try:
        outcome = run_pipeline(
            pipeline,
            input=payload,
            context=context,
            checkpoint_db=checkpoint_db(args),
            run_id=run_id,
            max_concurrency=max_concurrency,
            on_event=on_event,
            record=RunRecord(options=recorded_options(args), input_name=input_name),
        )
    finally:
        bar.close()
        if events is not None:
            events.close()
    if outcome.status == "finished":
        say(f"run {outcome.run_id} had finished: returning its stored result", quiet=args.quiet)
    return outcome
