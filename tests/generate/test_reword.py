"""The reword pass: a sentence reusing wording read before it gets one call, and the reply
replaces it only when it repeats less, keeps its facts and leaves the section's QC no worse."""

from __future__ import annotations

from pathlib import Path

from chunkwise.models.scripted import ScriptedCall
from chunkwise.prompts.generate import reword_messages
from tests.generate.conftest import Runner, text_of
from tests.generate.support import manual_plan, section_of, section_text, writer_model

FRAME = "Keepers can be used to watch the coast at night."  # section 1 says it first
STORM = "Crews can be used to watch the coast in a winter storm when ships were lost."
REEFS = "Boats can be used to watch the coast near 12 reefs when the tide ran out."
BELLS = "Boys can be used to watch the coast by the bells when the fog came down."
REPLIES = {
    STORM: "Reworded sentence: In a winter storm the crews kept an eye on the shore for lost "
           "ships.",
    REEFS: "The boats patrolled the shallows by the reefs at low tide.",  # the 12 is lost...
    BELLS: "When fog came down the boys listened for smuggling boats by the bells.",  # forbidden
}


def _write(call: ScriptedCall) -> str:
    if section_of(call) == 0:
        return f"{section_text(call)} {FRAME}"
    return f"{section_text(call, ratio=0.6)} {STORM}\n\n{REEFS} {BELLS}"


# ... and kept when shown the loss
SECOND_TRY = "At low tide the boats kept a watch on the shore near the 12 reefs."


def _reword(call: ScriptedCall) -> str:
    sentence = section_of_reword(call)
    if sentence == REEFS and "Not this" in call.prompt:
        return SECOND_TRY
    return REPLIES[sentence]


def test_a_sentence_reusing_earlier_wording_is_reworded_and_a_reply_that_loses_is_not_kept(
    run_generate: Runner, tmp_path: Path
) -> None:
    model = writer_model(write=_write, reword=_reword)
    result = run_generate({"manual_plan": manual_plan(2)}, model).values["result"]

    calls = model.calls_for("reword")
    assert [section_of_reword(c) for c in calls] == [STORM, REEFS, REEFS, BELLS, BELLS]
    assert '"can be used to watch the coast"' in calls[0].prompt  # the reused words, quoted
    # a refused reply is shown to the second try, which is not asked twice the same
    assert "Not this" not in calls[1].prompt
    assert f"Not this, which still repeats the text or loses a fact or name: {REPLIES[REEFS]}" in (
        calls[2].prompt)
    first = text_of(tmp_path, result["sections"][0]["text_key"])
    second = text_of(tmp_path, result["sections"][1]["text_key"])
    assert FRAME in first  # the first use is no repeat
    assert "In a winter storm the crews kept an eye on the shore for lost ships." in second
    assert STORM not in second
    assert REEFS not in second and SECOND_TRY in second  # its first reply lost the number 12
    assert BELLS in second and "smuggling" not in second  # both replies broke a plan rule
    assert second.endswith(f"\n\n{SECOND_TRY} {BELLS}")  # the rest stays exactly as written
    report = result["qc_report"]
    assert [n.split(": ", 1)[1][:70] for n in report["reworded_sentences"]] == [
        f'reworded a sentence that reused earlier wording: "{s}'[:70] for s in (STORM, REEFS)]
    assert report["passed"]


def section_of_reword(call: ScriptedCall) -> str:
    return next(s for s in REPLIES if f"Sentence to reword: {s}" in call.prompt)


def test_no_reword_calls_when_the_pass_is_off(run_generate: Runner, tmp_path: Path) -> None:
    model = writer_model(write=_write, reword=_reword)
    result = run_generate({"manual_plan": manual_plan(2)}, model,
                          reword_repeats=False).values["result"]
    assert not model.calls_for("reword")
    assert STORM in text_of(tmp_path, result["sections"][1]["text_key"])
    assert result["qc_report"]["reworded_sentences"] == []


def test_a_sentence_opening_with_a_repeated_phrase_is_asked_for_another_opening() -> None:
    prompt = reword_messages("Keepers can be used to watch the coast in a storm.", "",
                             ["Keepers can be used to watch the coast"])[-1].content
    assert 'Do not start with "Keepers can be used to watch the coast"' in prompt
    inside = reword_messages(STORM, "", ["can be used to watch the coast"])[-1].content
    assert "Do not start" not in inside


def test_a_model_that_cannot_reword_leaves_the_text_as_written_with_a_warning(
    run_generate: Runner, tmp_path: Path
) -> None:
    def unknown_task(call: ScriptedCall) -> str:  # an original-API model knows no "reword"
        raise ValueError(f"unknown task {call.task}")

    model = writer_model(write=_write, reword=unknown_task)
    result = run_generate({"manual_plan": manual_plan(2)}, model).values["result"]
    assert len(model.calls_for("reword")) == 1  # the pass stops at the first failure
    assert STORM in text_of(tmp_path, result["sections"][1]["text_key"])
    report = result["qc_report"]
    assert report["reworded_sentences"] == []
    assert any(w.startswith("reword pass stopped at section 2") for w in
               report["section_warnings"]), report["section_warnings"]
