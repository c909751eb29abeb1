"""Checkpointer factory: a SQLite file by default, PostgreSQL by URL, or memory."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from chunkwise.errors import ConfigError
from chunkwise.runtime.paths import is_postgres
from chunkwise.runtime.serde import checkpoint_serializer


@contextmanager
def open_checkpointer(
    location: str, types: Iterable[type] = ()
) -> Iterator[BaseCheckpointSaver]:
    """Open (and create) the checkpoint store named by a path, a postgres URL or ':memory:';
    `types` are the state classes it may revive (the pipeline's `checkpoint_types`)."""
    serde = checkpoint_serializer(types)
    if location == ":memory:":
        yield InMemorySaver(serde=serde)
        return
    if is_postgres(location):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError:
            raise ConfigError(
                "--checkpoint-db is a PostgreSQL URL: pip install 'chunkwise[postgres]'"
            ) from None
        try:
            with PostgresSaver.from_conn_string(location) as saver:
                saver.serde = serde
                saver.setup()
                yield saver
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise ConfigError(
                    f"--checkpoint-db: cannot use PostgreSQL ({' '.join(str(exc).split())})"
                ) from None
            raise
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(location).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"--checkpoint-db {location}: cannot open ({exc})") from None
    try:
        sqlite_saver = SqliteSaver(conn, serde=serde)
        sqlite_saver.setup()
        yield sqlite_saver
    finally:
        conn.close()
