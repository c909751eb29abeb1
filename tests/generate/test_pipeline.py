"""generate end to end with scripted models: loop order, state table, QC, retries, consistency,
planning and resume under a real SQLite checkpoint file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from chunkwise.errors import InputError
from chunkwise.graphs.generate import PIPELINE, graph
from chunkwise.models.retry import ModelCallError
from chunkwise.models.scripted import ScriptedCall
from chunkwise.runtime.checkpoint import open_checkpointer
from chunkwise.runtime.runner import run_config
from chunkwise.text import qc
from tests.generate.conftest import Runner, text_of
from tests.generate.support import (
    body_of,
    filler,
    manual_plan,
    section_of,
    section_text,
    writer_model,
)


def tasks(model: Any) -> list[tuple[str, int | None]]:
    out = []
    for call in model.calls:
        index = section_of(call) if call.task != "plan_generation" else None
        out.append((call.task, index))
    return out


def test_graph_is_exported_compiled_with_narrow_schemas() -> None:
    assert set(graph.get_input_jsonschema()["properties"]) == {
        "manual_plan", "topic", "objective", "audience", "tone", "target_words"}
    assert set(graph.get_output_jsonschema()["properties"]) == {"result"}
    assert "writer_model" in graph.get_context_jsonschema()["properties"]
    assert graph.checkpointer is None


def test_sections_are_written_in_order_each_followed_by_its_state_update(
    run_generate: Runner, tmp_path: Path
) -> None:
    model = writer_model()
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]

    loop = tasks(model)[:5]
    # the last section's state update is derived without a call: nothing is written after it
    assert loop == [("section_generation", 0), ("state_update", 0),
                    ("section_generation", 1), ("state_update", 1),
                    ("section_generation", 2)]
    # sections that passed QC are checked against what later sections established: the last
    # one, with nothing after it, needs no call
    assert sorted(tasks(model)[5:]) == [("consistency_check", i) for i in range(2)]
    assert result["success"] and result["qc_report"]["passed"]
    final = text_of(tmp_path, result["final_text_key"])
    parts = [text_of(tmp_path, s["text_key"]) for s in result["sections"]]
    assert final == "\n\n".join(parts)
    assert [final.index(f"Skerry Light {i}") for i in (1, 2, 3)] == sorted(
        final.index(f"Skerry Light {i}") for i in (1, 2, 3))


def test_state_table_grows_and_reaches_later_prompts(run_generate: Runner) -> None:
    model = writer_model()
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]

    prompts = [c.prompt for c in model.calls_for("section_generation")]
    assert "Nothing written yet." in prompts[0]
    assert "Keeper1: introduced in 1" in prompts[1] and "Keeper2" not in prompts[1]
    assert "Keeper1" in prompts[2] and "Keeper2" in prompts[2]
    assert "fact from section 2" in prompts[2] and "summary after section 2" in prompts[2]
    assert "thread 2" in prompts[2] and "thread 1" not in prompts[2]  # threads are replaced
    table = result["state_table"]
    # the last section's entry is derived from its text (its required name, no model call)
    assert [e["name"] for e in table["entities"]] == ["Keeper1", "Keeper2", "Skerry Light 3"]
    assert table["facts"][:2] == [f"fact from section {i}" for i in (1, 2)]
    assert table["terminology"][:2] == ["term1", "term2"]
    assert table["sections_done"] == 3
    # the judge checks each passed section against what came after it
    first, second = sorted(model.calls_for("consistency_check"), key=section_of)
    assert "Keeper2: introduced in 2" in first.prompt and "Skerry Light 3" in first.prompt
    assert "Skerry Light 3" in second.prompt and "Keeper1" not in second.prompt


def test_prefix_window_holds_the_last_tokens_of_the_text_so_far(
    run_generate: Runner, tmp_path: Path
) -> None:
    model = writer_model()
    result = run_generate({"manual_plan": manual_plan(3)}, model, prefix_window_tokens=20,
                          tokenizer="whitespace").values["result"]
    first, second = (text_of(tmp_path, s["text_key"]) for s in result["sections"][:2])
    third_prompt = model.calls_for("section_generation")[2].prompt
    window = re.search(r"End of the text so far\n<<<\n(.*?)\n>>>", third_prompt, re.DOTALL)
    assert window is not None
    assert window.group(1).split() == (first + "\n\n" + second).split()[-20:]
    assert "nothing yet" in model.calls_for("section_generation")[0].prompt


def test_prompts_forbid_conclusions_in_middle_sections(run_generate: Runner) -> None:
    model = writer_model()
    run_generate({"manual_plan": manual_plan(3)}, model)
    first, middle, last = (c.prompt for c in model.calls_for("section_generation"))
    assert "opening section" in first and "Do not conclude" in first
    assert "middle section: do not conclude" in middle
    assert "last section: bring the whole text to a close" in last
    for prompt in (first, middle, last):
        assert 'write "lighthouse", never "light house"' in prompt
        assert "Never mention: smuggling" in prompt
        assert "Length: about 120 words." in prompt


def test_a_section_failing_qc_is_rewritten_with_its_problems(run_generate: Runner) -> None:
    def forgetful(call: ScriptedCall) -> str:  # section 2 first comes without its entity
        text = section_text(call)
        return text.replace("Skerry Light 2", "the light") if section_of(call) == 1 else text

    model = writer_model(write=forgetful, rewrite=section_text)
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]

    (rewrite,) = model.calls_for("qc_rewrite")
    assert section_of(rewrite) == 1
    assert "required entity not named: Skerry Light 2" in rewrite.prompt
    assert "It concerns the light." in rewrite.prompt  # the draft is shown
    assert [s["attempts"] for s in result["sections"]] == [1, 2, 1]
    assert result["qc_report"]["passed"]
    # the state update records the accepted text, written before the next section
    assert tasks(model)[2:5] == [("section_generation", 1), ("qc_rewrite", 1),
                                 ("state_update", 1)]


def test_a_rewrite_that_makes_qc_worse_is_discarded_and_rewriting_stops(
    run_generate: Runner, tmp_path: Path
) -> None:
    def worse(call: ScriptedCall) -> str:  # every rewrite is short and misses everything
        return filler(24, call.task)

    def missing_entity(call: ScriptedCall) -> str:
        text = section_text(call)
        return text.replace("Skerry Light 2", "the light") if section_of(call) == 1 else text

    model = writer_model(write=missing_entity, rewrite=worse)
    result = run_generate({"manual_plan": manual_plan(3)}, model, max_retries=2,
                          consistency_pass=False).values["result"]

    # the same prompt would get the same answer: one rewrite that does not improve ends it
    assert len(model.calls_for("qc_rewrite")) == 1
    second = result["sections"][1]
    assert second["attempts"] == 2
    assert second["problems"] == ["required entity not named: Skerry Light 2"]  # the first one
    assert "It concerns the light." in text_of(tmp_path, second["text_key"])
    assert result["qc_report"]["entity_missing"] == ['section 2 "Part 2": Skerry Light 2']
    (discarded,) = result["qc_report"]["discarded_rewrites"]
    assert discarded.startswith('section 2 "Part 2": rewrite 1 discarded: it scored worse')
    assert not result["qc_report"]["passed"]


def test_rewrites_go_on_while_they_improve_up_to_max_retries(
    run_generate: Runner, tmp_path: Path
) -> None:
    def missing(call: ScriptedCall) -> str:  # each rewrite fixes one of two missing names
        text = section_text(call)
        if section_of(call) != 1:
            return text
        fixed = len(model.calls_for("qc_rewrite"))
        for name in ("Skerry Light 2", "rotating prism number 2")[fixed:]:
            text = text.replace(name[0].upper() + name[1:], "it").replace(name, "it")
        return text

    model = writer_model(write=missing, rewrite=missing)
    result = run_generate({"manual_plan": manual_plan(3)}, model, max_retries=1,
                          consistency_pass=False).values["result"]
    (rewrite,) = model.calls_for("qc_rewrite")
    assert "required entity not named: Skerry Light 2" in rewrite.prompt
    assert "key point not covered: rotating prism number 2" in rewrite.prompt
    second = result["sections"][1]
    assert second["attempts"] == 2  # max_retries=1 ends it
    assert second["problems"] == ["key point not covered: rotating prism number 2"]
    assert result["qc_report"]["discarded_rewrites"] == []


def test_qc_detects_planted_defects(run_generate: Runner, tmp_path: Path) -> None:
    def planted(call: ScriptedCall) -> str:
        index = section_of(call)
        text = section_text(call)
        if index == 0:
            return text.replace("Skerry Light 1", "a light")  # missing entity
        if index == 1:  # sentences of section 1 repeated
            return text + "\n\n" + filler(60, "0-section_generation")[:400]
        if index == 2:
            return text + " Some smuggling went on in the light house."  # forbidden + term
        return section_text(call, ratio=0.5)  # far off its length

    model = writer_model(write=planted)
    result = run_generate({"manual_plan": manual_plan(4)}, model, max_retries=0,
                          consistency_pass=False).values["result"]
    report = result["qc_report"]

    assert report["entity_missing"] == ['section 1 "Part 1": Skerry Light 1']
    assert 'section 1 "Part 1": entity: Skerry Light 1' in report["coverage_missing"]
    # without a rewrite left, the repeated sentences are taken out of the kept text
    (removed,) = report["removed_repeats"]
    assert re.match(r'section 2 "Part 2": removed [3-6] repeated sentence\(s\): "', removed)
    final = text_of(tmp_path, result["final_text_key"])
    assert qc.near_duplicates(final.split("\n\n")) == []
    assert report["repetition_issues"] == [] and report["near_duplicate_count"] == 0
    assert report["do_not_include_violations"] == ['section 3 "Part 3": "smuggling" mentioned 1x']
    assert report["terminology_issues"] == [
        'section 3 "Part 3": "light house" used 1x instead of "lighthouse"']
    assert len(report["length_issues"]) == 1 and report["length_issues"][0].startswith(
        'section 4 "Part 4": 60 words for 120 (S_l 50)')
    assert [s["passed"] for s in report["sections"]] == [False, True, False, False]
    assert report["sections"][3]["length_score"] == 50.0  # 100 * (1 - (120/60 - 1)/2)
    assert not report["passed"]


def test_middle_sections_that_conclude_are_flagged(run_generate: Runner) -> None:
    def concluding(call: ScriptedCall) -> str:
        return section_text(call, ratio=0.9) + " In conclusion, all was well."

    model = writer_model(write=concluding)
    report = run_generate({"manual_plan": manual_plan(3)}, model, max_retries=0,
                          consistency_pass=False).values["result"]["qc_report"]
    assert report["premature_conclusions"] == ['section 1 "Part 1": "In conclusion"',
                                               'section 2 "Part 2": "In conclusion"']
    assert [s["passed"] for s in report["sections"]] == [False, False, True]


def test_a_clean_text_is_not_flagged(run_generate: Runner) -> None:
    report = run_generate({"manual_plan": manual_plan(5, 300)}, writer_model()).values[
        "result"]["qc_report"]
    assert report["passed"]
    for name in ("coverage_missing", "entity_missing", "terminology_issues",
                 "do_not_include_violations", "voice_issues", "premature_conclusions",
                 "repetition_issues",
                 "length_issues", "revised_sections", "rejected_revisions"):
        assert report[name] == [], name
    assert report["near_duplicate_count"] == 0
    assert report["repeated_ngram_rate"] < 0.02
    assert all(s["length_score"] > 90 for s in report["sections"])


def test_consistency_pass_revises_only_sections_with_problems(
    run_generate: Runner, tmp_path: Path
) -> None:
    def with_variant(call: ScriptedCall) -> str:
        text = section_text(call)
        return text + " The light house stood." if section_of(call) == 0 else text

    def judge(call: ScriptedCall) -> dict[str, Any]:
        if section_of(call) == 1:
            return {"consistent": False, "problems": ["calls Keeper3 by another name"]}
        return {"consistent": True, "problems": []}

    def fix(call: ScriptedCall) -> str:
        return body_of(call).replace("light house", "lighthouse") + " Keeper3 agreed."

    model = writer_model(write=with_variant, check=judge, revise=fix)
    result = run_generate({"manual_plan": manual_plan(4)}, model, max_retries=0).values[
        "result"]

    revised = sorted(section_of(c) for c in model.calls_for("consistency_pass"))
    assert revised == [0, 1]
    by_index = {section_of(c): c for c in model.calls_for("consistency_pass")}
    assert 'uses "light house" 1x: write "lighthouse" instead' in by_index[0].prompt
    assert "calls Keeper3 by another name" in by_index[1].prompt
    # section 1 failed QC: checked against the whole record; the others passed: against what
    # came after them; the last one, with nothing after it, is not checked at all
    checks = {section_of(c): c.prompt for c in model.calls_for("consistency_check")}
    assert sorted(checks) == [0, 1, 2]
    assert "Record of the whole text" in checks[0]
    assert "Stated later in the text" in checks[1] and "Keeper1" not in checks[1]
    sections = result["sections"]
    assert [s["revised"] for s in sections] == [True, True, False, False]
    assert "The lighthouse stood." in text_of(tmp_path, sections[0]["text_key"])
    assert result["qc_report"]["revised_sections"] == [1, 2]
    assert result["qc_report"]["terminology_issues"] == []
    # the untouched section keeps the very text (same blob) it was written with
    (write_3,) = [c for c in model.calls_for("section_generation") if section_of(c) == 2]
    assert text_of(tmp_path, sections[2]["text_key"]) == section_text(write_3)


def test_a_revision_that_breaks_qc_is_rejected(run_generate: Runner, tmp_path: Path) -> None:
    def judge(call: ScriptedCall) -> dict[str, Any]:
        return {"consistent": section_of(call) != 1, "problems": ["tone drifts"]}

    def careless(call: ScriptedCall) -> str:
        return body_of(call).replace("Skerry Light 2", "it")

    model = writer_model(check=judge, revise=careless)
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]

    second = result["sections"][1]
    assert not second["revised"] and "revision rejected" in second["revision_note"]
    assert "Skerry Light 2" in text_of(tmp_path, second["text_key"])
    assert result["qc_report"]["rejected_revisions"][0].startswith("section 2: revision rejected")
    assert result["qc_report"]["passed"]


def test_disabled_consistency_pass_makes_no_check(run_generate: Runner) -> None:
    model = writer_model()
    run_generate({"manual_plan": manual_plan(2)}, model, consistency_pass=False)
    assert not model.calls_for("consistency_check") and not model.calls_for("consistency_pass")


def test_optional_judge_scores_sections(run_generate: Runner) -> None:
    model = writer_model()
    report = run_generate({"manual_plan": manual_plan(2)}, model, qc_judge=True).values[
        "result"]["qc_report"]
    assert [s["judge_score"] for s in report["sections"]] == [4, 4]
    assert report["judge_mean_score"] == 4.0


def test_a_model_that_cannot_update_the_table_falls_back_to_rules(run_generate: Runner) -> None:
    model = writer_model(state_update=lambda call: "not json at all")
    result = run_generate({"manual_plan": manual_plan(2)}, model).values["result"]
    table = result["state_table"]
    assert [e["name"] for e in table["entities"]] == ["Skerry Light 1", "Skerry Light 2"]
    assert table["sections_done"] == 2
    assert any("state table updated without the model" in w
               for w in result["qc_report"]["section_warnings"])


def _lengths_plan(lengths: tuple[int, ...]) -> dict[str, Any]:
    return {"sections": [{"title": t, "key_points": [f"{t} basics"], "target_length": n}
                         for t, n in zip(("Origins", "Keepers", "Today"), lengths, strict=True)],
            "terminology": [{"use": "lighthouse", "instead_of": "light house"}],
            "narrative_voice": "third-person", "do_not_include": ["ghosts"]}


LIGHTHOUSE_BRIEF = {"topic": "Lighthouses", "objective": "Explain their history",
                    "audience": "children", "tone": "warm", "target_words": 1000}


def test_a_plan_whose_lengths_do_not_add_up_is_repaired_by_the_planner(
    run_generate: Runner,
) -> None:
    def planner(call: ScriptedCall) -> dict[str, Any]:
        repairing = "Problems in this plan" in call.prompt
        return _lengths_plan((300, 400, 300) if repairing else (100, 150, 100))

    model = writer_model(plan=planner)
    result = run_generate(LIGHTHOUSE_BRIEF, model).values["result"]

    first, repair = model.calls_for("plan_generation")
    assert "Total length: 1000 words" in first.prompt and "About 2 sections" in first.prompt
    assert "section target_length values add up to 350 words, not the plan's 1000" in (
        repair.last)
    assert '"target_length":100' in repair.prompt  # the plan it gave is shown back
    plan = result["plan"]
    assert [s["target_length"] for s in plan["sections"]] == [300, 400, 300]
    assert plan["terminology_preferences"] == {"light house": "lighthouse"}
    assert (plan["topic"], plan["audience"], plan["tone"]) == ("Lighthouses", "children", "warm")
    warnings = result["qc_report"]["section_warnings"]
    assert warnings == ["the planner was asked to repair: section target_length values add up "
                        "to 350 words, not the plan's 1000"]


def test_lengths_a_planner_cannot_repair_are_scaled_and_said(run_generate: Runner) -> None:
    model = writer_model(plan=lambda call: _lengths_plan((100, 150, 100)))
    result = run_generate(LIGHTHOUSE_BRIEF, model).values["result"]
    assert len(model.calls_for("plan_generation")) == 2  # the plan and one repair
    plan = result["plan"]
    assert [s["target_length"] for s in plan["sections"]] == [286, 428, 286]
    assert "scaled to the plan's 1000" in result["qc_report"]["section_warnings"][-1]


def test_a_plan_that_bans_its_own_topic_is_repaired(run_generate: Runner) -> None:
    def planner(call: ScriptedCall) -> dict[str, Any]:
        plan = _lengths_plan((300, 400, 300))
        if "Problems in this plan" not in call.prompt:
            plan["do_not_include"] = ["lighthouse", "ghosts", "Keepers"]
        return plan

    model = writer_model(plan=planner)
    result = run_generate(LIGHTHOUSE_BRIEF, model).values["result"]
    _, repair = model.calls_for("plan_generation")
    assert 'do_not_include "lighthouse" is named by the topic' in repair.last
    assert "do_not_include \"Keepers\" is named by section 2's \"Keepers basics\"" in repair.last
    assert result["plan"]["do_not_include"] == ["ghosts"]
    assert result["qc_report"]["passed"]
    assert result["qc_report"]["do_not_include_violations"] == []


def test_a_plan_the_planner_cannot_repair_is_settled_and_said(run_generate: Runner) -> None:
    def planner(call: ScriptedCall) -> dict[str, Any]:
        plan = _lengths_plan((300, 400, 300))
        plan["do_not_include"] = ["lighthouses", "ghosts"]
        plan["sections"][2]["key_points"] = ["Origins basics", "Keepers basics"]
        return plan

    model = writer_model(plan=planner)
    result = run_generate(LIGHTHOUSE_BRIEF, model).values["result"]
    assert len(model.calls_for("plan_generation")) == 2
    plan = result["plan"]
    assert plan["do_not_include"] == ["ghosts"]
    assert [s["key_points"] for s in plan["sections"]] == [
        ["Origins basics"], ["Keepers basics"]]
    assert [s["target_length"] for s in plan["sections"]] == [429, 571]
    warnings = " | ".join(result["qc_report"]["section_warnings"])
    assert 'dropped from do_not_include (the plan itself needs them): "lighthouses"' in warnings
    assert "section 3: dropped 2 key point(s) an earlier section already covers" in warnings


def test_a_manual_plan_that_defeats_itself_is_refused_before_any_call(
    run_generate: Runner,
) -> None:
    plan = manual_plan(3, do_not_include=["lighthouse"])
    model = writer_model()
    with pytest.raises(InputError, match=r'^manual plan: do_not_include "lighthouse" is named by '
                                         r"the topic: a text cannot avoid what it must say"):
        run_generate({"manual_plan": plan}, model)
    assert model.calls == []


def test_an_invalid_plan_is_retried_with_its_errors_then_outlined_without_the_planner(
    run_generate: Runner,
) -> None:
    answers = iter([{"sections": []}, {"sections": [{"title": "A", "key_points": ["a"],
                                                     "target_length": 200}]}])
    model = writer_model(plan=lambda call: next(answers))
    payload = {"topic": "T", "objective": "O", "target_words": 200}
    result = run_generate(payload, model).values["result"]
    _, second = model.calls_for("plan_generation")
    assert "does not match the required schema" in second.last and "sections" in second.last
    assert result["plan"]["sections"][0]["target_length"] == 200

    # a planner that answers the same invalid plan every turn (a small model looping inside
    # one key point): after three turns the text is written from a default outline, and said so
    broken = writer_model(plan=lambda call: {"sections": [{"title": "", "key_points": []}]})
    payload = {"topic": "Tides", "objective": "explain tides", "target_words": 600}
    outlined = run_generate(payload, broken, run_id="run-2").values["result"]
    assert len(broken.calls_for("plan_generation")) == 3
    sections = outlined["plan"]["sections"]
    assert [s["title"] for s in sections] == ["Introduction", "Tides", "Conclusion"]
    assert sum(s["target_length"] for s in sections) == 600
    assert sections[0]["key_points"] == ["explain tides"]
    assert any("the planner wrote no valid plan" in w and "a default outline of 3 sections"
               in w for w in outlined["qc_report"]["section_warnings"])
    assert outlined["success"] and broken.calls_for("section_generation")


def test_a_bad_manual_plan_names_the_field(run_generate: Runner) -> None:
    plan = manual_plan(2)
    plan["sections"][1]["target_length"] = -3
    with pytest.raises(InputError, match=r"sections\[1\]\.target_length"):
        run_generate({"manual_plan": plan}, writer_model())


def test_resume_continues_with_the_section_that_failed(run_generate: Runner,
                                                       tmp_path: Path) -> None:
    failed: list[int] = []

    def fail_once_on_third(call: ScriptedCall) -> BaseException | None:
        if call.task == "section_generation" and section_of(call) == 2 and not failed:
            failed.append(2)
            return ValueError("model crashed on section 3")
        return None

    model = writer_model(fail=fail_once_on_third)
    payload = {"manual_plan": manual_plan(5)}
    with pytest.raises(ModelCallError, match="model crashed on section 3"):
        run_generate(payload, model, run_id="resume-me")

    with open_checkpointer(str(tmp_path / "runs.sqlite"), PIPELINE.checkpoint_types) as saver:
        snapshot = PIPELINE.compile(saver).get_state(run_config("resume-me"))
    assert snapshot.next == ("write_section",)
    assert snapshot.values["cursor"] == 2
    assert snapshot.values["table"].sections_done == 2  # the table is checkpointed

    outcome = run_generate(payload, model, run_id="resume-me")
    assert outcome.status == "resumed"
    written = [section_of(c) for c in model.calls_for("section_generation")]
    assert written == [0, 1, 2, 2, 3, 4]  # 0 and 1 were not rewritten
    assert [section_of(c) for c in model.calls_for("state_update")] == [0, 1, 2, 3]  # 4: last
    assert outcome.values["result"]["qc_report"]["passed"]

    calls = len(model.calls)
    again = run_generate(payload, model, run_id="resume-me")
    assert again.status == "finished" and len(model.calls) == calls


def test_a_plan_in_far_more_sections_than_asked_is_sent_back_once(run_generate: Runner) -> None:
    def planner(call: ScriptedCall) -> dict[str, Any]:
        repairing = "Problems in this plan" in call.prompt
        count = 2 if repairing else 6
        # the first draft also bans a word of its own topic: a conflict the planner must repair
        return {"sections": [{"title": f"Part {i}", "key_points": [f"aspect number {i}"],
                              "target_length": 1000 // count} for i in range(count)],
                "do_not_include": [] if repairing else ["lighthouse"]}

    model = writer_model(plan=planner)
    result = run_generate(LIGHTHOUSE_BRIEF, model).values["result"]
    _, repair = model.calls_for("plan_generation")
    # the sizing advice rides along with the conflict that needed the call
    assert ("the plan has 6 sections for 1000 words: write about 2 sections of about 500 words "
            "each") in repair.last
    assert [s["target_length"] for s in result["plan"]["sections"]] == [500, 500]


def test_a_plan_with_too_many_sections_and_no_conflict_is_merged_without_a_repair(
    run_generate: Runner,
) -> None:
    def planner(call: ScriptedCall) -> dict[str, Any]:
        return {"sections": [{"title": f"Part {i}", "key_points": [f"aspect number {i}"],
                              "target_length": 1000 // 6} for i in range(6)]}

    model = writer_model(plan=planner)
    result = run_generate(LIGHTHOUSE_BRIEF, model).values["result"]
    assert len(model.calls_for("plan_generation")) == 1  # merging settles it: no repair call
    assert len(result["plan"]["sections"]) == 3
    assert ("the plan's 6 sections for 1000 words were merged into 3"
            in result["qc_report"]["section_warnings"])


def test_a_planner_that_keeps_too_many_sections_has_its_plan_merged(
    run_generate: Runner,
) -> None:
    def planner(call: ScriptedCall) -> dict[str, Any]:
        return {"sections": [{"title": f"Part {i}", "key_points": [f"aspect number {i}"],
                              "target_length": length}
                             for i, length in enumerate((300, 150, 150, 400))]}

    model = writer_model(plan=planner)
    result = run_generate(LIGHTHOUSE_BRIEF, model).values["result"]
    assert len(model.calls_for("plan_generation")) == 1  # no repair for sizing: merged here
    # 1000 words: 2 sections asked, 3 kept at most; the two shortest neighbours went together
    sections = result["plan"]["sections"]
    assert [(s["title"], s["key_points"], s["target_length"]) for s in sections] == [
        ("Part 0", ["aspect number 0"], 300),
        ("Part 1 / Part 2", ["aspect number 1", "aspect number 2"], 300),
        ("Part 3", ["aspect number 3"], 400),
    ]
    assert len(model.calls_for("section_generation")) == 3
    assert ("the plan's 4 sections for 1000 words were merged into 3"
            in result["qc_report"]["section_warnings"])


def test_a_revision_that_copies_an_earlier_section_loses_the_copy(
    run_generate: Runner, tmp_path: Path
) -> None:
    def judge(call: ScriptedCall) -> dict[str, Any]:
        return {"consistent": section_of(call) != 1, "problems": ["calls Keeper3 by another name"]}

    model: Any = None

    def copying(call: ScriptedCall) -> str:  # fixes the problem, and pastes section 1 in front
        (write_1,) = [c for c in model.calls_for("section_generation") if section_of(c) == 0]
        return section_text(write_1) + "\n\n" + body_of(call) + " Keeper3 agreed."

    model = writer_model(check=judge, revise=copying)
    result = run_generate({"manual_plan": manual_plan(3)}, model).values["result"]
    first, second = (text_of(tmp_path, s["text_key"]) for s in result["sections"][:2])
    assert result["sections"][1]["revised"] and second.endswith("Keeper3 agreed.")
    assert not qc.near_duplicates([first, second])
    assert result["qc_report"]["near_duplicate_count"] == 0
