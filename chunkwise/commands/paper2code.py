"""`chunkwise paper2code PAPER`: a long paper to one PyTorch file, resumable by --run-id."""

from __future__ import annotations

import argparse
import time
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
from chunkwise.errors import ConfigError, InputError
from chunkwise.graphs.paper2code import PIPELINE
from chunkwise.models.settings import chunk_processing_delay
from chunkwise.runtime.batch_io import Document
from chunkwise.runtime.blobs import open_blob_store
from chunkwise.state.context import BaseContext
from chunkwise.state.paper2code import (
    DEFAULT_MAX_REPAIRS,
    DEFAULT_VALIDATE_TIMEOUT,
    Layout,
    Paper2CodeContext,
    Paper2CodeResult,
)

ROLES = ["chunk", "code"]


def _num_chunks(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("use a whole number or 'auto'") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "paper2code",
        help="turn a long research paper into a PyTorch file",
        description="Summarize a paper chunk by chunk with a cheap model, then write complete "
        "PyTorch code and dataset recommendations with a strong model.",
    )
    parser.add_argument("paper", nargs="?", help="paper file: .pdf, .tex, .md or .txt")
    parser.add_argument("--paper-id", help="resolve the paper by id in --papers-dir instead")
    parser.add_argument(
        "--out", help="write the code here (default: stdout); with --layout repo: a folder"
    )
    parser.add_argument(
        "--layout", choices=["file", "repo"], default="file",
        help="file: one PyTorch file (default); repo: planned files, config.yaml, README",
    )
    add_options(parser)
    add_run_flags(parser)
    parser.set_defaults(run=run, command=["paper2code"])


def add_options(parser: argparse.ArgumentParser, concurrency_flag: str = "--concurrency") -> None:
    """The options of a paper run, shared by `paper2code` and `batch paper2code` (which names
    the per-document concurrency differently: its own `--concurrency` counts documents)."""
    parser.add_argument("--papers-dir", help="folder of <id>.pdf/.tex/.md/.txt (default: papers)")
    parser.add_argument("--num-chunks", type=_num_chunks, default=5, help="N or auto")
    parser.add_argument("--chunk-tokens", type=int, help="cap on tokens per chunk")
    parser.add_argument(concurrency_flag, dest="concurrency", type=int, default=4,
                        help="chunks summarized at once")
    parser.add_argument("--sequential", action="store_true", help="one chunk at a time")
    parser.add_argument(
        "--delay", type=float, help="seconds between chunk requests with --sequential "
        "(default: CHUNK_PROCESSING_DELAY or 2.0)"
    )
    parser.add_argument("--min-success-ratio", type=float, default=0.5)
    check = parser.add_argument_group("checking the code")
    check.add_argument(
        "--validate", action="store_true",
        help="run the code's __main__ smoke run in a sandbox (needs chunkwise[validate]); "
        "the static check always runs",
    )
    check.add_argument(
        "--validate-timeout", type=float, default=DEFAULT_VALIDATE_TIMEOUT,
        help="seconds the smoke run may take (default %(default)g)",
    )
    check.add_argument(
        "--max-repairs", type=int, default=DEFAULT_MAX_REPAIRS,
        help="repair rounds at most when the check or smoke run fails (default %(default)s)",
    )
    add_model_flags(parser, ROLES)


def build_context(args: argparse.Namespace) -> tuple[Paper2CodeContext, int]:
    """The run's context and chunks at once, from its options (single and batch forms)."""
    if not 0 < args.min_success_ratio <= 1:
        raise ConfigError("--min-success-ratio must be in (0, 1]")
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    if args.max_repairs < 0:
        raise ConfigError("--max-repairs must not be negative")
    if args.validate_timeout <= 0:
        raise ConfigError("--validate-timeout must be positive")
    layout: Layout = getattr(args, "layout", "file")  # the batch form: one file per paper
    if layout == "repo" and not args.out:
        raise ConfigError("--layout repo writes a folder: give it with --out DIR")
    options = context_options(args)
    if args.sequential:
        delay = args.delay if args.delay is not None else chunk_processing_delay(default=2.0)
        if delay < 0:
            raise ConfigError("--delay must not be negative")
        options["models"] = options["models"].with_(min_interval=delay, max_in_flight=1)
    context = Paper2CodeContext(
        chunk_model=role_model(args, "chunk"),
        code_model=role_model(args, "code"),
        num_chunks=args.num_chunks,
        chunk_tokens=args.chunk_tokens,
        min_success_ratio=args.min_success_ratio,
        layout=layout,
        validate=args.validate,
        validate_timeout=args.validate_timeout,
        max_repairs=args.max_repairs,
        **({"papers_dir": args.papers_dir} if args.papers_dir else {}),
        **options,
    )
    return context, 1 if args.sequential else args.concurrency


def run(args: argparse.Namespace) -> int:
    if not args.paper and not args.paper_id:
        raise InputError("give a paper file (chunkwise paper2code PAPER) or --paper-id ID")
    context, concurrency = build_context(args)
    prepare_run(args, context, {"chunk": context.chunk_model, "code": context.code_model},
                PIPELINE.name)
    payload = {"paper_path": args.paper} if args.paper else {"paper_id": args.paper_id}
    started = time.monotonic()
    outcome = run_with_progress(
        args, PIPELINE, payload=payload, context=context, max_concurrency=concurrency,
        input_name=args.paper or args.paper_id,
    )
    result = outcome.require_result()
    write_json(args.json_path, result.to_dict())
    if not result.success:
        say(f"chunkwise: run failed: {result.error}")
        say(f"the checkpoint is kept: rerun with --run-id {args.run_id} to retry what failed")
        return 1
    where = _write_code(args, result, context)
    say(
        f"done: {where} · {result.successful_chunks}/{result.num_chunks} chunks · "
        f"dataset: {result.recommended_dataset or '-'} · {result.usage.line()} · "
        f"{time.monotonic() - started:.1f}s · run {args.run_id}"
    )
    say(f"code: {code_status(result)}")
    return 0


def _write_code(
    args: argparse.Namespace, result: Paper2CodeResult, context: Paper2CodeContext
) -> str:
    """Write the file (or print it), or the repository's tree under --out."""
    if result.layout == "repo":
        store = open_blob_store(context.blob_store)
        for item in result.files:
            write_output(Path(args.out) / item.path, store.get(item.key), "--out")
        return f"wrote {len(result.files)} files to {args.out}"
    if args.out:
        write_output(args.out, result.code, "--out")
        return f"wrote {args.out}"
    print(result.code, end="")
    return "code on stdout"


def code_status(result: Paper2CodeResult) -> str:
    """One line on the kept code: `runs`, `parses, smoke run failed: ...` and the like."""
    check = result.validation
    if check is None:
        return "none written"
    rounds = check.repairs
    repairs = f" (after {rounds} repair round{'s' * (rounds != 1)})" if rounds else ""
    blocking = [f for f in check.static if f.blocking]
    if blocking:
        how = "parses" if all(f.kind != "syntax" for f in blocking) else "does not parse"
        return f"{how}, static check failed: {blocking[0].render()}{repairs}"
    if check.smoke is None:
        return f"parses and passes the static check; not run (add --validate to run it){repairs}"
    if check.smoke.ok:
        return f"runs{repairs}"
    return f"parses, smoke run failed: {check.smoke.error or 'no error line'}{repairs}"


# --- batch form -----------------------------------------------------------------------------


def _batch_payload(doc: Document, context: BaseContext, text_field: str) -> dict[str, Any]:
    if doc.path is not None:
        return {"paper_path": str(doc.path.resolve()), "paper_id": doc.path.stem}
    return {"paper_text": doc.fields[text_field], "paper_id": doc.key}


def _batch_row(result: Paper2CodeResult, context: BaseContext) -> dict[str, Any]:
    return {"output": result.code, "paper_title": result.paper_title,
            "recommended_dataset": result.recommended_dataset,
            "successful_chunks": result.successful_chunks, "num_chunks": result.num_chunks,
            "code_check": code_status(result)}


def _roles(context: BaseContext) -> dict[str, Any]:
    assert isinstance(context, Paper2CodeContext)
    return {"chunk": context.chunk_model, "code": context.code_model}


BATCH = BatchSpec(
    pipeline=PIPELINE,
    add_options=lambda parser: add_options(parser, "--per-document-concurrency"),
    context=build_context,
    roles=_roles,
    payload=_batch_payload,
    row=_batch_row,
)
