"""Batch input and output, streamed: documents are read one at a time and rows appended whole.

Input is a JSON Lines file, a Parquet file (read a row batch at a time) or a folder (one
document per file). `DocumentSource.scan` reads it once before any work to check every row
(the id field, the fields a pipeline needs, duplicate ids, JSON errors named by line) and to
count the documents; iterating reads it again, so memory holds one row at a time (plus the set
of ids seen, needed to refuse duplicates).

Output rows are JSON objects. `JsonlSink` appends each row as one line with a single write,
then flushes and fsyncs, so a row is complete or absent; on open it drops a torn last line (a
crash mid-write), and it rewrites the file without its failed rows (atomically: a new file
renamed over the old one) so those documents can be run again. A Parquet file cannot be
appended to row by row, so `ParquetSink` keeps the rows in a JSON Lines journal beside it
(`OUT.parquet.journal.jsonl`, same guarantees) and converts the journal when the batch ends,
writing a new file and renaming it over the old: the `.parquet` is always a finished batch's
complete output or absent.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chunkwise.errors import ConfigError, InputError

PARQUET_BATCH_ROWS = 256  # rows read or written at a time: bounded memory, few round trips


@dataclass(frozen=True)
class Document:
    """One input document: its id as given, its row (empty for a file of a folder), the file
    it comes from (folder input) and where it is, for messages (`docs.jsonl line 7`)."""

    id: str | int
    fields: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    where: str = ""

    @property
    def key(self) -> str:
        """The id as text: what run ids and duplicate checks use."""
        return str(self.id)


Check = Callable[[Document], None]


def _kind(location: Path) -> str:
    if location.is_dir():
        return "folder"
    suffix = location.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise InputError(f"{location}: unknown input kind; give a .jsonl or .parquet file or a folder")


class DocumentSource:
    """The documents of `--input`, with `--id-field` / `--text-field` (rows) or `pattern`
    (folder: which files are documents)."""

    def __init__(
        self,
        location: str,
        *,
        id_field: str = "id",
        text_field: str = "text",
        needs_text: bool = True,
        pattern: str = "*",
    ) -> None:
        self.location = Path(location).expanduser()
        if not self.location.exists():
            raise InputError(f"{location}: no such file or folder; check --input")
        self.kind = _kind(self.location)
        self.id_field, self.text_field = id_field, text_field
        self.needs_text, self.pattern = needs_text, pattern
        self.name = str(location)

    # -- reading -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Document]:
        if self.kind == "folder":
            yield from self._folder()
        elif self.kind == "jsonl":
            yield from self._jsonl()
        else:
            yield from self._parquet()

    def _folder(self) -> Iterator[Document]:
        for path in self._files():
            key = path.relative_to(self.location).as_posix()
            yield Document(key, {}, path, f"{self.name}/{key}")

    def _files(self) -> list[Path]:
        found = []
        for root, dirs, files in os.walk(self.location):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if not name.startswith(".") and fnmatch.fnmatch(name, self.pattern):
                    found.append(Path(root) / name)
        return sorted(found, key=lambda p: p.relative_to(self.location).as_posix())

    def _jsonl(self) -> Iterator[Document]:
        try:
            handle = self.location.open("rb")
        except OSError as exc:
            raise InputError(f"{self.name}: cannot be read ({exc.strerror})") from None
        with handle:
            for number, raw in enumerate(handle, 1):
                where = f"{self.name} line {number}"
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except UnicodeDecodeError:
                    raise InputError(f"{where}: not UTF-8; save the file as UTF-8") from None
                except json.JSONDecodeError as exc:
                    raise InputError(
                        f"{where}: invalid JSON ({exc.msg} at column {exc.colno})"
                    ) from None
                yield self._row(row, where)

    def _parquet(self) -> Iterator[Document]:
        parquet = _pyarrow_parquet("--input")
        try:
            file = parquet.ParquetFile(self.location)
        except Exception as exc:
            raise InputError(f"{self.name}: not a readable Parquet file ({exc})") from None
        number = 0
        for batch in file.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                number += 1
                yield self._row(row, f"{self.name} row {number}")

    def _row(self, row: Any, where: str) -> Document:
        if not isinstance(row, dict):
            raise InputError(f"{where}: a row must be a JSON object")
        ident = row.get(self.id_field)
        if ident is None or ident == "" or isinstance(ident, bool | float | dict | list):
            raise InputError(
                f"{where}: no {self.id_field!r} field (a string or an integer); "
                "set --id-field to the field that names each document"
            )
        if self.needs_text and not isinstance(row.get(self.text_field), str):
            raise InputError(
                f"{where}: no {self.text_field!r} text field; "
                "set --text-field to the field that holds the document"
            )
        return Document(ident, row, None, where)

    # -- checking ------------------------------------------------------------------------------
    def scan(self, check: Check | None = None) -> int:
        """Read every document once, before any work: each row must parse and hold its fields,
        ids must be unique, and `check` (the pipeline's) must accept it. Returns the count."""
        seen: dict[str, str] = {}
        count = 0
        for doc in self:
            if (first := seen.get(doc.key)) is not None:
                raise InputError(
                    f"{doc.where}: duplicate id {doc.key!r} (first at {first}); ids must be unique"
                )
            seen[doc.key] = doc.where
            if check is not None:
                check(doc)
            count += 1
        return count


def _pyarrow_parquet(flag: str) -> Any:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise ConfigError(f"{flag} is a Parquet file: pip install 'chunkwise[parquet]'") from None
    return parquet


# --- output ---------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_torn_tail(path: Path) -> bool:
    """Cut a last line that has no newline (a write cut short); True if one was cut."""
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return False
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return False
        end = size
        block = 1 << 16
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            chunk = handle.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                break
            end = start
        else:
            handle.truncate(0)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSON Lines output, one at a time; a line that is not a row is an error."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                row = None
            if not isinstance(row, dict) or "run_id" not in row:
                raise InputError(
                    f"{path} line {number}: not a row of chunkwise batch output; "
                    "move the file away or give another --output"
                )
            yield row


def encode_row(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


class JsonlSink:
    """Rows appended to a JSON Lines file, each complete or absent."""

    def __init__(self, path: str | Path, flag: str = "--output") -> None:
        self.path = Path(path).expanduser()
        self.flag = flag
        self.done: set[str] = set()
        self.torn = False
        self.dropped_failed = 0
        self._fd: int | None = None

    def open(self) -> JsonlSink:
        """Repair and compact what a previous run left, then open for appending; `done` holds
        the run ids of the rows that succeeded."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                self.torn = _drop_torn_tail(self.path)
                self._compact()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"{self.flag} {self.path}: cannot write ({exc.strerror})") from None
        return self

    def _compact(self) -> None:
        failed = 0
        for row in read_rows(self.path):
            if row.get("status") == "done":
                self.done.add(str(row["run_id"]))
            else:
                failed += 1
        if not failed:
            return
        temp = self.path.with_name(self.path.name + ".tmp")
        with temp.open("wb") as out:
            for row in read_rows(self.path):
                if row.get("status") == "done":
                    out.write(encode_row(row))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path)
        _fsync_dir(self.path)
        self.dropped_failed = failed

    def write(self, row: dict[str, Any]) -> None:
        """One row as one line: written whole, flushed and synced before returning."""
        assert self._fd is not None, "open() first"
        data = memoryview(encode_row(row))
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        os.fsync(self._fd)
        if row.get("status") == "done":
            self.done.add(str(row["run_id"]))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def finish(self) -> None:
        """The batch has run every document: nothing more to do for JSON Lines."""
        self.close()


def _arrow_type(kinds: set[type]) -> Any:
    import pyarrow as pa

    kinds = kinds - {type(None)}
    if kinds <= {bool} and kinds:
        return pa.bool_()
    if kinds <= {int} and kinds:
        return pa.int64()
    if kinds <= {int, float} and kinds:
        return pa.float64()
    return pa.string()


def _cell(value: Any, arrow_type: Any) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if arrow_type == pa.string() and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


class ParquetSink(JsonlSink):
    """Rows go to a journal beside the Parquet file; `finish` converts it, atomically."""

    def __init__(self, path: str | Path, flag: str = "--output") -> None:
        self.target = Path(path).expanduser()
        _pyarrow_parquet(flag)
        super().__init__(self.target.with_name(self.target.name + ".journal.jsonl"), flag)

    def open(self) -> ParquetSink:
        if not self.path.exists() and self.target.exists():
            self._seed_from_target()
        super().open()
        return self

    def _seed_from_target(self) -> None:
        """Rows of a finished earlier batch become the journal this run appends to."""
        parquet = _pyarrow_parquet(self.flag)
        temp = self.path.with_name(self.path.name + ".tmp")
        try:
            file = parquet.ParquetFile(self.target)
            with temp.open("wb") as out:
                for batch in file.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                    for row in batch.to_pylist():
                        out.write(encode_row(row))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise ConfigError(f"{self.flag} {self.target}: cannot read ({exc})") from None
        except Exception as exc:
            raise InputError(f"{self.target}: not a readable Parquet file ({exc})") from None
        os.replace(temp, self.path)

    def finish(self) -> None:
        self.close()
        import pyarrow as pa

        parquet = _pyarrow_parquet(self.flag)
        kinds: dict[str, set[type]] = {}
        for row in read_rows(self.path):
            for name, value in row.items():
                kinds.setdefault(name, set()).add(type(value))
        schema = pa.schema([(name, _arrow_type(kinds[name])) for name in sorted(kinds)])
        temp = self.target.with_name(self.target.name + ".tmp")
        with parquet.ParquetWriter(temp, schema) as writer:
            batch: list[dict[str, Any]] = []
            for row in read_rows(self.path):
                batch.append({f.name: _cell(row.get(f.name), f.type) for f in schema})
                if len(batch) >= PARQUET_BATCH_ROWS:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    batch = []
            if batch or not kinds:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, self.target)
        _fsync_dir(self.target)
        self.path.unlink()


def open_sink(path: str, flag: str = "--output") -> JsonlSink:
    """The sink for `--output`: Parquet by extension, else JSON Lines."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return ParquetSink(path, flag).open()
    if suffix not in (".jsonl", ".ndjson"):
        raise ConfigError(f"{flag} {path}: give a .jsonl or .parquet file")
    return JsonlSink(path, flag).open()
