"""Plans that defeat themselves: each conflict found in one line, and settled without a model
(what a planner could not repair)."""

from __future__ import annotations

from typing import Any

from chunkwise.state.generate import PLANNED_KEY_POINTS, GenerationPlan, PlannedSection
from chunkwise.state.plan_check import plan_conflicts, resolve_conflicts
from tests.generate.support import manual_plan


def _plan(**changes: Any) -> GenerationPlan:
    plan = manual_plan(3, 200)
    plan["topic"] = "How token-bucket rate limits work for hosted language model APIs"
    plan["objective"] = "explain to engineers how to stay under a provider's limit"
    points = [["what a token bucket is", "refill rate and burst size"],
              ["reading rate-limit headers", "backing off on HTTP 429"],
              ["pacing requests across workers", "a checklist before launch"]]
    for spec, own in zip(plan["sections"], points, strict=True):
        spec["key_points"], spec["required_entities"] = own, []
    plan["do_not_include"] = []
    plan.update(changes)
    return GenerationPlan.model_validate(plan)


def test_a_sound_plan_has_no_conflict() -> None:
    assert plan_conflicts(_plan()) == []
    assert plan_conflicts(_plan(do_not_include=["pricing tiers", "smuggling"])) == []


def test_banned_topic_words_are_conflicts_in_any_form() -> None:
    plan = _plan(do_not_include=["token", "rate limiting", "API", "model", "Refill rate",
                                 "jokes"])
    assert plan_conflicts(plan) == [
        'do_not_include "token" is named by the topic: a text cannot avoid what it must say',
        'do_not_include "rate limiting" is named by the topic: a text cannot avoid what it '
        "must say",
        'do_not_include "API" is named by the topic: a text cannot avoid what it must say',
        'do_not_include "model" is named by the topic: a text cannot avoid what it must say',
        "do_not_include \"Refill rate\" is named by section 1's \"refill rate and burst size\": "
        "a text cannot avoid what it must say",
    ]
    settled, notes = resolve_conflicts(plan)
    assert settled.do_not_include == ["jokes"] and plan_conflicts(settled) == []
    assert notes == ['dropped from do_not_include (the plan itself needs them): "token", '
                     '"rate limiting", "API", "model", "Refill rate"']


def test_key_points_planned_twice_are_conflicts() -> None:
    plan = _plan()
    plan.sections[1].key_points += ["What is a token bucket", "Pacing requests across all workers"]
    assert plan_conflicts(plan) == [
        'sections 1 and 2 share the key point "What is a token bucket"',
        'sections 2 and 3 share the key point "pacing requests across workers"',
    ]
    settled, notes = resolve_conflicts(plan)
    assert [s.key_points for s in settled.sections] == [
        ["what a token bucket is", "refill rate and burst size"],
        ["reading rate-limit headers", "backing off on HTTP 429",
         "Pacing requests across all workers"],
        ["a checklist before launch"],
    ]
    assert notes == ["section 2: dropped 1 key point(s) an earlier section already covers",
                     "section 3: dropped 1 key point(s) an earlier section already covers"]


def test_a_conclusion_that_restates_the_introduction_is_a_conflict() -> None:
    plan = _plan()
    plan.sections[2].key_points = ["bucket size and refill rate basics"]
    (conflict,) = plan_conflicts(plan)
    assert conflict == ('the last section only restates the first ("bucket size and refill '
                        'rate basics"): give it its own points, such as takeaways or next steps')
    settled, notes = resolve_conflicts(plan)
    assert settled.sections[2].key_points == ["practical next steps"]
    assert plan_conflicts(settled) == [] and "only restated the first" in notes[0]


def test_lengths_must_add_up_within_five_percent() -> None:
    assert plan_conflicts(_plan(target_total_length=630)) == []  # 600 planned: within 5%
    assert plan_conflicts(_plan(target_total_length=1000)) == [
        "section target_length values add up to 600 words, not the plan's 1000"]
    settled, notes = resolve_conflicts(_plan(target_total_length=1000))
    assert [s.target_length for s in settled.sections] == [334, 333, 333]
    assert notes == ["section target lengths added up to 600 words; scaled to the plan's 1000"]


def test_a_terminology_variant_the_plan_itself_uses_is_a_conflict() -> None:
    plan = _plan(terminology_preferences={"token bucket": "rate limiter",
                                          "language model": "language model",
                                          "LLM": "language model", "API": "API endpoint"})
    assert plan_conflicts(plan) == [
        'terminology says never to write "token bucket", but the topic names it']
    settled, notes = resolve_conflicts(plan)
    assert settled.terminology_preferences == {"language model": "language model",
                                               "LLM": "language model", "API": "API endpoint"}
    assert notes == ['dropped from terminology (the plan itself uses them): "token bucket"']


def test_a_repair_prompt_shows_each_problem_once_and_a_bounded_number_of_them() -> None:
    """A small model's plan repeating one key point in every section has hundreds of pairs;
    listed whole they overflowed the 0.5B model's window (17,690 tokens)."""
    from chunkwise.prompts.generate import PROBLEMS_SHOWN, plan_repair_messages
    from chunkwise.state.generate import PlanDraft

    draft = PlanDraft.model_construct(sections=[], terminology=[], narrative_voice="",
                                      do_not_include=[])
    conflicts = [f"sections 1 and {n} share the key point 'x'" for n in range(2, 40)] * 5
    prompt = plan_repair_messages([], draft, conflicts)[-1].content
    assert isinstance(prompt, str)
    assert prompt.count("share the key point") == PROBLEMS_SHOWN
    assert f"and {38 - PROBLEMS_SHOWN} more problems" in prompt


def test_a_banned_item_that_is_one_of_the_plans_own_terms_is_a_conflict() -> None:
    # a 1.5B planner listed the subject's terms as terms to use and as banned (t-SNE plan)
    plan = _plan(terminology_preferences={"embedding": "embedding", "2-D map": "scatter plot"},
                 do_not_include=["embedding", "scatter plots", "pricing tiers"])
    assert plan_conflicts(plan) == [
        'do_not_include "embedding" is named by the terminology\'s term "embedding": a text '
        "cannot avoid what it must say",
        'do_not_include "scatter plots" is named by the terminology\'s term "scatter plot": a '
        "text cannot avoid what it must say",
    ]
    settled, _ = resolve_conflicts(plan)
    assert settled.do_not_include == ["pricing tiers"] and plan_conflicts(settled) == []


def test_a_key_point_listed_twice_in_one_section_is_a_conflict() -> None:
    plan = _plan()
    plan.sections[2].key_points = ["pacing requests across workers"] * 3 + ["a checklist"]
    assert plan_conflicts(plan) == [
        'section 3 lists the key point "pacing requests across workers" twice'] * 2
    settled, notes = resolve_conflicts(plan)
    assert settled.sections[2].key_points == ["pacing requests across workers", "a checklist"]
    assert notes == ["section 3: dropped 2 key point(s) it listed twice"]


def test_a_planned_section_keeps_its_first_four_key_points_and_the_schema_says_so() -> None:
    # a grammar-constrained planner stops at the schema's maxItems; a backend without a
    # grammar may write more, and the first ones are kept rather than the plan refused
    schema = PlannedSection.model_json_schema()["properties"]["key_points"]
    assert schema["maxItems"] == PLANNED_KEY_POINTS == 4
    section = PlannedSection(title="t", key_points=["a", " ", "b", "c", "d", "e", "f"],
                             target_length=100)
    assert section.key_points == ["a", "b", "c", "d"]
