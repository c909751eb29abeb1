"""`chunkwise rephrase` with a scripted model: exact files, reports, styles, resume, errors."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chunkwise.cli import main
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.prompts.rephrase import STYLES
from chunkwise.text.loaders import load_document
from tests.rephrase.support import chunk_of, echo, model, request_of, upper

REPO = Path(__file__).resolve().parents[2]


Install = Callable[[ScriptedChatModel], ScriptedChatModel]


@pytest.fixture
def use_model(monkeypatch: pytest.MonkeyPatch) -> Install:
    """Make the command use a scripted model for every role (its hidden test hook)."""

    def install(scripted: ScriptedChatModel) -> ScriptedChatModel:
        monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", scripted)
        return scripted

    return install


def rephrase(tmp_path: Path, source: Path, *flags: str) -> int:
    return main(
        [
            "rephrase",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "out.txt"),
            "--report",
            str(tmp_path / "report.json"),
            "--checkpoint-db",
            str(tmp_path / "runs.sqlite"),
            "--quiet",
            "--no-cache",
            *flags,
        ]
    )


def test_echo_writes_the_input_file_back_byte_for_byte(
    shared: Path, tmp_path: Path, use_model: Install, capsys: pytest.CaptureFixture[str]
) -> None:
    book = shared / "corpus/books/pride_and_prejudice.txt"  # UTF-8 with a BOM, CRLF
    use_model(model(echo))
    code = main(
        [
            "rephrase",
            "--input",
            str(book),
            "--output",
            str(tmp_path / "out.txt"),
            "--report",
            str(tmp_path / "report.json"),
            "--checkpoint-db",
            str(tmp_path / "runs.sqlite"),
            "--chunk-tokens",
            "4096",
            "--overlap-tokens",
            "256",
            "--run-id",
            "pp",
        ]
    )
    assert code == 0
    assert (tmp_path / "out.txt").read_bytes() == book.read_bytes()
    err = capsys.readouterr().err
    assert "rewriter model: ScriptedChatModel (given in Python)" in err
    assert "run id: pp" in err and "all passed verification" in err
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert report["run_id"] == "pp" and report["flagged"] == []
    assert len(report["chunks"]) == report["totals"]["chunks"] > 20
    first = report["chunks"][0]
    assert {"index", "tokens_in", "tokens_out", "checks", "retries", "seconds"} <= set(first)
    assert report["totals"]["tokens_sent"] > report["totals"]["input_tokens"] > 150_000


def test_latin1_file_stays_latin1(shared: Path, tmp_path: Path, use_model: Install) -> None:
    speech = shared / "corpus/speeches/1954-Eisenhower.txt"
    raw = speech.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    use_model(model(echo))
    assert rephrase(tmp_path, speech) == 0
    assert (tmp_path / "out.txt").read_bytes() == raw
    use_model(model(upper))
    assert rephrase(tmp_path, speech, "--run-id", "upper") == 0
    assert (tmp_path / "out.txt").read_bytes() == raw.decode("cp1252").upper().encode("cp1252")


def test_several_styles_write_one_file_each(shared: Path, tmp_path: Path, use_model) -> None:
    source = shared / "corpus/textbook/lstm.md"
    scripted = use_model(model(echo))
    assert rephrase(tmp_path, source, "--styles", "simpler,qa,study-notes") == 0
    for style in ("simpler", "question-answer", "study-notes"):
        assert (tmp_path / f"out.{style}.txt").read_bytes() == source.read_bytes()
        report = json.loads((tmp_path / f"report.{style}.json").read_text("utf-8"))
        assert report["style"] == style and report["output"].endswith(f"out.{style}.txt")
    used = {request_of(c).style_instruction for c in scripted.calls_for("rewrite")}
    assert used == {STYLES[s].instruction for s in ("simpler", "question-answer", "study-notes")}


def test_custom_instruction_and_judge(shared: Path, tmp_path: Path, use_model: Install) -> None:
    source = shared / "corpus/speeches/1945-Truman.txt"
    scripted = use_model(model(echo, judge_rewrite=lambda c: {"score": 5, "reasons": []}))
    code = rephrase(
        tmp_path,
        source,
        "--style-instruction",
        "Rewrite for a ten-year-old.",
        "--judge",
        "--max-retries",
        "0",
    )
    assert code == 0
    assert {request_of(c).style_instruction for c in scripted.calls_for("rewrite")} == {
        "Rewrite for a ten-year-old."
    }
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert len(scripted.calls_for("judge_rewrite")) == report["totals"]["chunks"]
    assert all(any(c["name"] == "judge" for c in ch["checks"]) for ch in report["chunks"])


def test_crash_then_resume_with_the_same_run_id(
    shared: Path, tmp_path: Path, use_model: Install, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shared / "corpus/speeches/1963-Johnson.txt"
    failures = {"left": 1}

    def fail(call: ScriptedCall) -> BaseException | None:
        if call.task == "rewrite" and chunk_of(call) == 3 and failures["left"]:
            failures["left"] -= 1
            return ValueError("simulated outage")
        return None

    scripted = model(echo)
    scripted.fail = fail
    use_model(scripted)
    assert rephrase(tmp_path, source, "--run-id", "speech") == 1
    err = capsys.readouterr().err
    assert "simulated outage" in err and "--run-id speech" in err and "Traceback" not in err
    assert not (tmp_path / "out.txt").exists()
    assert rephrase(tmp_path, source, "--run-id", "speech") == 0
    assert (tmp_path / "out.txt").read_bytes() == source.read_bytes()
    done = [chunk_of(c) for c in scripted.calls_for("rewrite")]
    assert done.count(0) == done.count(1) == done.count(2) == 1 and done.count(3) == 2


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("flags", "data", "message"),
    [
        ((), b"", "file is empty"),
        ((), b" \r\n\r\n ", "file is empty"),
        ((), b"\x00\x01\x02binary\x00" * 50, "binary"),
        (("--chunk-tokens", "256", "--overlap-tokens", "256"), b"text", "must be smaller than"),
        (("--prefix-window-tokens", "0"), b"text", "--prefix-window-tokens must be at least 1"),
        (("--style", "poetic"), b"text", "unknown style 'poetic'"),
        (("--styles", "simpler,limerick"), b"text", "unknown style 'limerick'"),
        (("--chunk-tokens", "64"), b"text", "--chunk-tokens must be at least 256"),
        (("--checks", "numbers,spelling"), b"text", "unknown fidelity check 'spelling'"),
        (("--max-retries", "-1"), b"text", "--max-retries must not be negative"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    use_model: Install,
    flags: tuple[str, ...],
    data: bytes,
    message: str,
) -> None:
    scripted = use_model(model(echo))
    source = _write(tmp_path, "in.txt", data)
    assert rephrase(tmp_path, source, *flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("chunkwise: error: ") and message in err
    assert len(err.splitlines()) == 1 and scripted.calls == []


def test_missing_input_and_same_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rephrase(tmp_path, tmp_path / "nope.txt") == 2
    assert "nope.txt: file not found" in capsys.readouterr().err
    source = _write(tmp_path, "out.txt", b"text")
    assert rephrase(tmp_path, source) == 2
    assert "--output must not be the --input file" in capsys.readouterr().err


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    source = _write(tmp_path, "in.bin.txt", bytes(range(256)) * 8)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chunkwise.cli",
            "rephrase",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "out.txt"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("chunkwise: error: ")
    assert "binary" in result.stderr and "Traceback" not in result.stderr


SENTENCES = "".join(f"Sentence {i} says something about item {i}. " for i in range(400))


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF16_LE + SENTENCES.replace(". ", ".\r\n").encode("utf-16-le"),
        codecs.BOM_UTF16_BE + SENTENCES.encode("utf-16-be"),
        SENTENCES.replace(". ", ".\r").encode("ascii"),  # old Mac line ends
        SENTENCES.replace("item 7", "item\r\n7").replace(". ", ".\n").encode("ascii"),  # mixed
        ("Café façade – naïve “quotes”. " * 300).encode("cp1252"),
    ],
    ids=["utf16le-crlf", "utf16be", "cr", "mixed-newlines", "cp1252"],
)
def test_file_forms_survive_an_echo(tmp_path: Path, use_model: Install, data: bytes) -> None:
    use_model(model(echo))
    source = _write(tmp_path, "in.txt", data)
    assert rephrase(tmp_path, source) == 0
    assert (tmp_path / "out.txt").read_bytes() == data


def test_new_characters_the_encoding_lacks_fall_back_to_utf8(
    tmp_path: Path, use_model: Install, capsys: pytest.CaptureFixture[str]
) -> None:
    use_model(model(lambda call: request_of(call).current_chunk.replace("Café", "Café ☕")))
    source = _write(tmp_path, "in.txt", ("Café au lait. " * 200).encode("cp1252"))
    assert (
        main(
            [
                "rephrase",
                "--input",
                str(source),
                "--output",
                str(tmp_path / "out.txt"),
                "--checkpoint-db",
                str(tmp_path / "runs.sqlite"),
                "--checks",
                "numbers",
            ]
        )
        == 0
    )
    assert "☕" in (tmp_path / "out.txt").read_text("utf-8")
    assert "cp1252 lacks" in capsys.readouterr().err


def test_pdf_input_is_rewritten_from_its_text(
    shared: Path, tmp_path: Path, use_model: Install
) -> None:
    pdf = shared / "papers/attention/Transformer.pdf"
    if not pdf.is_file():
        pytest.skip("Transformer.pdf is not in ../shared")
    use_model(model(upper))
    assert rephrase(tmp_path, pdf, "--chunk-tokens", "2048", "--overlap-tokens", "128") == 0
    assert (tmp_path / "out.txt").read_text("utf-8") == load_document(pdf).text.upper()
