"""The runs kept in a checkpoint database: what started them, how far they got, and removal.

LangGraph's checkpoints say where a run is, not what it is. Beside them the runner keeps one
row per run in `chunkwise_runs`: its pipeline, status (running / done / failed), progress of
its current stage, tokens and cost when it ends, the input's name, the batch it belongs to and
the command-line options that started it (`options`, plain JSON the command layer builds from
its flags: never a key, a chat model or any other live object; None for a run started from
Python, which the CLI cannot resume). `runs list/show/resume/delete/prune` read this table.

A killed process cannot mark its run: such a run stays `running`, and its `updated` time says
when it was last heard of.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chunkwise.errors import ConfigError
from chunkwise.runtime.blobs import open_blob_store
from chunkwise.runtime.checkpoint import open_checkpointer
from chunkwise.runtime.paths import is_postgres

RunStatus = Literal["running", "done", "failed"]
STATUSES: tuple[RunStatus, ...] = ("running", "done", "failed")

_COLUMNS = (
    "run_id", "pipeline", "kind", "parent", "status", "input_name", "options", "stage", "done",
    "failed", "total", "input_tokens", "output_tokens", "cost_usd", "error", "created", "updated",
)
_TABLE = """CREATE TABLE IF NOT EXISTS chunkwise_runs (
    run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, kind TEXT NOT NULL, parent TEXT,
    status TEXT NOT NULL, input_name TEXT NOT NULL, options TEXT, stage TEXT NOT NULL,
    done INTEGER NOT NULL, failed INTEGER NOT NULL, total INTEGER,
    input_tokens INTEGER, output_tokens INTEGER, cost_usd DOUBLE PRECISION, error TEXT,
    created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)"""
_PARENT_INDEX = "CREATE INDEX IF NOT EXISTS chunkwise_runs_parent ON chunkwise_runs (parent)"


@dataclass(frozen=True)
class RunRecord:
    """What a caller tells the runner about a run besides its input: the options that started
    it (None: from Python), the input's name and the batch it is a document of."""

    options: dict[str, Any] | None = None
    input_name: str = ""
    parent: str | None = None
    kind: Literal["run", "batch"] = "run"


@dataclass(frozen=True)
class RunRow:
    """One row of `chunkwise_runs`."""

    run_id: str
    pipeline: str
    kind: str
    parent: str | None
    status: str
    input_name: str
    options: dict[str, Any] | None
    stage: str
    done: int
    failed: int
    total: int | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    error: str | None
    created: float
    updated: float

    @property
    def progress(self) -> str:
        """`stage 3/10` (with failures), or the stage alone when its size is unknown."""
        text = f"{self.done}/{self.total}" if self.total else (str(self.done) if self.done else "")
        if self.failed:
            text += f" ({self.failed} failed)"
        return " ".join(p for p in (self.stage, text) if p)

    @property
    def tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


class RunsTable:
    """`chunkwise_runs` in a SQLite file or a PostgreSQL database; thread-safe."""

    def __init__(self, location: str) -> None:
        self._lock = threading.Lock()
        self._postgres = is_postgres(location)
        if self._postgres:
            try:
                import psycopg
            except ImportError:
                raise ConfigError(
                    "--checkpoint-db is a PostgreSQL URL: pip install 'chunkwise[postgres]'"
                ) from None
            try:
                self._conn: Any = psycopg.connect(location, autocommit=True)
            except psycopg.Error as exc:
                raise ConfigError(
                    f"--checkpoint-db: cannot use PostgreSQL ({' '.join(str(exc).split())})"
                ) from None
        else:
            path = Path(location).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(
                    path, timeout=60, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA journal_mode=WAL")
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(f"--checkpoint-db {location}: cannot open ({exc})") from None
        self._execute(_TABLE)
        self._execute(_PARENT_INDEX)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._postgres:
            sql = sql.replace("?", "%s")
        with self._lock:
            cursor = self._conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    # -- writing -------------------------------------------------------------------------------
    def start(self, run_id: str, pipeline: str, record: RunRecord) -> None:
        """Mark a run running; a run seen before keeps its creation time and, when this start
        gives none, its options and input name."""
        now = time.time()
        options = None if record.options is None else json.dumps(record.options)
        self._execute(
            "INSERT INTO chunkwise_runs (run_id, pipeline, kind, parent, status, input_name, "
            "options, stage, done, failed, total, error, created, updated) "
            "VALUES (?, ?, ?, ?, 'running', ?, ?, '', 0, 0, NULL, NULL, ?, ?) "
            "ON CONFLICT (run_id) DO UPDATE SET status = 'running', error = NULL, "
            "updated = excluded.updated, pipeline = excluded.pipeline, kind = excluded.kind, "
            "parent = COALESCE(excluded.parent, chunkwise_runs.parent), "
            "options = COALESCE(excluded.options, chunkwise_runs.options), "
            "input_name = CASE WHEN excluded.input_name = '' THEN chunkwise_runs.input_name "
            "ELSE excluded.input_name END",
            (run_id, pipeline, record.kind, record.parent, record.input_name, options, now, now),
        )

    def progress(
        self, run_id: str, *, stage: str, done: int, failed: int, total: int | None
    ) -> None:
        self._execute(
            "UPDATE chunkwise_runs SET stage = ?, done = ?, failed = ?, total = ?, updated = ? "
            "WHERE run_id = ?",
            (stage, done, failed, total, time.time(), run_id),
        )

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        usage: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a run ended; `usage` is a `Usage` as JSON (tokens and cost)."""
        usage = usage or {}
        self._execute(
            "UPDATE chunkwise_runs SET status = ?, error = ?, updated = ?, "
            "input_tokens = COALESCE(?, input_tokens), output_tokens = COALESCE(?, output_tokens),"
            " cost_usd = COALESCE(?, cost_usd) WHERE run_id = ?",
            (status, error, time.time(), usage.get("input_tokens"), usage.get("output_tokens"),
             usage.get("cost_usd"), run_id),
        )

    def delete(self, run_id: str) -> None:
        self._execute("DELETE FROM chunkwise_runs WHERE run_id = ?", (run_id,))

    # -- reading -------------------------------------------------------------------------------
    def _rows(self, where: str, params: tuple[Any, ...]) -> list[RunRow]:
        found = self._execute(
            f"SELECT {', '.join(_COLUMNS)} FROM chunkwise_runs WHERE {where} "
            "ORDER BY created, run_id",
            params,
        )
        rows = []
        for values in found:
            data = dict(zip(_COLUMNS, values, strict=True))
            data["options"] = None if data["options"] is None else json.loads(data["options"])
            rows.append(RunRow(**data))
        return rows

    def get(self, run_id: str) -> RunRow | None:
        rows = self._rows("run_id = ?", (run_id,))
        return rows[0] if rows else None

    def find(
        self,
        *,
        parent: str | None = None,
        status: str | None = None,
        updated_before: float | None = None,
    ) -> list[RunRow]:
        """Runs of batch `parent`, or runs that belong to no batch (single runs and batches)."""
        where = ["parent = ?"] if parent else ["parent IS NULL"]
        params: list[Any] = [parent] if parent else []
        if status:
            where.append("status = ?")
            params.append(status)
        if updated_before is not None:
            where.append("updated < ?")
            params.append(updated_before)
        return self._rows(" AND ".join(where), tuple(params))

    def children(self, run_id: str) -> list[str]:
        return [str(r[0]) for r in self._execute(
            "SELECT run_id FROM chunkwise_runs WHERE parent = ? ORDER BY run_id", (run_id,)
        )]


@contextmanager
def open_runs(checkpoint_db: str) -> Iterator[RunsTable | None]:
    """The runs table beside the checkpoints; None for an in-memory checkpointer."""
    if checkpoint_db == ":memory:":
        yield None
        return
    table = RunsTable(checkpoint_db)
    try:
        yield table
    finally:
        table.close()


@dataclass(frozen=True)
class Deleted:
    """What deleting runs removed: the runs (a batch counts its documents) and the blobs and
    cached calls no remaining run uses."""

    runs: int
    blobs: int


def delete_runs(checkpoint_db: str, blob_store: str, run_ids: list[str]) -> Deleted:
    """Delete runs (a batch with its documents): checkpoints, then the blobs and cached calls
    only they used, then their rows, so a delete that stops half-way can simply be repeated."""
    store = open_blob_store(blob_store)
    runs = blobs = 0
    with open_runs(checkpoint_db) as table, open_checkpointer(checkpoint_db) as saver:
        for run_id in run_ids:
            family = [*(table.children(run_id) if table else []), run_id]
            for member in family:
                saver.delete_thread(member)
                blobs += store.release(member)
                if table is not None:
                    table.delete(member)
                runs += 1
    return Deleted(runs, blobs)


class ProgressRecorder:
    """Turns a run's progress events into `chunkwise_runs` updates (at most one a second, and
    one at each new stage), then passes each event on."""

    def __init__(self, table: RunsTable, run_id: str, forward: Any = None) -> None:
        self.table, self.run_id, self.forward = table, run_id, forward
        self.stage, self.done, self.failed = "", 0, 0
        self.total: int | None = None
        self._written = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        with self._lock:
            if kind == "stage":
                self.stage = str(event.get("stage", ""))
                total = event.get("total")
                self.total, self.done, self.failed = (int(total) if total else None), 0, 0
                self._write(force=True)
            elif kind == "unit_done":
                self.done += 1
                self.failed += 0 if event.get("ok", True) else 1
                self._write()
        if self.forward is not None:
            self.forward(event)

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._written >= 1.0:
            self._written = now
            self.table.progress(self.run_id, stage=self.stage, done=self.done,
                                failed=self.failed, total=self.total)

    def flush(self) -> None:
        with self._lock:
            if self.stage or self.done:
                self._write(force=True)
