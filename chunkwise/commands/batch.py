"""`chunkwise batch PIPELINE`: one run per document of a JSON Lines file, Parquet file or folder.

Every document is one run of the pipeline's graph through `run_pipeline`, under the run id
`<batch id>.<document id>`; rows are appended to the output as documents finish (completion
order; each row complete or absent). The input is checked whole before any work (bad input
exits 2 with nothing written); then re-running the same command skips the documents the
output already holds as done, resumes those a killed batch left inside their runs, and runs
the failed ones again. Exit 0 when every document is done, 1 when some failed.

`--ray [ADDRESS]` runs the documents on Ray workers (a local Ray, or the cluster at ADDRESS);
each worker gets an even share of `--rpm`, `--tpm` and `--max-in-flight`, announced at start.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from chunkwise.commands.batch_progress import BatchProgress
from chunkwise.commands.batch_specs import SPECS
from chunkwise.commands.batch_work import BatchSpec, DocumentWork, Unit, row_error
from chunkwise.commands.common import announce_models, checkpoint_db, say, write_json
from chunkwise.commands.options import recorded_options
from chunkwise.errors import ConfigError
from chunkwise.runtime.batch_io import DocumentSource, JsonlSink, open_sink
from chunkwise.runtime.paths import default_checkpoint_db, is_postgres
from chunkwise.runtime.pool import Failed, run_unordered
from chunkwise.runtime.runs import RunRecord, RunsTable, open_runs
from chunkwise.state.context import BaseContext


def _one_line_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.exit(2, f"{parser.prog}: error: {message}\n")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other bad input of a batch."""

    def error(self, message: str) -> NoReturn:
        _one_line_error(self, message)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "batch",
        help="run a pipeline over many documents (jsonl, parquet or a folder)",
        description="Run rephrase, generate or paper2code once per document, resumable, "
        "locally or on Ray.",
    )
    # an unknown pipeline is one line too
    parser.error = lambda message: _one_line_error(parser, message)
    pipelines = parser.add_subparsers(
        dest="pipeline", required=True, metavar="PIPELINE", parser_class=_Parser
    )
    for name, spec in SPECS.items():
        _add_pipeline(pipelines, name, spec)


def _add_pipeline(pipelines: Any, name: str, spec: BatchSpec) -> None:
    parser = pipelines.add_parser(name, help=f"{name} over many documents")
    io = parser.add_argument_group("batch")
    io.add_argument("--input", required=True, metavar="PATH",
                    help="docs.jsonl, docs.parquet, or a folder (one document per file)")
    io.add_argument("--output", required=True, metavar="PATH",
                    help="out.jsonl or out.parquet: one row per document")
    io.add_argument("--id-field", default="id", help="row field naming a document (default id)")
    io.add_argument("--text-field", default="text",
                    help="row field holding its text (default text)")
    io.add_argument("--pattern", default=spec.pattern, metavar="GLOB",
                    help=f"which files of a folder are documents (default {spec.pattern})")
    io.add_argument("--concurrency", dest="documents", type=int, default=4, metavar="N",
                    help="documents in flight (default 4)")
    io.add_argument("--batch-id", help="name the batch (default: from --output); "
                    "document runs are <batch id>.<document id>")
    io.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                    help="run on Ray: a local Ray, or join the cluster at ADDRESS")
    io.add_argument("--ray-workers", type=int, metavar="N",
                    help="Ray worker processes (default: the cluster's CPUs, at most N docs)")
    io.add_argument("--checkpoint-db", default=None,
                    help=f"SQLite path or postgres URL (default {default_checkpoint_db()})")
    io.add_argument("--report", dest="json_path", metavar="PATH",
                    help="write the batch summary as JSON")
    io.add_argument("--quiet", action="store_true", help="no progress line")
    spec.add_options(parser)
    parser.set_defaults(run=run, command=["batch", name])


def default_batch_id(pipeline: str, output: str) -> str:
    """Stable for one output file, so re-running the same command continues the same batch."""
    target = Path(output).expanduser().resolve()
    digest = hashlib.sha256(str(target).encode("utf-8")).hexdigest()[:8]
    return f"{pipeline}-{target.name.split('.')[0]}-{digest}"


def _database(args: argparse.Namespace) -> str:
    """The checkpoint database as every worker must name it (an absolute SQLite path)."""
    location = checkpoint_db(args)
    if location == ":memory:" and args.ray is not None:
        raise ConfigError("--ray needs a --checkpoint-db every worker can open, not :memory:")
    if args.ray and not is_postgres(location):
        raise ConfigError(
            f"--ray {args.ray} needs --checkpoint-db postgresql://...: workers on other "
            "machines cannot share a SQLite file"
        )
    if location == ":memory:" or is_postgres(location):
        return location
    return str(Path(location).expanduser().resolve())


def _check_options(args: argparse.Namespace) -> None:
    if args.documents < 1:
        raise ConfigError("--concurrency must be at least 1")
    if args.ray_workers is not None and args.ray_workers < 1:
        raise ConfigError("--ray-workers must be at least 1")
    if Path(args.output).expanduser().resolve() == Path(args.input).expanduser().resolve():
        raise ConfigError("--output must not be the --input file; write the rows elsewhere")


def _split_limits(context: BaseContext, workers: int) -> tuple[BaseContext, int, str]:
    """Each Ray worker's share of the endpoint limits, the number of workers that keeps every
    share at least one request in flight, and the line announcing it."""
    models = context.models
    if models.max_in_flight is not None:
        workers = min(workers, models.max_in_flight)
    shared = {
        "rpm": None if models.rpm is None else models.rpm / workers,
        "tpm": None if models.tpm is None else models.tpm / workers,
        "max_in_flight": None if models.max_in_flight is None
        else models.max_in_flight // workers,
    }
    given = {k: v for k, v in shared.items() if v is not None}
    context.models = models.with_(**shared)
    if not given:
        return context, workers, f"ray: {workers} workers; no --rpm/--tpm/--max-in-flight to share"
    parts = ", ".join(f"{v:g} {k.replace('_', '-')}" for k, v in given.items())
    return context, workers, (
        f"ray: {workers} workers; each gets an even share of the endpoint limits: {parts}"
    )


def _units(source: DocumentSource, spec: BatchSpec, args: argparse.Namespace,
           work: DocumentWork, sink: JsonlSink, progress: BatchProgress) -> Iterator[Unit]:
    """The units still to run; those the output holds as done are counted and skipped."""
    variants = spec.variants(args)
    for doc in source:
        for variant in variants:
            unit = Unit(doc, variant)
            if work.run_id(unit) in sink.done:
                progress.skipped()
            else:
                yield unit


def run(args: argparse.Namespace) -> int:
    spec = SPECS[args.pipeline]
    _check_options(args)
    database = _database(args)
    if args.ray:  # before anything else waits on the network: one line if nothing is there
        from chunkwise.runtime.ray_pool import check_reachable

        check_reachable(args.ray)
    context, per_document = spec.context(args)
    source = DocumentSource(args.input, id_field=args.id_field, text_field=args.text_field,
                            needs_text=spec.needs_text, pattern=args.pattern)
    total = source.scan(spec.check) * len(spec.variants(args))
    batch_id = args.batch_id or default_batch_id(spec.pipeline.name, args.output)
    roles = spec.roles(context)
    announce_models(args, context, roles)  # a bad spec or missing key stops here

    pool = None
    if args.ray is not None:
        from chunkwise.runtime.ray_pool import RayPool

        pool = RayPool(args.ray or None, workers=args.ray_workers, concurrency=args.documents)
    try:
        if pool is not None:
            context, pool.workers, line = _split_limits(context, pool.workers)
            say(line, quiet=args.quiet)
        work = DocumentWork(spec.pipeline.name, context, database, batch_id, per_document,
                            args.id_field, args.text_field)
        return _run_batch(args, spec, source, work, total, pool)
    finally:
        if pool is not None:
            pool.close()


def _run_batch(args: argparse.Namespace, spec: BatchSpec, source: DocumentSource,
               work: DocumentWork, total: int, pool: Any) -> int:
    sink = open_sink(args.output)
    if sink.torn:
        say(f"{args.output}: dropped a torn last row (a write cut short)", quiet=args.quiet)
    say(f"batch id: {work.batch_id} ({total} documents; re-run the same command to resume)",
        quiet=args.quiet)
    progress = BatchProgress(total, enabled=not args.quiet)
    with open_runs(work.checkpoint_db) as table:
        if table is not None:
            table.start(work.batch_id, spec.pipeline.name, RunRecord(
                options=recorded_options(args), input_name=args.input, kind="batch"))
        units = _units(source, spec, args, work, sink, progress)
        executor = pool.run_unordered if pool is not None else run_unordered
        try:
            for unit, outcome in executor(work, units, args.documents):
                row = outcome if isinstance(outcome, dict) else _lost(work, unit, outcome)
                sink.write(row)
                progress.add(row)
                _record(table, work.batch_id, progress)
        except BaseException:
            sink.close()
            progress.close()
            if table is not None:
                _record(table, work.batch_id, progress, force=True)
                table.finish(work.batch_id, "failed", error="interrupted")
            raise
        sink.finish()
        progress.close()
        if table is not None:
            _record(table, work.batch_id, progress, force=True)
            totals = _totals(table, work.batch_id)
            table.finish(work.batch_id, "failed" if progress.failed else "done", usage=totals)
    summary = progress.summary(work.batch_id, args.input, args.output)
    write_json(args.json_path, summary)
    say(progress.line(work.batch_id, args.output), quiet=args.quiet)
    return 1 if progress.failed else 0


def _lost(work: DocumentWork, unit: Unit, failure: Failed[Unit]) -> dict[str, Any]:
    """The row of a unit whose worker was lost for good (Ray): failed, resumable by a re-run."""
    return {work.id_field: unit.doc.id, **unit.variant.row, "run_id": work.run_id(unit),
            "status": "failed", "error": f"worker lost: {row_error(failure.error)}",
            "output": None, "usage": None}


def _record(table: RunsTable | None, batch_id: str, progress: BatchProgress,
            force: bool = False) -> None:
    if table is not None and progress.due(force):
        table.progress(batch_id, stage="documents", done=progress.done + progress.failed,
                       failed=progress.failed, total=progress.total)


def _totals(table: RunsTable, batch_id: str) -> dict[str, Any]:
    """Tokens and cost of the batch: the sum over its documents' runs."""
    rows = table.find(parent=batch_id)
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    return {"input_tokens": sum(r.input_tokens or 0 for r in rows),
            "output_tokens": sum(r.output_tokens or 0 for r in rows),
            "cost_usd": sum(costs) if costs else None}
