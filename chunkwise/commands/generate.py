"""`chunkwise generate`: a long text from a brief or a manual plan, resumable by --run-id.

Lengths are words (as LongBench-Write counts them). `--target-tokens N` is converted to
round(0.75 * N) words (cl100k tokens per English word); `--target-words N` gives words directly.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chunkwise.commands.batch_work import BatchSpec
from chunkwise.commands.common import (
    add_model_flags,
    add_run_flags,
    context_options,
    prepare_run,
    role_model,
    run_with_progress,
    say,
    write_json,
    write_output,
)
from chunkwise.errors import ChunkwiseError, ConfigError, InputError
from chunkwise.graphs.generate import PIPELINE
from chunkwise.runtime.batch_io import Document
from chunkwise.state.context import BaseContext
from chunkwise.state.generate import (
    PREFIX_WINDOW_TOKENS,
    GenerateContext,
    GenerateResult,
    manual_plan_payload,
    words_for_tokens,
)

ROLES = ["planner", "writer", "judge"]


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "generate",
        help="write a long text section by section from a plan",
        description="Plan a long text (or take a manual plan), write it section by section "
        "against a state table, revise inconsistent sections and write a QC report.",
    )
    brief = parser.add_argument_group("brief (or --manual-plan-path)")
    brief.add_argument("--topic", help="what the text is about")
    brief.add_argument("--objective", help="what the text must achieve")
    brief.add_argument("--audience", default="", help="who reads it")
    brief.add_argument("--tone", default="", help="e.g. 'neutral technical'")
    brief.add_argument("--target-tokens", type=int, help="length in tokens (x 0.75 = words)")
    brief.add_argument("--target-words", type=int, help="length in words")
    parser.add_argument(
        "--manual-plan-path", help="a plan as JSON (GenerationPlan fields) instead of a brief"
    )
    parser.add_argument("--output", help="write the text here (default: stdout)")
    add_options(parser)
    add_run_flags(parser)
    parser.set_defaults(run=run, command=["generate"])


def add_options(parser: argparse.ArgumentParser, concurrency_flag: str = "--concurrency") -> None:
    """The options of a generation, shared by `generate` and `batch generate` (which names
    the per-document concurrency differently: its own `--concurrency` counts documents)."""
    parser.add_argument("--prefix-window-tokens", type=int, default=PREFIX_WINDOW_TOKENS,
                        help="tokens of the text so far shown to the writer (default "
                        f"{PREFIX_WINDOW_TOKENS})")
    parser.add_argument("--max-retries", type=int, default=2,
                        help="rewrites of a section that fails QC (default 2)")
    parser.add_argument("--disable-consistency-pass", action="store_true",
                        help="skip checking and revising sections after the loop")
    parser.add_argument("--no-reword", action="store_true",
                        help="keep sentences that reuse earlier wording as written (no reword "
                        "calls)")
    parser.add_argument("--qc-judge", action="store_true",
                        help="also let the judge model score each section in the report")
    parser.add_argument("--min-length-score", type=float, default=60.0,
                        help="a section below this LongBench-Write length score fails QC")
    parser.add_argument(concurrency_flag, dest="concurrency", type=int, default=4,
                        help="sections checked at once in the consistency pass")
    add_model_flags(parser, ROLES)


def load_plan(path: str) -> dict[str, Any]:
    """A manual plan file, validated; every problem is one line naming the file and field."""
    try:
        raw = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    return manual_plan_payload(raw, path)


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    brief = [f"--{name}" for name in ("topic", "objective", "target-tokens", "target-words")
             if getattr(args, name.replace("-", "_")) is not None]
    if args.manual_plan_path:
        if brief:
            raise ConfigError(f"--manual-plan-path replaces the brief: drop {', '.join(brief)}")
        return {"manual_plan": load_plan(args.manual_plan_path)}
    return brief_payload(vars(args), lambda name: "--" + name.replace("_", "-"), ConfigError)


def brief_payload(
    values: Mapping[str, Any],
    name: Callable[[str], str],
    error: type[ChunkwiseError] = ConfigError,
) -> dict[str, Any]:
    """The graph input of a brief (topic, objective, audience, tone and a length), from flags
    or a batch row; `name` says how a field is called there, in the one-line `error`."""
    topic, objective = values.get("topic"), values.get("objective")
    tokens, words = values.get("target_tokens"), values.get("target_words")
    if not topic or not objective:
        raise error(f"give {name('topic')} and {name('objective')} (and a length), "
                    f"or {name('manual_plan_path')}")
    if tokens is not None and words is not None:
        raise error(f"give {name('target_tokens')} or {name('target_words')}, not both")
    if tokens is None and words is None:
        raise error(f"give the length: {name('target_tokens')} N or {name('target_words')} N")
    given = words if words is not None else tokens
    if not isinstance(given, int) or isinstance(given, bool) or given <= 0:
        raise error(f"the target length must be a positive number, not {given!r}")
    return {"topic": str(topic), "objective": str(objective),
            "audience": str(values.get("audience") or ""), "tone": str(values.get("tone") or ""),
            "target_words": words if words is not None else words_for_tokens(given)}


def build_context(args: argparse.Namespace) -> GenerateContext:
    """The run's context from its options (single and batch forms); `ConfigError` if invalid."""
    if args.prefix_window_tokens < 0:
        raise ConfigError("--prefix-window-tokens must not be negative")
    if args.max_retries < 0:
        raise ConfigError("--max-retries must not be negative")
    if not 0 <= args.min_length_score <= 100:
        raise ConfigError("--min-length-score must be between 0 and 100")
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    return GenerateContext(
        planner_model=role_model(args, "planner"),
        writer_model=role_model(args, "writer"),
        judge_model=role_model(args, "judge"),
        prefix_window_tokens=args.prefix_window_tokens,
        max_retries=args.max_retries,
        consistency_pass=not args.disable_consistency_pass,
        reword_repeats=not args.no_reword,
        qc_judge=args.qc_judge,
        min_length_score=args.min_length_score,
        **context_options(args),
    )


def run(args: argparse.Namespace) -> int:
    payload = _payload(args)
    context = build_context(args)
    roles = {"planner": context.planner_model, "writer": context.writer_model,
             "judge": context.judge_model}
    if "manual_plan" in payload:
        roles.pop("planner")
    if not context.consistency_pass and not context.qc_judge:
        roles.pop("judge")
    prepare_run(args, context, roles, PIPELINE.name)
    started = time.monotonic()
    outcome = run_with_progress(
        args, PIPELINE, payload=payload, context=context, max_concurrency=args.concurrency,
        input_name=args.manual_plan_path or args.topic,
    )
    result = outcome.require_result()
    text = context.store().get(result.final_text_key)
    if args.output:
        write_output(args.output, text + "\n", "--output")
    else:
        print(text)
    write_json(args.json_path, result.to_dict())
    report = result.qc_report
    issues = sum(not s.passed for s in report.sections)
    qc_line = "QC passed" if report.passed else f"QC: {issues} section(s) with issues"
    where = f"wrote {args.output}" if args.output else "text on stdout"
    say(
        f"done: {where} · {result.words}/{result.target_words} words "
        f"(length score {result.length_score:.0f}) · {len(report.sections)} sections · "
        f"{qc_line} · {result.usage.line()} · {time.monotonic() - started:.1f}s · "
        f"run {args.run_id}",
        quiet=args.quiet,
    )
    return 0


# --- batch form -----------------------------------------------------------------------------


def _row_name(name: str) -> str:
    return "a 'plan' field" if name == "manual_plan_path" else repr(name)


def _batch_input(doc: Document) -> dict[str, Any]:
    """A row (or a JSON file of a folder) holding a plan, or the fields of a brief."""
    fields = doc.fields
    if doc.path is not None:
        try:
            fields = json.loads(doc.path.read_text("utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{doc.where}: not a JSON brief or plan ({exc})") from None
        if not isinstance(fields, dict):
            raise InputError(f"{doc.where}: a brief or plan must be a JSON object")
    plan = fields.get("plan", fields.get("manual_plan"))
    if plan is not None:
        return {"manual_plan": manual_plan_payload(plan, doc.where)}
    try:
        return brief_payload(fields, _row_name, InputError)
    except InputError as exc:
        raise InputError(f"{doc.where}: {exc}") from None


def _check(doc: Document) -> None:
    _batch_input(doc)


def _batch_payload(doc: Document, context: BaseContext, text_field: str) -> dict[str, Any]:
    return _batch_input(doc)


def _batch_row(result: GenerateResult, context: BaseContext) -> dict[str, Any]:
    return {"output": context.store().get(result.final_text_key), "words": result.words,
            "target_words": result.target_words, "length_score": result.length_score,
            "qc_passed": result.qc_report.passed}


def _roles(context: BaseContext) -> dict[str, Any]:
    assert isinstance(context, GenerateContext)
    roles = {"planner": context.planner_model, "writer": context.writer_model}
    if context.consistency_pass or context.qc_judge:
        roles["judge"] = context.judge_model
    return roles


def _batch_context(args: argparse.Namespace) -> tuple[BaseContext, int | None]:
    return build_context(args), args.concurrency


BATCH = BatchSpec(
    pipeline=PIPELINE,
    add_options=lambda parser: add_options(parser, "--per-document-concurrency"),
    context=_batch_context,
    roles=_roles,
    payload=_batch_payload,
    row=_batch_row,
    check=_check,
    needs_text=False,
    pattern="*.json",
)
