"""The section loop holds up on weak models: repetition of earlier text is caught before the
state table records it and rewritten with the passages quoted, every prompt fits a small
context window (what was left out is reported), and the report says what a run cost per
1,000 words."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.models.settings import ModelSettings
from chunkwise.nodes.generate.budget import PROMPT_MARGIN, TEMPLATE_TOKENS
from chunkwise.prompts.measure import prompt_tokens
from chunkwise.text import qc
from tests.generate.conftest import Runner, text_of
from tests.generate.support import filler, manual_plan, section_of, section_text, writer_model

RECENT = re.compile(r"## End of the text so far\n<<<\n(.*?)\n>>>", re.DOTALL)


def test_a_writer_that_repeats_the_previous_section_is_caught_and_continued_with_the_quote(
    run_generate: Runner, tmp_path: Path
) -> None:
    def parrot(call: ScriptedCall) -> str:  # section 2 first copies the text so far
        if section_of(call) != 1:
            return section_text(call)
        match = RECENT.search(call.prompt)
        assert match is not None
        return match.group(1) + "\n\n" + section_text(call, ratio=0.5)

    model = writer_model(write=parrot, rewrite=section_text)
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]

    # the copied sentences were taken out before QC; what was left was short, so it was
    # continued (not rewritten) with the removed passages quoted
    assert not model.calls_for("qc_rewrite"), model.calls_for("qc_rewrite")[0].prompt[-1500:]
    (more,) = model.calls_for("qc_continue")
    first = text_of(tmp_path, result["sections"][0]["text_key"])
    quoted = qc.sentences(first)[2]  # the first long enough to count
    assert f'do not write again (it repeated earlier text): "{quoted}"' in more.prompt
    # caught before the state table recorded section 2: the update saw the kept text only
    order = [(c.task, section_of(c)) for c in model.calls if c.task != "consistency_check"]
    assert order[2:5] == [("section_generation", 1), ("qc_continue", 1), ("state_update", 1)]
    second = text_of(tmp_path, result["sections"][1]["text_key"])
    assert quoted not in second
    report = result["qc_report"]
    assert any(n.startswith('section 2 "Part 2": removed ') for n in report["removed_repeats"])
    assert report["passed"] and report["near_duplicate_count"] == 0
    assert report["repeated_ngram_rate"] < 0.02


def test_a_section_that_only_copies_the_text_so_far_is_left_out_not_kept(
    run_generate: Runner,
) -> None:
    def copier(call: ScriptedCall) -> str:  # section 3 copies the text so far, every time
        match = RECENT.search(call.prompt)
        if section_of(call) != 2 or match is None:
            return section_text(call)
        return match.group(1)

    model = writer_model(write=copier, qc_continue=copier)
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]
    assert len(model.calls_for("qc_continue")) == 1  # written afresh once, copied again
    report = result["qc_report"]
    assert any(n.startswith('section 3 "Part 3": left out: every sentence repeated earlier text')
               for n in report["removed_repeats"]), report["removed_repeats"]
    assert report["near_duplicate_count"] == 0 and report["repeated_ngram_rate"] < 0.02
    assert [section_of(c) for c in model.calls_for("state_update")] == [0, 1]
    assert not [c for c in model.calls_for("consistency_pass") if section_of(c) == 2]


def test_a_section_looping_over_its_own_paragraph_loses_the_loop_and_is_continued(
    run_generate: Runner, tmp_path: Path
) -> None:
    def looping(call: ScriptedCall) -> str:
        half = section_text(call, ratio=0.5)
        return half + "\n\n" + half if section_of(call) == 0 else section_text(call)

    model = writer_model(write=looping, rewrite=section_text)
    result = run_generate({"manual_plan": manual_plan(2)}, model).values["result"]
    (more,) = model.calls_for("qc_continue")
    assert "do not write again (it repeated earlier text): \"" in more.prompt
    first = text_of(tmp_path, result["sections"][0]["text_key"])
    assert not qc.self_repeats(first)
    assert result["qc_report"]["passed"]


def test_a_section_far_past_its_target_loses_its_last_sentences_unless_a_point_needs_them(
    run_generate: Runner, tmp_path: Path
) -> None:
    def long_winded(call: ScriptedCall) -> str:  # twice the target; points first, or last
        if section_of(call) == 0:
            return section_text(call, ratio=2.0)
        # its key point and name only at the very end
        return filler(220, "pad") + " Rotating prism number 2. It concerns Skerry Light 2."

    model = writer_model(write=long_winded)
    result = run_generate({"manual_plan": manual_plan(2)}, model).values["result"]
    first, second = result["sections"]
    assert first["words"] <= 1.25 * 120 and first["words"] >= 120
    assert any(n.startswith("cut from ") and "target 120" in n for n in first["notes"])
    (cut,) = result["qc_report"]["length_cuts"]
    assert re.match(r'section 1 "Part 1": cut from 2\d\d to 1\d\d words \(target 120\)', cut)
    assert second["words"] > 1.25 * 120  # cutting would lose its key point: kept whole
    assert not any(n.startswith("cut from ") for n in second["notes"])
    text = text_of(tmp_path, first["text_key"])
    assert qc.trim_unfinished(text) == text  # it ends on a whole sentence
    assert not model.calls_for("qc_rewrite") and not model.calls_for("qc_continue")


def test_a_short_section_is_continued_only_when_qc_fails_and_rewritten_when_a_rule_breaks(
    run_generate: Runner,
) -> None:
    # 70% of the target passes QC (S_l 79): no further call
    model = writer_model(write=lambda call: section_text(call, ratio=0.7))
    result = run_generate({"manual_plan": manual_plan(2)}, model).values["result"]
    assert result["qc_report"]["passed"]
    assert not model.calls_for("qc_continue") and not model.calls_for("qc_rewrite")

    # 40% fails on length; with a forbidden word in it, adding words cannot fix it: rewritten
    def smuggler(call: ScriptedCall) -> str:
        text = section_text(call, ratio=0.4)
        return text + " Smuggling was common." if section_of(call) == 0 else text

    model = writer_model(write=smuggler, rewrite=section_text)
    run_generate({"manual_plan": manual_plan(2)}, model, run_id="rule")
    assert [section_of(c) for c in model.calls_for("qc_rewrite")] == [0]
    assert [section_of(c) for c in model.calls_for("qc_continue")] == [1]


def test_new_points_said_in_an_earlier_sentences_frame_are_kept_not_left_out(
    run_generate: Runner, tmp_path: Path
) -> None:
    frame = "is a common bad habit of lighthouse keepers on the northern coast"

    def templated(call: ScriptedCall) -> str:  # each sentence: a new point, the same frame
        habits = [["Sleeping on watch", "Skipping the logbook"],
                  ["Letting the wick smoke", "Ignoring the fog horn", "Leaving the lens dirty"]]
        return " ".join(f"{h} {frame}." for h in habits[section_of(call)])

    model = writer_model(write=templated)
    result = run_generate({"manual_plan": manual_plan(2)}, model, max_retries=0).values["result"]
    second = text_of(tmp_path, result["sections"][1]["text_key"])
    assert "Ignoring the fog horn" in second  # not left out as a copy
    assert not any("left out" in n for n in result["qc_report"]["removed_repeats"])


def _rich_update(call: ScriptedCall) -> dict[str, Any]:
    """A state update that fills the table: many long facts and names per section."""
    index = section_of(call) + 1
    return {
        "new_entities": [{"name": f"Keeper {index}-{k}", "note": filler(12, f"n{index}{k}")}
                         for k in range(10)],
        "facts": [filler(30, f"f{index}{k}") for k in range(10)],
        "terms": [f"term {index}-{k}" for k in range(10)],
        "open_threads": [filler(20, f"t{index}{k}") for k in range(5)],
        "summary": filler(70, f"s{index}"),
    }


def test_prompts_that_would_overflow_a_small_window_are_trimmed_and_reported(
    run_generate: Runner,
) -> None:
    window = 2600
    model = writer_model(state_update=_rich_update)
    settings = ModelSettings(cache=False, max_attempts=1, context_window=window)
    result = run_generate({"manual_plan": manual_plan(4, 250)}, model, models=settings,
                          prefix_window_tokens=1200).values["result"]

    # no call was skipped: every section written, every table update made (the last section's
    # is derived without a call)
    assert [section_of(c) for c in model.calls_for("section_generation")] == [0, 1, 2, 3]
    assert [section_of(c) for c in model.calls_for("state_update")] == [0, 1, 2]
    for call in model.calls_for("section_generation") + model.calls_for("state_update"):
        size = prompt_tokens(call.messages) * PROMPT_MARGIN + TEMPLATE_TOKENS
        assert size < window, (call.task, size)
    report = result["qc_report"]
    trims = report["prompt_trims"]
    assert any("state table shortened" in t for t in trims)
    assert any(re.search(r"prefix window cut from \d+ to \d+ tokens", t) for t in trims)
    assert not any(t.startswith('section 1 "Part 1"') for t in trims)  # nothing to cut there
    assert report["context_window"] == window
    assert 0 < report["largest_prompt_tokens"] <= window
    last = model.calls_for("section_generation")[-1].prompt
    assert "Skerry Light 4" in last and "Length: about 250 words." in last  # the brief stays
    assert result["success"] and report["passed"]


def test_the_report_gives_calls_and_seconds_per_thousand_words(run_generate: Runner) -> None:
    model = writer_model()
    report = run_generate({"manual_plan": manual_plan(3, 200)}, model).values["result"][
        "qc_report"]
    # writes, updates of all but the last section, two checks
    assert report["calls"] == len(model.calls) == 3 + 2 + 2
    assert report["calls_per_1000_words"] == round(1000 * report["calls"] / report["words"], 1)
    assert report["seconds"] > 0
    assert report["seconds_per_1000_words"] > 0


def test_a_prompt_the_model_still_refuses_for_its_length_is_refitted_not_skipped(
    run_generate: Runner,
) -> None:
    refused: list[int] = []

    def overflow_once(call: ScriptedCall) -> BaseException | None:
        """The model's own tokenizer counts more than cl100k: section 2's prompt is refused."""
        if call.task == "section_generation" and section_of(call) == 1 and not refused:
            refused.append(len(call.prompt))
            return ValueError("prompt of 8422 tokens exceeds the model's context length")
        return None

    model = writer_model(state_update=_rich_update, fail=overflow_once)
    settings = ModelSettings(cache=False, max_attempts=1, context_window=4000)
    result = run_generate({"manual_plan": manual_plan(3, 250)}, model, models=settings).values[
        "result"]
    writes = [c for c in model.calls_for("section_generation") if section_of(c) == 1]
    assert len(writes) == 2 and len(writes[1].prompt) < refused[0]  # sent again, smaller
    trims = result["qc_report"]["prompt_trims"]
    assert any(t.startswith('section 2 "Part 2": refitted into 75% of its') for t in trims)
    assert result["qc_report"]["passed"]


OVERUSED = re.compile(r"## Phrases already used too often[^\n]*\n((?:- .*\n?)+)")


def test_the_next_section_is_told_the_phrases_already_used_too_often(
    run_generate: Runner,
) -> None:
    def framed(call: ScriptedCall) -> str:  # section 1 says every point in one frame
        if section_of(call) != 0:
            return section_text(call)
        return (section_text(call) + " Fog can lead to a lack of light for passing trawlers "
                "at dusk. Salt air can lead to a cracked lamp housing on the gallery. Each "
                "rotating prism number turns. Each rotating prism number 1 shines.")

    model = writer_model(write=framed)
    run_generate({"manual_plan": manual_plan(3)}, model)
    first, second, _ = (c.prompt for c in model.calls_for("section_generation"))
    assert OVERUSED.search(first) is None  # nothing written yet: no list
    listed = OVERUSED.search(second)
    assert listed is not None, second[-1200:]
    assert '"can lead to a"' in listed.group(1)
    assert "rotating prism" not in listed.group(1)  # a key point's words must be written again


def test_a_sentence_mostly_made_of_earlier_wording_is_taken_out_before_qc(
    run_generate: Runner, tmp_path: Path
) -> None:
    said = "The keeper climbed the tower stairs every night before the lamp was lit."
    # 5 of its 12 word 5-grams (42%) were already used: under the old 50% share it stayed
    again = ("The keeper climbed the tower stairs every night before counting the gulls over "
             "the grey bay.")

    def writer(call: ScriptedCall) -> str:
        extra = said if section_of(call) == 0 else again if section_of(call) == 1 else ""
        return f"{section_text(call)} {extra}".strip()

    model = writer_model(write=writer)
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]
    second = text_of(tmp_path, result["sections"][1]["text_key"])
    assert "counting the gulls" not in second and section_text(model.calls_for(
        "section_generation")[1])[:40] in second
    assert any("night before counting" in r for r in result["qc_report"]["removed_repeats"]), (
        result["qc_report"]["removed_repeats"])


def test_the_writer_is_kept_from_copying_the_sections_before_where_the_backend_can(
    run_generate: Runner, tmp_path: Path
) -> None:
    model = ScriptedChatModel(responders=writer_model().responders, prose_repetition="DRY")
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]
    texts = [text_of(tmp_path, s["text_key"]) for s in result["sections"]]
    writes = {section_of(c): c.history for c in model.calls_for("section_generation")}
    assert writes[0] == ""  # nothing before the first section
    assert writes[1] == texts[0].strip()
    assert writes[2] == texts[0].strip() + "\n\n" + texts[1].strip()
    # structured calls (state updates, checks) are not prose: no history
    assert all(c.history == "" for c in model.calls if c.task != "section_generation")
