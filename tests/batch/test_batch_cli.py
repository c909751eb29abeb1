"""`chunkwise batch` on small inputs: rows, re-runs, failures, torn rows, Parquet, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from tests.generate.support import manual_plan, writer_model
from tests.paper2code.support import paper_model
from tests.rephrase.support import echo

from .support import docs, echo_model, rows, run_cli, write_jsonl


def _batch(tmp_path: Path, *more: str, output: str = "out.jsonl") -> list[str]:
    return ["batch", "rephrase", "--input", str(tmp_path / "docs.jsonl"),
            "--output", str(tmp_path / output), "--checkpoint-db", str(tmp_path / "runs.sqlite"),
            "--batch-id", "b", "--chunk-tokens", "256", "--quiet", *more]


def test_rows_rerun_and_single_document_share_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = docs(3)
    write_jsonl(tmp_path / "docs.jsonl", items)
    model = echo_model()
    assert run_cli(monkeypatch, _batch(tmp_path, "--report", str(tmp_path / "r.json")), model) == 0
    out = rows(tmp_path / "out.jsonl")
    assert set(out) == {"b.d0", "b.d1", "b.d2"}
    for item in items:
        row = out[f"b.{item['id']}"]
        assert row["status"] == "done" and row["error"] is None
        assert row["id"] == item["id"] and row["style"] == "faithful" and row["parts"] > 1
        assert " ".join(row["output"].split()) == item["text"]
        assert row["usage"]["calls"] == row["parts"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["total"], report["done"], report["failed"]) == (3, 3, 0)
    paid = len(model.calls)

    # the same command again: nothing to do, no model call
    assert run_cli(monkeypatch, _batch(tmp_path), model) == 0
    assert len(model.calls) == paid and rows(tmp_path / "out.jsonl") == out
    # without the output, the runs themselves are finished: still no model call
    (tmp_path / "out.jsonl").unlink()
    assert run_cli(monkeypatch, _batch(tmp_path), model) == 0
    assert len(model.calls) == paid and rows(tmp_path / "out.jsonl") == out
    # the single-document command resumes a document's run by its id
    source = tmp_path / "d1.txt"
    source.write_text(items[1]["text"], "utf-8")
    single = ["rephrase", "--input", str(source), "--output", str(tmp_path / "d1.out"),
              "--run-id", "b.d1", "--checkpoint-db", str(tmp_path / "runs.sqlite"), "--quiet"]
    assert run_cli(monkeypatch, single, model) == 0
    assert len(model.calls) == paid
    assert (tmp_path / "d1.out").read_text("utf-8") == out["b.d1"]["output"]


def test_a_failed_document_is_a_row_and_a_rerun_retries_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "docs.jsonl", docs(4))

    def fail(call: ScriptedCall) -> BaseException | None:
        return RuntimeError("provider down") if "document 2 " in call.prompt else None

    broken = ScriptedChatModel(responders={"rewrite": echo}, fail=fail)
    assert run_cli(monkeypatch, _batch(tmp_path, "--max-attempts", "1"), broken) == 1
    out = rows(tmp_path / "out.jsonl")
    assert [r["status"] for r in out.values()].count("done") == 3
    assert out["b.d2"]["status"] == "failed" and out["b.d2"]["output"] is None
    assert "provider down" in out["b.d2"]["error"]

    healthy = echo_model()
    assert run_cli(monkeypatch, _batch(tmp_path), healthy) == 0
    again = rows(tmp_path / "out.jsonl")  # one row per document: the failed row was replaced
    assert set(again) == set(out) and all(r["status"] == "done" for r in again.values())
    assert {r["run_id"] for r in again.values() if r != out[r["run_id"]]} == {"b.d2"}
    assert healthy.calls and all("document 2 " in c.prompt for c in healthy.calls)


def test_a_torn_last_row_is_dropped_and_its_document_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "docs.jsonl", docs(2))
    model = echo_model()
    assert run_cli(monkeypatch, _batch(tmp_path), model) == 0
    whole = (tmp_path / "out.jsonl").read_bytes()
    first, second = whole.splitlines(keepends=True)
    (tmp_path / "out.jsonl").write_bytes(first + second[: len(second) // 2])  # a cut write
    paid = len(model.calls)
    assert run_cli(monkeypatch, _batch(tmp_path), model) == 0
    assert len(model.calls) == paid  # its run had finished: the row comes back from the checkpoint
    assert sorted((tmp_path / "out.jsonl").read_bytes().splitlines()) == sorted(whole.splitlines())


def test_parquet_in_and_out_match_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    items = docs(3)
    write_jsonl(tmp_path / "docs.jsonl", items)
    parquet.write_table(pa.Table.from_pylist(items), tmp_path / "docs.parquet")
    model = echo_model()
    assert run_cli(monkeypatch, _batch(tmp_path), model) == 0
    argv = _batch(tmp_path, output="out.parquet")
    argv[argv.index("--input") + 1] = str(tmp_path / "docs.parquet")
    assert run_cli(monkeypatch, argv, model) == 0
    assert not (tmp_path / "out.parquet.journal.jsonl").exists()
    table = parquet.read_table(tmp_path / "out.parquet").to_pylist()
    expected = rows(tmp_path / "out.jsonl")
    assert {r["run_id"]: r["output"] for r in table} == {
        k: r["output"] for k, r in expected.items()
    }
    assert all(json.loads(r["usage"]) == expected[r["run_id"]]["usage"] for r in table)
    paid = len(model.calls)
    assert run_cli(monkeypatch, argv, model) == 0  # a finished parquet batch: nothing to do
    assert len(model.calls) == paid
    assert len(parquet.read_table(tmp_path / "out.parquet").to_pylist()) == 3


def test_styles_make_a_row_per_document_and_style(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "docs.jsonl", docs(2))
    assert run_cli(monkeypatch, _batch(tmp_path, "--styles", "faithful,academic"),
                   echo_model()) == 0
    out = rows(tmp_path / "out.jsonl")
    assert set(out) == {f"b.d{i}.{s}" for i in range(2) for s in ("faithful", "academic")}
    assert {r["style"] for r in out.values()} == {"faithful", "academic"}


def test_generate_rows_hold_a_brief_or_a_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = manual_plan(sections=2, words=60)
    write_jsonl(tmp_path / "briefs.jsonl", [
        {"id": "with-plan", "plan": plan},
        {"id": 7, **{k: plan[k] for k in ("topic", "objective")}, "target_words": 120},
    ])
    model = writer_model(plan=lambda call: plan)
    argv = ["batch", "generate", "--input", str(tmp_path / "briefs.jsonl"), "--output",
            str(tmp_path / "out.jsonl"), "--checkpoint-db", str(tmp_path / "runs.sqlite"),
            "--batch-id", "g", "--disable-consistency-pass", "--quiet"]
    assert run_cli(monkeypatch, argv, model) == 0
    out = rows(tmp_path / "out.jsonl")
    assert set(out) == {"g.with-plan", "g.7"} and out["g.7"]["id"] == 7
    assert all(r["status"] == "done" and r["words"] > 0 and r["output"] for r in out.values())


def test_paper2code_rows_hold_the_paper_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paper = Path(__file__).resolve().parents[2] / "examples" / "gated_mixer_paper.md"
    write_jsonl(tmp_path / "papers.jsonl", [{"id": "mixer", "text": paper.read_text("utf-8")}])
    argv = ["batch", "paper2code", "--input", str(tmp_path / "papers.jsonl"), "--output",
            str(tmp_path / "out.jsonl"), "--checkpoint-db", str(tmp_path / "runs.sqlite"),
            "--batch-id", "p", "--num-chunks", "3", "--quiet"]
    assert run_cli(monkeypatch, argv, paper_model()) == 0
    row = rows(tmp_path / "out.jsonl")["p.mixer"]
    assert row["status"] == "done" and "import torch" in row["output"]
    assert row["successful_chunks"] == row["num_chunks"] == 3
    assert row["paper_title"]


BAD_INPUTS = [
    ("missing", None, "no such file or folder"),
    ("no-id", [{"name": "x", "text": "t"}], "line 1: no 'id' field"),
    ("no-text", [{"id": "a", "text": "t"}, {"id": "b", "body": "t"}], "line 2: no 'text'"),
    ("duplicate", [{"id": "a", "text": "t"}, {"id": "a", "text": "u"}],
     "line 2: duplicate id 'a'"),
    ("json", '{"id": "a", "text": "t"}\n{"id": "b", "text": \n', "line 2: invalid JSON"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_exits_2_in_one_line_and_touches_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: object,
    message: str,
) -> None:
    if isinstance(content, list):
        write_jsonl(tmp_path / "docs.jsonl", content)
    elif isinstance(content, str):
        (tmp_path / "docs.jsonl").write_text(content, "utf-8")
    (tmp_path / "out.jsonl").write_text('{"run_id": "b.old", "status": "failed"}\n', "utf-8")
    before = (tmp_path / "out.jsonl").read_bytes()
    model = echo_model()
    assert run_cli(monkeypatch, _batch(tmp_path), model) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert (tmp_path / "out.jsonl").read_bytes() == before and not model.calls
    assert not (tmp_path / "runs.sqlite").exists()


def test_unknown_pipeline_and_unreachable_ray_exit_2_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "docs.jsonl", docs(1))
    argv = _batch(tmp_path)
    argv[1] = "summarize"
    assert run_cli(monkeypatch, argv, echo_model()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'summarize'" in err[0], err

    pytest.importorskip("ray")
    for address, where in (("127.0.0.1:9", "127.0.0.1:9"), ("ray://127.0.0.1:9", "ray://")):
        argv = _batch(tmp_path, "--ray", address, "--checkpoint-db", "postgresql://x@127.0.0.1:9/x")
        assert run_cli(monkeypatch, argv, echo_model()) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no Ray cluster reachable" in err[0] and where in err[0], err
    assert not (tmp_path / "out.jsonl").exists()


def test_ray_with_an_address_refuses_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "docs.jsonl", docs(1))
    assert run_cli(monkeypatch, _batch(tmp_path, "--ray", "10.0.0.1:6379"), echo_model()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs --checkpoint-db postgresql://" in err[0], err


def test_a_document_error_mentions_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-batch-0123456789abcdefghij"
    monkeypatch.setenv("LLM_API_KEY", secret)
    write_jsonl(tmp_path / "docs.jsonl", docs(1))
    broken = ScriptedChatModel(
        responders={"rewrite": echo}, fail=lambda call: RuntimeError(f"bad key {secret}")
    )
    assert run_cli(monkeypatch, _batch(tmp_path, "--max-attempts", "1"), broken) == 1
    data = (tmp_path / "out.jsonl").read_text("utf-8")
    assert "failed" in data and secret not in data
    assert secret.encode() not in (tmp_path / "runs.sqlite").read_bytes()
