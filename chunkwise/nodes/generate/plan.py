"""The plan: validated from a manual plan, or written by the planner model; lengths fitted."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from pydantic import ValidationError

from chunkwise.errors import InputError, RunFailed
from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.prompts.generate import plan_messages
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.generate import (
    GenerateContext,
    GenerateState,
    GenerationPlan,
    PlanDraft,
    SectionSpec,
    StateTable,
    describe_validation_error,
)

WORDS_PER_SECTION = 400  # what one writer call is asked for, about
MAX_SECTIONS = 40


def suggested_sections(target_words: int) -> int:
    return max(1, min(MAX_SECTIONS, round(target_words / WORDS_PER_SECTION)))


def fit_lengths(plan: GenerationPlan) -> tuple[GenerationPlan, list[str]]:
    """Scale section targets so they add up to the plan's total (largest remainder)."""
    total = plan.target_total_length
    lengths = [s.target_length for s in plan.sections]
    current = sum(lengths)
    if current == total:
        return plan, []
    exact = [n * total / current for n in lengths]
    fitted = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - fitted[i], reverse=True)
    for i in by_remainder[: total - sum(fitted)]:
        fitted[i] += 1
    fitted = [max(1, n) for n in fitted]
    sections = [s.model_copy(update={"target_length": n})
                for s, n in zip(plan.sections, fitted, strict=True)]
    note = (f"section target lengths added up to {current} words; scaled to the plan's "
            f"{total}")
    return plan.model_copy(update={"sections": sections}), [note]


def _from_draft(draft: PlanDraft, state: GenerateState, target_words: int) -> GenerationPlan:
    return GenerationPlan(
        topic=state.get("topic", ""),
        objective=state.get("objective", ""),
        audience=state.get("audience", ""),
        tone=state.get("tone", ""),
        target_total_length=target_words,
        sections=[SectionSpec.model_validate(s.model_dump()) for s in draft.sections],
        terminology_preferences={t.instead_of: t.use for t in draft.terminology
                                 if t.instead_of.strip() and t.use.strip()},
        narrative_voice=draft.narrative_voice or "third-person",
        do_not_include=draft.do_not_include,
    )


def make_plan(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    announce_stage("plan", 1)
    usage = Usage()
    manual = state.get("manual_plan")
    if manual is not None:
        try:
            plan = GenerationPlan.model_validate(manual)
        except ValidationError as exc:
            raise InputError(f"manual plan: {describe_validation_error(exc)}") from None
    else:
        topic, objective = state.get("topic", "").strip(), state.get("objective", "").strip()
        target = int(state.get("target_words") or 0)
        if not topic or not objective:
            raise InputError("give a topic and an objective, or a manual plan")
        if target <= 0:
            raise InputError(f"target length must be a positive number of words, not {target}")
        messages = plan_messages(
            topic=topic, objective=objective, audience=state.get("audience", ""),
            tone=state.get("tone", ""), target_words=target,
            sections=suggested_sections(target),
        )
        client = ctx.client("planner", ctx.planner_model)
        try:
            reply = client.structured(messages, PlanDraft, task="plan_generation")
        except ModelCallError as exc:
            if exc.kind != "validation":
                raise
            raise RunFailed(f"the planner wrote no valid plan: {exc}") from None
        usage = reply.usage
        plan = _from_draft(reply.value, state, target)
    plan, notes = fit_lengths(plan)
    unit_done("plan", tokens=usage.total_tokens)
    key = runtime.context.store().put(plan.model_dump_json())
    return {"plan_key": key, "section_count": len(plan.sections), "cursor": 0, "draft": None,
            "table": StateTable(), "warnings": notes, "usage": usage}
