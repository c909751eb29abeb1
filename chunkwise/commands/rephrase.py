"""`chunkwise rephrase`: rewrite a long document part by part in a style; resumable by --run-id.

The output keeps the input file's form: its encoding, its BOM and its line ends (a file with
CRLF line ends is given to the model with LF ones and written back with CRLF), so a model that
returns its text unchanged writes the input file back byte for byte. A PDF is rewritten from
its extracted text and written as UTF-8.
"""

from __future__ import annotations

import argparse
import codecs
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chunkwise.commands.batch_work import BatchSpec, Variant
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
from chunkwise.errors import ConfigError, InputError
from chunkwise.graphs.rephrase import PIPELINE
from chunkwise.prompts.rephrase import STYLES, Style, resolve_style
from chunkwise.runtime.batch_io import Document
from chunkwise.state.context import BaseContext
from chunkwise.state.rephrase import RephraseContext, RephraseResult
from chunkwise.text.decoding import decode_text
from chunkwise.text.fidelity import resolve_checks
from chunkwise.text.loaders import load_document

ROLES = ["rewriter", "judge"]
MIN_CHUNK_TOKENS = 256  # smaller parts cost more prompt than text and lose the thread


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "rephrase",
        help="rewrite a long document chunk by chunk in a style",
        description="Rewrite a document far longer than a model's output limit part by part, "
        "each part conditioned on the rewrite so far; stitch the parts, verify each one and "
        "retry those that fail.",
    )
    parser.add_argument(
        "--input", required=True, metavar="FILE", help="document: .txt, .md, .tex or .pdf"
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="FILE",
        help="rewritten file (with --styles: OUT.<style>.EXT each)",
    )
    add_options(parser)
    add_run_flags(parser)
    parser.set_defaults(run=run, command=["rephrase"])


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of a rewrite, shared by `rephrase` and `batch rephrase`."""
    styles = parser.add_mutually_exclusive_group()
    styles.add_argument(
        "--style", metavar="NAME", help=f"style preset: {', '.join(STYLES)} (default faithful)"
    )
    styles.add_argument(
        "--style-instruction", metavar="TEXT", help="your own style instruction instead"
    )
    styles.add_argument(
        "--styles", metavar="A,B,...", help="several presets, comma-separated: one output each"
    )
    parser.add_argument(
        "--chunk-tokens",
        type=int,
        metavar="N",
        default=256,
        help=f"tokens per part, overlap included (at least {MIN_CHUNK_TOKENS}; default 256)",
    )
    parser.add_argument(
        "--overlap-tokens",
        type=int,
        metavar="N",
        default=64,
        help="source tokens before each part shown as already covered (default 64)",
    )
    parser.add_argument(
        "--prefix-window-tokens",
        type=int,
        metavar="N",
        default=1024,
        help="tokens of the rewrite so far shown with each part (default 1024)",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        default=2,
        help="rewrites of a part that fails verification (default 2)",
    )
    parser.add_argument(
        "--checks",
        metavar="A,B,...",
        help="built-in checks to run, comma-separated (default: all of "
        f"{', '.join(resolve_checks(None))})",
    )
    parser.add_argument(
        "--judge",
        action="store_true",
        help="also let the judge model score every part (implied by --judge-model)",
    )
    parser.add_argument(
        "--min-judge-score", type=int, default=4, metavar="N", help="judge score 1-5 a part needs"
    )
    parser.add_argument(
        "--min-length-ratio",
        type=float,
        metavar="X",
        help="lowest rewrite/source length accepted (default: per style)",
    )
    parser.add_argument(
        "--max-length-ratio",
        type=float,
        metavar="X",
        help="highest rewrite/source length accepted (default: per style)",
    )
    parser.add_argument(
        "--tokenizer",
        choices=["tiktoken", "whitespace"],
        default="tiktoken",
        help="how tokens are counted (default tiktoken cl100k)",
    )
    add_model_flags(parser, ROLES)


# --- the file's form ------------------------------------------------------------------------


@dataclass(frozen=True)
class FileForm:
    """How a text file was written: restored on output so an unchanged text is the same file."""

    encoding: str = "utf-8"
    bom: bytes = b""
    newline: str = "\n"  # "\r\n" or "\r" when every line ends so; "\n" keeps the text as is


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _decode(data: bytes) -> tuple[str, FileForm]:
    """Decode as `text.decoding` does (UTF-8, UTF-16 with BOM, cp1252, Latin-1), keeping the
    BOM and encoding aside instead of dropping them."""
    bom = b""
    for mark, encoding in _BOMS:
        if data.startswith(mark):
            bom, data = mark, data[len(mark) :]
            if encoding != "utf-8":
                return data.decode(encoding), FileForm(encoding, bom)
            break
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), FileForm(encoding, bom)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), FileForm("latin-1", bom)


def _newline(text: str) -> str:
    crlf = text.count("\r\n")
    lone_cr = text.count("\r") - crlf
    lone_lf = text.count("\n") - crlf
    if crlf and not lone_cr and not lone_lf:
        return "\r\n"
    if lone_cr and not crlf and not lone_lf:
        return "\r"
    return "\n"


def read_input(path: str) -> tuple[str, FileForm]:
    """The text the model works on and the form to write it back in; `InputError` if unusable."""
    file = Path(path)
    if file.suffix.lower() == ".pdf":
        return load_document(file).text, FileForm()
    if not file.exists():
        raise InputError(f"{path}: file not found; check the path")
    if not file.is_file():
        raise InputError(f"{path}: not a regular file; give a document file")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); check permissions") from None
    decode_text(data, path)  # empty or binary input: the loaders' one-line InputError
    text, form = _decode(data)
    newline = _newline(text)
    if newline != "\n":
        text = text.replace(newline, "\n")
        form = FileForm(form.encoding, form.bom, newline)
    return text, form


def encode_output(text: str, form: FileForm) -> tuple[bytes, str | None]:
    """Bytes in the input's form, and a note when its encoding cannot hold the new text."""
    if form.newline != "\n":
        text = text.replace("\r\n", "\n").replace("\n", form.newline)
    try:
        return form.bom + text.encode(form.encoding), None
    except UnicodeEncodeError:
        bom = codecs.BOM_UTF8 if form.bom else b""
        return bom + text.encode("utf-8"), f"the rewrite needs characters {form.encoding} lacks"


def per_style(path: str, style: str, many: bool) -> Path:
    """`out.txt` for one style, `out.<style>.txt` for each of several."""
    target = Path(path)
    return target.with_name(f"{target.stem}.{style}{target.suffix}") if many else target


# --- running --------------------------------------------------------------------------------


def styles_of(args: argparse.Namespace) -> list[tuple[Style, dict[str, str]]]:
    """Each style to run and the graph input naming it; `ConfigError` for an unknown one."""
    if args.style_instruction is not None:
        return [
            (
                resolve_style(None, args.style_instruction),
                {"style_instruction": args.style_instruction},
            )
        ]
    names = [args.style or "faithful"]
    if args.styles is not None:
        names = [n.strip() for n in args.styles.split(",") if n.strip()]
        if not names:
            raise ConfigError("--styles is empty; give preset names separated by commas")
    chosen = {resolve_style(n).name: None for n in names}
    return [(STYLES[name], {"style": name}) for name in chosen]


def build_context(args: argparse.Namespace) -> RephraseContext:
    """The run's context from its options (single and batch forms); `ConfigError` if invalid."""
    if args.chunk_tokens < MIN_CHUNK_TOKENS:
        raise ConfigError(
            f"--chunk-tokens must be at least {MIN_CHUNK_TOKENS}, got {args.chunk_tokens}"
        )
    if args.overlap_tokens >= args.chunk_tokens:
        raise ConfigError(
            f"--overlap-tokens ({args.overlap_tokens}) must be smaller than "
            f"--chunk-tokens ({args.chunk_tokens})"
        )
    if args.prefix_window_tokens < 1:
        raise ConfigError(
            "--prefix-window-tokens must be at least 1: each part is written "
            "after the end of the rewrite so far"
        )
    if args.max_retries < 0:
        raise ConfigError("--max-retries must not be negative")
    if not 1 <= args.min_judge_score <= 5:
        raise ConfigError("--min-judge-score must be between 1 and 5")
    for flag in ("min_length_ratio", "max_length_ratio"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise ConfigError(f"--{flag.replace('_', '-')} must be positive")
    checks = resolve_checks(args.checks.split(",")) if args.checks is not None else None
    return RephraseContext(
        rewriter_model=role_model(args, "rewriter"),
        judge_model=role_model(args, "judge"),
        judge=args.judge or bool(args.judge_model),
        judge_min_score=args.min_judge_score,
        tokenizer=args.tokenizer,
        chunk_tokens=args.chunk_tokens,
        overlap_tokens=args.overlap_tokens,
        prefix_window_tokens=args.prefix_window_tokens,
        max_retries=args.max_retries,
        checks=checks,
        min_length_ratio=args.min_length_ratio,
        max_length_ratio=args.max_length_ratio,
        **context_options(args),
    )


def run(args: argparse.Namespace) -> int:
    styles = styles_of(args)
    context = build_context(args)
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise ConfigError("--output must not be the --input file; write the rewrite elsewhere")
    text, form = read_input(args.input)

    roles = {"rewriter": context.rewriter_model}
    if context.judge:
        roles["judge"] = context.judge_model
    base_id = prepare_run(args, context, roles, PIPELINE.name)
    many = len(styles) > 1
    for style, choice in styles:
        started = time.monotonic()
        outcome = run_with_progress(
            args, PIPELINE, payload={"text": text, **choice}, context=context,
            run_id=f"{base_id}.{style.name}" if many else base_id,
            input_name=args.input,
        )
        result = outcome.require_result()
        output = per_style(args.output, style.name, many)
        data, note = encode_output(context.store().get(result.output_key), form)
        write_output(output, data, "--output")
        if note:
            say(f"note: {note}; wrote {output} as UTF-8", quiet=args.quiet)
        report = {
            **json.loads(context.store().get(result.report_key)),
            "run_id": outcome.run_id,
            "input": args.input,
            "output": str(output),
        }
        if args.json_path:
            write_json(str(per_style(args.json_path, style.name, many)), report)
        totals = report["totals"]
        flagged = (
            f"{totals['flagged']} flagged (see the report)"
            if totals["flagged"]
            else "all passed verification"
        )
        if totals.get("unchanged"):
            flagged += f", {totals['unchanged']} left nearly unchanged by the style"
        say(
            f"done ({style.name}): wrote {output} · {totals['chunks']} parts, {flagged} · "
            f"{totals['retries']} retries · {totals['tokens_sent']} tokens sent for "
            f"{totals['input_tokens']} input tokens · {time.monotonic() - started:.1f}s",
            quiet=args.quiet,
        )
    return 0


# --- batch form -----------------------------------------------------------------------------


def _batch_variants(args: argparse.Namespace) -> list[Variant]:
    styles = styles_of(args)
    many = len(styles) > 1
    return [Variant(f".{style.name}" if many else "", choice, {"style": style.name})
            for style, choice in styles]


def _batch_payload(doc: Document, context: BaseContext, text_field: str) -> dict[str, Any]:
    text = read_input(str(doc.path))[0] if doc.path is not None else doc.fields[text_field]
    return {"text": text}


def _batch_row(result: RephraseResult, context: BaseContext) -> dict[str, Any]:
    totals = result.summary.get("totals", {})
    return {"output": context.store().get(result.output_key), "parts": totals.get("chunks"),
            "flagged": totals.get("flagged"), "retries": totals.get("retries")}


def _roles(context: BaseContext) -> dict[str, Any]:
    assert isinstance(context, RephraseContext)
    roles = {"rewriter": context.rewriter_model}
    if context.judge:
        roles["judge"] = context.judge_model
    return roles


def _batch_context(args: argparse.Namespace) -> tuple[BaseContext, int | None]:
    return build_context(args), None


BATCH = BatchSpec(
    pipeline=PIPELINE,
    add_options=add_options,
    context=_batch_context,
    roles=_roles,
    payload=_batch_payload,
    row=_batch_row,
    variants=_batch_variants,
)
