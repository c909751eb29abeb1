"""`chunkwise runs` on SQLite and PostgreSQL: list, show, resume, delete (with blob GC), prune."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from chunkwise.api.rephrase import ChunkWiseRephrasePipeline
from chunkwise.models.scripted import ScriptedChatModel
from chunkwise.runtime.blobs import blob_key, open_blob_store
from chunkwise.runtime.paths import blob_location_for, is_postgres
from chunkwise.runtime.runs import RunsTable
from tests.batch.support import docs, echo_model, rows, run_cli, write_jsonl
from tests.rephrase.support import echo


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "runs.sqlite")


def _text(tag: str) -> str:
    # unique per test run: the postgres database (and its blobs) outlive test runs
    return " ".join(f"Line {i} of the {tag} text, told plainly." for i in range(120))


def _rephrase(tmp_path: Path, db: str, run_id: str, source: Path, *more: str) -> list[str]:
    return ["rephrase", "--input", str(source), "--output", str(tmp_path / f"{run_id}.out"),
            "--run-id", run_id, "--checkpoint-db", db, "--chunk-tokens", "256", "--quiet", *more]


def test_list_show_and_resume_with_the_options_it_started_with(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tag = uuid.uuid4().hex[:8]
    source = tmp_path / "doc.txt"
    source.write_text(_text(tag), "utf-8")
    run_id = f"r-{tag}"
    fail = lambda call: RuntimeError("overloaded") if call.prompt.count("Line 60 ") else None  # noqa: E731
    broken = ScriptedChatModel(responders={"rewrite": echo}, fail=fail)
    argv = _rephrase(tmp_path, database, run_id, source, "--style", "academic",
                     "--max-attempts", "1", "--base-url", "http://user:hunter2pass@127.0.0.1:9/v1")
    assert run_cli(monkeypatch, argv, broken) == 1
    answered = {c.prompt for c in broken.calls if not fail(c)}
    assert answered

    capsys.readouterr()
    assert run_cli(monkeypatch, ["runs", "list", "--checkpoint-db", database]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(run_id))
    assert "rephrase" in line and "failed" in line and str(source) in line
    assert run_cli(monkeypatch, ["runs", "show", run_id, "--checkpoint-db", database]) == 0
    shown = capsys.readouterr().out
    assert "--style academic" in shown and "--max-attempts 1" in shown
    assert "overloaded" in shown and "parts: " in shown and "next: rewrite_chunk" in shown
    assert "hunter2pass" not in shown and "127.0.0.1:9/v1" in shown  # no password kept

    healthy = echo_model()
    assert run_cli(monkeypatch, ["runs", "resume", run_id, "--checkpoint-db", database,
                                 "--quiet"], healthy) == 0
    # resumed inside the document (nothing answered is asked again), in its style
    assert healthy.calls and not answered & {c.prompt for c in healthy.calls}
    assert all("academic" in c.prompt.lower() for c in healthy.calls)
    assert (tmp_path / f"{run_id}.out").read_text("utf-8").split() == _text(tag).split()
    with _open(database) as table:
        row = table.get(run_id)
    assert row is not None and row.status == "done" and (row.tokens or 0) > 0


class _open:
    """A RunsTable as a context manager (closed at exit)."""

    def __init__(self, database: str) -> None:
        self.table = RunsTable(database)

    def __enter__(self) -> RunsTable:
        return self.table

    def __exit__(self, *exc: object) -> None:
        self.table.close()


def test_a_run_started_from_python_cannot_be_resumed_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.sqlite")
    pipeline = ChunkWiseRephrasePipeline(echo_model(), checkpoint_db=db)
    pipeline.run(_text("python"), run_id="from-python")
    assert run_cli(monkeypatch, ["runs", "resume", "from-python", "--checkpoint-db", db]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "started from Python" in err[0]


def test_delete_frees_only_the_blobs_no_other_run_uses(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    shared_text, own_text = _text(f"shared {tag}"), _text(f"own {tag}")
    (tmp_path / "a.txt").write_text(shared_text + "\n\n" + own_text, "utf-8")
    (tmp_path / "b.txt").write_text(shared_text, "utf-8")
    model = echo_model(f"scripted-{tag}")
    for name in ("a", "b"):
        argv = _rephrase(tmp_path, database, f"{name}-{tag}", tmp_path / f"{name}.txt")
        assert run_cli(monkeypatch, argv, model) == 0
    store = open_blob_store(blob_location_for(database))
    own_key, b_doc = blob_key((tmp_path / "a.txt").read_text()), blob_key(shared_text)
    store.get(own_key)
    b_output = (tmp_path / f"b-{tag}.out").read_text("utf-8")

    assert run_cli(monkeypatch, ["runs", "delete", f"a-{tag}", "--checkpoint-db", database]) == 0
    with pytest.raises(KeyError):
        store.get(own_key)  # only run a used it
    assert store.get(b_doc) == shared_text and store.get(blob_key(b_output)) == b_output
    with _open(database) as table:
        assert table.get(f"a-{tag}") is None and table.get(f"b-{tag}") is not None
    # run b is whole: asking for it again returns its stored result with no model call
    paid = len(model.calls)
    argv = _rephrase(tmp_path, database, f"b-{tag}", tmp_path / "b.txt")
    assert run_cli(monkeypatch, argv, model) == 0 and len(model.calls) == paid
    if not is_postgres(database):  # nothing of run a is left in its files
        for path in tmp_path.glob("runs*.sqlite"):
            assert f"a-{tag}".encode() not in path.read_bytes()


def test_prune_deletes_old_runs_and_batches_with_their_documents(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tag = uuid.uuid4().hex[:8]
    write_jsonl(tmp_path / "docs.jsonl", docs(2, prefix=tag))
    batch = ["batch", "rephrase", "--input", str(tmp_path / "docs.jsonl"), "--output",
             str(tmp_path / "out.jsonl"), "--checkpoint-db", database, "--batch-id",
             f"old-{tag}", "--quiet"]
    assert run_cli(monkeypatch, batch, echo_model()) == 0
    assert len(rows(tmp_path / "out.jsonl")) == 2
    with _open(database) as table:  # make the batch a week old
        for row in [table.get(f"old-{tag}"), *table.find(parent=f"old-{tag}")]:
            assert row is not None
            table._execute("UPDATE chunkwise_runs SET updated = ? WHERE run_id = ?",
                           (time.time() - 8 * 86400, row.run_id))
    source = tmp_path / "new.txt"
    source.write_text(_text(tag), "utf-8")
    assert run_cli(monkeypatch, _rephrase(tmp_path, database, f"new-{tag}", source),
                   echo_model()) == 0

    capsys.readouterr()
    prune = ["runs", "prune", "--older-than", "7d", "--status", "done", "--checkpoint-db",
             database]
    assert run_cli(monkeypatch, [*prune, "--dry-run"]) == 0
    assert f"old-{tag}" in capsys.readouterr().out
    assert run_cli(monkeypatch, prune) == 0
    with _open(database) as table:
        assert table.get(f"old-{tag}") is None and not table.find(parent=f"old-{tag}")
        assert table.get(f"new-{tag}") is not None
    assert run_cli(monkeypatch, ["runs", "prune", "--older-than", "soon"]) == 2
