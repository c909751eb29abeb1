"""`chunkwise paper2code PAPER`: a long paper to one PyTorch file, resumable by --run-id."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from chunkwise.commands.common import (
    add_model_flags,
    add_run_flags,
    checkpoint_db,
    model_settings,
    prepare_run,
    role_model,
    run_with_progress,
    say,
    write_json,
)
from chunkwise.errors import ConfigError, InputError
from chunkwise.graphs.paper2code import RESTART_FROM, build_graph, is_done
from chunkwise.models.settings import chunk_processing_delay
from chunkwise.models.usage import Usage
from chunkwise.runtime.paths import blob_location_for
from chunkwise.state.paper2code import Paper2CodeContext


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
    parser.add_argument("--papers-dir", help="folder of <id>.pdf/.tex/.md/.txt (default: papers)")
    parser.add_argument("--out", help="write the code here (default: stdout)")
    parser.add_argument("--num-chunks", type=_num_chunks, default=5, help="N or auto")
    parser.add_argument("--chunk-tokens", type=int, help="cap on tokens per chunk")
    parser.add_argument("--concurrency", type=int, default=4, help="chunks summarized at once")
    parser.add_argument("--sequential", action="store_true", help="one chunk at a time")
    parser.add_argument(
        "--delay", type=float, help="seconds between chunk requests with --sequential "
        "(default: CHUNK_PROCESSING_DELAY or 2.0)"
    )
    parser.add_argument("--min-success-ratio", type=float, default=0.5)
    add_model_flags(parser, ["chunk", "code"])
    add_run_flags(parser)
    parser.set_defaults(run=run)


def _context(args: argparse.Namespace, db: str) -> tuple[Paper2CodeContext, int]:
    if not 0 < args.min_success_ratio <= 1:
        raise ConfigError("--min-success-ratio must be in (0, 1]")
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    settings = model_settings(args)
    if args.sequential:
        delay = args.delay if args.delay is not None else chunk_processing_delay(default=2.0)
        if delay < 0:
            raise ConfigError("--delay must not be negative")
        settings = settings.with_(min_interval=delay, max_in_flight=1)
    context = Paper2CodeContext(
        chunk_model=role_model(args, "chunk"),
        code_model=role_model(args, "code"),
        models=settings,
        num_chunks=args.num_chunks,
        chunk_tokens=args.chunk_tokens,
        min_success_ratio=args.min_success_ratio,
        blob_store=blob_location_for(db),
        **({"papers_dir": args.papers_dir} if args.papers_dir else {}),
    )
    return context, 1 if args.sequential else args.concurrency


def run(args: argparse.Namespace) -> int:
    if not args.paper and not args.paper_id:
        raise InputError("give a paper file (chunkwise paper2code PAPER) or --paper-id ID")
    db = checkpoint_db(args)
    context, concurrency = _context(args, db)
    prepare_run(args, context, {"chunk": context.chunk_model, "code": context.code_model},
                "paper2code")
    payload = {"paper_path": args.paper} if args.paper else {"paper_id": args.paper_id}
    started = time.monotonic()
    outcome = run_with_progress(
        args, build_graph(), run_id=args.run_id, payload=payload, context=context, db=db,
        is_done=is_done, restart_from=RESTART_FROM, max_concurrency=concurrency,
    )
    result = {**outcome.values["result"], "run_id": args.run_id}
    write_json(args.json_path, result)
    if outcome.status == "finished":
        say(f"run {args.run_id} had finished: returning its stored result", quiet=args.quiet)
    usage = Usage.model_validate(result.get("usage") or {})
    if not result["success"]:
        say(f"chunkwise: run failed: {result.get('error')}")
        say(f"the checkpoint is kept: rerun with --run-id {args.run_id} to retry what failed")
        return 1
    if args.out:
        try:
            Path(args.out).write_text(result["code"], "utf-8")
        except OSError as exc:
            raise ConfigError(f"--out {args.out}: cannot write ({exc.strerror})") from None
    else:
        print(result["code"], end="")
    where = f"wrote {args.out}" if args.out else "code on stdout"
    say(
        f"done: {where} · {result['successful_chunks']}/{result['num_chunks']} chunks · "
        f"dataset: {result['recommended_dataset'] or '-'} · {usage.line()} · "
        f"{time.monotonic() - started:.1f}s · run {args.run_id}"
    )
    return 0
