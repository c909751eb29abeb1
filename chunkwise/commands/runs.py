"""`chunkwise runs list|show|resume|delete|prune`: the runs of a checkpoint database.

Reads the `chunkwise_runs` table the runner keeps beside the checkpoints (SQLite or
PostgreSQL). `show` adds what the run's last checkpoint holds (parts, chunks or sections and
their errors); `resume` runs the command line the run was started with again, under the same
run id; `delete` and `prune` remove runs with their checkpoints and the blobs and cached calls
no other run uses (a batch goes with its documents).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shlex
import time
from typing import Any

from chunkwise.commands.common import checkpoint_db, say
from chunkwise.commands.options import replay
from chunkwise.errors import ConfigError
from chunkwise.runtime.checkpoint import open_checkpointer
from chunkwise.runtime.paths import blob_location_for, default_checkpoint_db
from chunkwise.runtime.pipeline import Pipeline
from chunkwise.runtime.runner import run_config
from chunkwise.runtime.runs import STATUSES, RunRow, RunsTable, delete_runs, open_runs

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("runs", help="list, show, resume, delete or prune runs",
                            description="The runs kept in a checkpoint database.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        child: argparse.ArgumentParser = actions.add_parser(name, help=help)
        child.add_argument("--checkpoint-db", default=None,
                           help=f"SQLite path or postgres URL (default {default_checkpoint_db()})")
        return child

    listing = action("list", "runs with status, progress, tokens and cost")
    listing.add_argument("--batch", metavar="BATCH_ID", help="the documents of one batch")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--json", action="store_true", help="rows as JSON lines")
    listing.set_defaults(run=run_list)
    show = action("show", "a run's stages, parts or sections, errors and usage")
    show.add_argument("run_id", metavar="RUN_ID")
    show.set_defaults(run=run_show)
    resume = action("resume", "run it again with the options it was started with")
    resume.add_argument("run_id", metavar="RUN_ID")
    resume.add_argument("--quiet", action="store_true")
    resume.set_defaults(run=run_resume)
    delete = action("delete", "remove runs, their checkpoints and the blobs only they used")
    delete.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    delete.set_defaults(run=run_delete)
    prune = action("prune", "delete runs not updated for a while")
    prune.add_argument("--older-than", required=True, metavar="AGE",
                       help="e.g. 90m, 12h, 7d, 2w")
    prune.add_argument("--status", choices=STATUSES)
    prune.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    prune.set_defaults(run=run_prune)


def parse_age(text: str) -> float:
    """`7d` -> seconds; `ConfigError` naming the flag otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise ConfigError(f"--older-than {text!r}: give a number and a unit s/m/h/d/w, e.g. 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _table(args: argparse.Namespace) -> tuple[str, Any]:
    location = checkpoint_db(args)
    if location == ":memory:":
        raise ConfigError("--checkpoint-db :memory: keeps no runs; give a SQLite path or URL")
    return location, open_runs(location)


def _row(table: RunsTable, run_id: str, location: str) -> RunRow:
    row = table.get(run_id)
    if row is None:
        raise ConfigError(f"no run {run_id!r} in {_where(location)}; see `chunkwise runs list`")
    return row


def _where(location: str) -> str:
    return "the PostgreSQL database" if location.startswith("postgres") else location


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def _cells(row: RunRow) -> list[str]:
    tokens = "-" if row.tokens is None else f"{row.tokens:,}"
    cost = "-" if row.cost_usd is None else f"${row.cost_usd:.4f}"
    pipeline = f"{row.pipeline} batch" if row.kind == "batch" else row.pipeline
    return [row.run_id, pipeline, row.status, row.progress or "-", tokens, cost,
            _when(row.created), _when(row.updated), row.input_name or "-"]


def run_list(args: argparse.Namespace) -> int:
    location, opened = _table(args)
    with opened as table:
        rows = table.find(parent=args.batch, status=args.status)
    if args.json:
        for row in rows:
            print(json.dumps({**row.__dict__, "options": None}, ensure_ascii=False))
        return 0
    if not rows:
        say(f"no runs in {_where(location)}")
        return 0
    head = ["RUN ID", "PIPELINE", "STATUS", "PROGRESS", "TOKENS", "COST", "CREATED",
            "UPDATED", "INPUT"]
    cells = [head, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head) - 1)]
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1])
    return 0


def _pipeline(name: str) -> Pipeline[Any] | None:
    try:
        pipeline: Pipeline[Any] = importlib.import_module(f"chunkwise.graphs.{name}").PIPELINE
        return pipeline
    except (ModuleNotFoundError, AttributeError):
        return None


def _state_lines(pipeline: Pipeline[Any], values: dict[str, Any]) -> list[str]:
    """Per-part, per-chunk or per-section state from the run's last checkpoint."""
    lines = []
    if "cursor" in values and "total" in values:  # rephrase
        lines.append(f"parts: {values['cursor']}/{values['total']} rewritten, "
                     f"{values.get('flagged', 0)} flagged")
    for outcome in sorted((values.get("outcomes") or {}).values(), key=lambda o: o.index):
        state = "ok" if outcome.success else f"failed: {outcome.error}"
        lines.append(f"chunk {outcome.index + 1}: {state}")
    for record in sorted((values.get("sections") or {}).values(), key=lambda r: r.index):
        problems = [*record.problems, *record.consistency_problems]
        state = "; ".join(problems) if problems else "ok"
        lines.append(f"section {record.index + 1} ({record.title}): {record.words} words, "
                     f"{record.attempts} attempt(s), {state}")
    for warning in values.get("warnings") or []:
        lines.append(f"warning: {warning}")
    return lines


def run_show(args: argparse.Namespace) -> int:
    location, opened = _table(args)
    with opened as table:
        row = _row(table, args.run_id, location)
        children = table.find(parent=row.run_id) if row.kind == "batch" else []
    print(f"run {row.run_id}: {row.pipeline}{' batch' if row.kind == 'batch' else ''}, "
          f"{row.status}")
    print(f"created {_when(row.created)}, updated {_when(row.updated)}")
    print(f"input: {row.input_name or '-'}")
    if row.parent:
        print(f"batch: {row.parent}")
    argv = (row.options or {}).get("argv")
    print(f"command: chunkwise {shlex.join(argv)}" if argv else
          "command: none kept (started from Python or by a batch)")
    print(f"progress: {row.progress or '-'}")
    if row.tokens is not None:
        cost = "" if row.cost_usd is None else f", ~${row.cost_usd:.4f}"
        print(f"usage: {row.input_tokens:,} in / {row.output_tokens:,} out tokens{cost}")
    if row.error:
        print(f"error: {row.error}")
    if row.kind == "batch":
        counts = {s: sum(c.status == s for c in children) for s in STATUSES}
        print("documents: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        for child in children:
            if child.status == "failed":
                print(f"  {child.run_id}: {child.error}")
        return 0
    pipeline = _pipeline(row.pipeline)
    if pipeline is None:
        return 0
    with open_checkpointer(location, pipeline.checkpoint_types) as saver:
        snapshot = pipeline.compile(saver).get_state(run_config(row.run_id))
    if snapshot.next:
        print(f"next: {', '.join(snapshot.next)}")
    for line in _state_lines(pipeline, dict(snapshot.values)):
        print(line)
    return 0


def run_resume(args: argparse.Namespace) -> int:
    location, opened = _table(args)
    with opened as table:
        row = _row(table, args.run_id, location)
    if row.parent:
        raise ConfigError(f"run {row.run_id} is a document of batch {row.parent}: "
                          f"resume the batch: chunkwise runs resume {row.parent}")
    if row.options is None:
        raise ConfigError(f"run {row.run_id} was started from Python (its models may be objects "
                          "a command line cannot rebuild): resume it from Python with its run_id")
    flag = "--batch-id" if row.kind == "batch" else "--run-id"
    extra = [flag, row.run_id, "--checkpoint-db", location] + (["--quiet"] if args.quiet else [])
    replayed = replay(row.options, extra)
    say(f"resuming {row.run_id}: chunkwise {shlex.join(row.options['argv'])}", quiet=args.quiet)
    code: int = replayed.run(replayed)
    return code


def run_delete(args: argparse.Namespace) -> int:
    location, opened = _table(args)
    with opened as table:
        for run_id in args.run_ids:
            _row(table, run_id, location)
    deleted = delete_runs(location, blob_location_for(location), list(args.run_ids))
    say(f"deleted {deleted.runs} run(s); freed {deleted.blobs} blob(s) and cached call(s)")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    age = parse_age(args.older_than)
    location, opened = _table(args)
    with opened as table:
        rows = table.find(status=args.status, updated_before=time.time() - age)
    if args.dry_run or not rows:
        for row in rows:
            print(row.run_id)
        say(f"{len(rows)} run(s) {'would be ' if args.dry_run else ''}deleted")
        return 0
    deleted = delete_runs(location, blob_location_for(location), [r.run_id for r in rows])
    say(f"deleted {deleted.runs} run(s); freed {deleted.blobs} blob(s) and cached call(s)")
    return 0
