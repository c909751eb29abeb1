"""Content-addressed storage for large text.

LangGraph re-persists every channel value at each super-step and stores `Send` payloads too,
so a paper kept in state is written dozens of times. Documents, chunks and model outputs live
here instead, keyed by their sha256, and only the keys travel through state. Text is
zlib-compressed at the fastest level: prose shrinks about 2.4-fold, which keeps a run's
database smaller than the document it was given.

Blobs and cached calls are shared by every run that produces the same text, so deleting a run
may only drop what no other run uses. Each store therefore records which run used which key
(`chunkwise_blob_refs`): `put`, `cache_put` and a cache hit made inside a graph run record the
run's id (the LangGraph thread id), and the runner records the keys of a run's input. The
reference is written before the blob, so a blob being released by one run while another stores
the same text is written again rather than lost. `release(run_id)` drops the run's references
and every blob and cached call no other run refers to.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from chunkwise.errors import ConfigError
from chunkwise.runtime.paths import is_postgres

KEY_PREFIX = "sha256:"
CALL_PREFIX = "call:"
# zlib level 1: an 18M-character paper compresses in 0.19 s to 42% of its size; level 6 took
# 1.03 s (a seventh of paper2code's own time on it) to reach 35%
COMPRESS_LEVEL = 1


def current_run_id() -> str | None:
    """The run a graph node is working for (its thread id), or None outside a graph run."""
    try:
        from langgraph.config import get_config

        thread = get_config().get("configurable", {}).get("thread_id")
    except Exception:  # outside a runnable context
        return None
    return None if thread is None else str(thread)


def blob_key(text: str) -> str:
    """The key a text is stored under: stable across runs and machines."""
    return KEY_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


class BlobStore(Protocol):
    """Where big text and cached call results live, next to the checkpoints."""

    def put(self, text: str) -> str: ...

    def get(self, key: str) -> str: ...

    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    def cache_put(self, key: str, value: dict[str, Any]) -> None: ...

    def add_refs(self, run_id: str, keys: Iterable[str]) -> None: ...

    def release(self, run_id: str) -> int: ...


_REFS_TABLE = (
    "CREATE TABLE IF NOT EXISTS chunkwise_blob_refs "
    "(run_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (run_id, key))"
)
_REFS_INDEX = "CREATE INDEX IF NOT EXISTS chunkwise_blob_refs_key ON chunkwise_blob_refs (key)"
# Blobs and cached calls that `run` referenced and no other run does; `?` is the run id twice.
_UNSHARED = (
    "key IN (SELECT key FROM chunkwise_blob_refs WHERE run_id = ?) AND NOT EXISTS "
    "(SELECT 1 FROM chunkwise_blob_refs r WHERE r.key = {table}.key AND r.run_id <> ?)"
)


class SqliteBlobStore:
    """Blobs and the call cache in tables of one SQLite file (WAL, one connection per thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS chunkwise_blobs (key TEXT PRIMARY KEY, data BLOB)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS chunkwise_calls (key TEXT PRIMARY KEY, value TEXT)"
            )
            conn.execute(_REFS_TABLE)
            conn.execute(_REFS_INDEX)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def put(self, text: str) -> str:
        key = blob_key(text)
        data = zlib.compress(text.encode("utf-8"), COMPRESS_LEVEL)
        self._ref(key)
        self._conn().execute(
            "INSERT OR IGNORE INTO chunkwise_blobs (key, data) VALUES (?, ?)", (key, data)
        )
        return key

    def _ref(self, key: str, run_id: str | None = None) -> None:
        run_id = run_id or current_run_id()
        if run_id is not None:
            self._conn().execute(
                "INSERT OR IGNORE INTO chunkwise_blob_refs (run_id, key) VALUES (?, ?)",
                (run_id, key),
            )

    def add_refs(self, run_id: str, keys: Iterable[str]) -> None:
        for key in keys:
            self._ref(key, run_id)

    def release(self, run_id: str) -> int:
        conn = self._conn()
        dropped = 0
        for table in ("chunkwise_blobs", "chunkwise_calls"):
            cursor = conn.execute(
                f"DELETE FROM {table} WHERE {_UNSHARED.format(table=table)}", (run_id, run_id)
            )
            dropped += max(0, cursor.rowcount)
        conn.execute("DELETE FROM chunkwise_blob_refs WHERE run_id = ?", (run_id,))
        return dropped

    def get(self, key: str) -> str:
        row = self._conn().execute(
            "SELECT data FROM chunkwise_blobs WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            raise KeyError(f"blob {key} is missing from {self.path}")
        return zlib.decompress(row[0]).decode("utf-8")

    def cache_get(self, key: str) -> dict[str, Any] | None:
        row = self._conn().execute(
            "SELECT value FROM chunkwise_calls WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        self._ref(key)
        return dict(json.loads(row[0]))

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        self._ref(key)
        self._conn().execute(
            "INSERT OR REPLACE INTO chunkwise_calls (key, value) VALUES (?, ?)",
            (key, json.dumps(value, ensure_ascii=False)),
        )


class MemoryBlobStore:
    """For tests and throwaway runs: same contract, nothing on disk."""

    def __init__(self) -> None:
        self._blobs: dict[str, str] = {}
        self._calls: dict[str, dict[str, Any]] = {}
        self._refs: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def put(self, text: str) -> str:
        key = blob_key(text)
        with self._lock:
            self._ref(key)
            self._blobs.setdefault(key, text)
        return key

    def _ref(self, key: str, run_id: str | None = None) -> None:
        run_id = run_id or current_run_id()
        if run_id is not None:
            self._refs.setdefault(run_id, set()).add(key)

    def add_refs(self, run_id: str, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._ref(key, run_id)

    def release(self, run_id: str) -> int:
        with self._lock:
            mine = self._refs.pop(run_id, set())
            shared = set().union(*self._refs.values()) if self._refs else set()
            dropped = 0
            for key in mine - shared:
                table: dict[str, Any] = self._calls if key.startswith(CALL_PREFIX) else self._blobs
                dropped += table.pop(key, None) is not None
            return dropped

    def get(self, key: str) -> str:
        try:
            return self._blobs[key]
        except KeyError:
            raise KeyError(f"blob {key} is missing from the in-memory store") from None

    def cache_get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            value = self._calls.get(key)
            if value is None:
                return None
            self._ref(key)
            return dict(value)

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._ref(key)
            self._calls[key] = dict(value)


class PostgresBlobStore:
    """Blobs and the call cache in PostgreSQL, for runs spread over many workers (Ray)."""

    def __init__(self, url: str) -> None:
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise ConfigError(
                "a postgres blob store needs: pip install 'chunkwise[postgres]'"
            ) from None
        self.url = url
        self._pool = ConnectionPool(url, min_size=1, max_size=8, kwargs={"autocommit": True},
                                    open=True)
        try:
            with self._pool.connection(timeout=15) as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS chunkwise_blobs (key TEXT PRIMARY KEY, data BYTEA)"
                )
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS chunkwise_calls (key TEXT PRIMARY KEY, value TEXT)"
                )
                conn.execute(_REFS_TABLE)
                conn.execute(_REFS_INDEX)
        except Exception as exc:
            self._pool.close()
            if type(exc).__module__.startswith("psycopg"):
                raise ConfigError(
                    f"blob store: cannot use PostgreSQL ({' '.join(str(exc).split())})"
                ) from None
            raise

    def _ref(self, conn: Any, key: str, run_id: str | None = None) -> None:
        run_id = run_id or current_run_id()
        if run_id is not None:
            conn.execute(
                "INSERT INTO chunkwise_blob_refs (run_id, key) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (run_id, key),
            )

    def add_refs(self, run_id: str, keys: Iterable[str]) -> None:
        with self._pool.connection() as conn:
            for key in keys:
                self._ref(conn, key, run_id)

    def release(self, run_id: str) -> int:
        dropped = 0
        with self._pool.connection() as conn:
            for table in ("chunkwise_blobs", "chunkwise_calls"):
                where = _UNSHARED.format(table=table).replace("?", "%s")
                cursor = conn.execute(f"DELETE FROM {table} WHERE {where}", (run_id, run_id))
                dropped += max(0, cursor.rowcount)
            conn.execute("DELETE FROM chunkwise_blob_refs WHERE run_id = %s", (run_id,))
        return dropped

    def put(self, text: str) -> str:
        key = blob_key(text)
        with self._pool.connection() as conn:
            self._ref(conn, key)
            conn.execute(
                "INSERT INTO chunkwise_blobs (key, data) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, zlib.compress(text.encode("utf-8"), COMPRESS_LEVEL)),
            )
        return key

    def get(self, key: str) -> str:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT data FROM chunkwise_blobs WHERE key = %s", (key,)
            ).fetchone()
        if row is None:
            raise KeyError(f"blob {key} is missing from the postgres store")
        return zlib.decompress(bytes(row[0])).decode("utf-8")

    def cache_get(self, key: str) -> dict[str, Any] | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT value FROM chunkwise_calls WHERE key = %s", (key,)
            ).fetchone()
            if row is None:
                return None
            self._ref(conn, key)
        return dict(json.loads(row[0]))

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        with self._pool.connection() as conn:
            self._ref(conn, key)
            conn.execute(
                "INSERT INTO chunkwise_calls (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, json.dumps(value, ensure_ascii=False)),
            )


_OPEN: dict[str, BlobStore] = {}
_OPEN_LOCK = threading.Lock()


def open_blob_store(location: str | Path | None) -> BlobStore:
    """One store per location per process; `None` or ":memory:" is a process-wide memory store."""
    if location in (None, ":memory:"):
        name = ":memory:"
    elif is_postgres(str(location)):
        name = str(location)
    else:
        name = str(Path(str(location)).expanduser())
    with _OPEN_LOCK:
        store = _OPEN.get(name)
        if store is None:
            if name == ":memory:":
                store = MemoryBlobStore()
            elif is_postgres(name):
                store = PostgresBlobStore(name)
            else:
                store = SqliteBlobStore(name)
            _OPEN[name] = store
        return store


# --- parsed blobs -----------------------------------------------------------------------------

T = TypeVar("T")

# A key is the hash of its text, so it names the same text in every store: entries are keyed by
# (parser, key) alone. Bounded in entries and in the characters of the texts they came from.
_PARSED: OrderedDict[tuple[Callable[[str], Any], str], tuple[Any, int]] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_LOADING: dict[tuple[Callable[[str], Any], str], threading.Lock] = {}  # reads under way
PARSED_MAX_ENTRIES = 64
PARSED_MAX_CHARS = 64_000_000


def read_cached(store: BlobStore, key: str, parse: Callable[[str], T]) -> T:
    """`parse(store.get(key))`, kept for the next steps and branches of a run that read it.

    For what every step reads again (a document, a plan): one decompression and parse per
    process instead of one per step. The value is shared: callers must not mutate it. A key
    missing from the store raises `KeyError` as `store.get` does, and is not remembered.
    """
    slot = (parse, key)
    with _PARSED_LOCK:
        hit = _PARSED.get(slot)
        if hit is not None:
            _PARSED.move_to_end(slot)
            return hit[0]
        loading = _LOADING.setdefault(slot, threading.Lock())
    # one reader decompresses; the branches that asked at the same time wait for its value
    # (a fan-out's first branches all missed, and each decompressed the whole paper)
    with loading:
        with _PARSED_LOCK:
            hit = _PARSED.get(slot)
        if hit is not None:
            return hit[0]
        try:
            text = store.get(key)
            value = parse(text)
        finally:
            with _PARSED_LOCK:
                _LOADING.pop(slot, None)
        with _PARSED_LOCK:
            _PARSED[slot] = (value, len(text))
            _PARSED.move_to_end(slot)
            chars = sum(size for _, size in _PARSED.values())
            while len(_PARSED) > 1 and (
                len(_PARSED) > PARSED_MAX_ENTRIES or chars > PARSED_MAX_CHARS
            ):
                _, (_, size) = _PARSED.popitem(last=False)
                chars -= size
    return value
