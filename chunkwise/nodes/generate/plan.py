"""The plan: a manual plan checked, or one written by the planner model and repaired.

A plan that defeats itself (`state.plan_check`) is sent back to the planner with its conflicts,
up to `PLAN_REPAIRS` times; what the planner could not repair is settled without a model and
said in the report. A manual plan with a conflict was refused before the run started (or here,
for a graph invoked directly).
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from chunkwise.errors import InputError
from chunkwise.models.client import ModelClient
from chunkwise.models.retry import ModelCallError
from chunkwise.models.usage import Usage
from chunkwise.nodes.generate.common import can_fall_back, timed
from chunkwise.prompts.generate import plan_messages, plan_repair_messages
from chunkwise.prompts.measure import prompt_tokens
from chunkwise.runtime.progress import announce_stage, unit_done
from chunkwise.state.generate import (
    GenerateContext,
    GenerateState,
    GenerationPlan,
    PlanDraft,
    SectionSpec,
    StateTable,
    checked_plan,
)
from chunkwise.state.plan_check import (
    fit_lengths,
    merge_sections,
    plan_conflicts,
    resolve_conflicts,
)

WORDS_PER_SECTION = 400  # what one writer call is asked for, about
MAX_SECTIONS = 40
# Planner calls that may repair a plan's conflicts: on the local 1.5B model a second repair
# never gave a sound plan (4 of 4 runs were settled here after it) and cost 30-60 s each.
PLAN_REPAIRS = 1
PLAN_REPLY_TOKENS = 2000  # a plan's reply cap, and the room a rewritten plan needs


def suggested_sections(target_words: int) -> int:
    return max(1, min(MAX_SECTIONS, round(target_words / WORDS_PER_SECTION)))


def most_sections(suggested: int) -> int:
    """The most sections a planner's plan may keep for `suggested`: more are merged."""
    return max(suggested + 1, round(1.5 * suggested))


def sizing_problems(plan: GenerationPlan, suggested: int) -> list[str]:
    """A planner's plan cut into far more sections than asked: each section costs a write, a
    state update and a check, and short sections miss their lengths. Asked of the first
    repair only, when the plan has conflicts to repair anyway; what is left is merged
    (`merge_sections`)."""
    if len(plan.sections) <= most_sections(suggested):
        return []
    each = round(plan.target_total_length / suggested)
    return [f"the plan has {len(plan.sections)} sections for {plan.target_total_length} words: "
            f"write about {suggested} section{'s' if suggested != 1 else ''} of about {each} "
            "words each"]


def default_outline(state: GenerateState, target_words: int, sections: int) -> GenerationPlan:
    """A plan made without the planner: an opening on the objective, body parts on the topic
    and a closing, the target split evenly."""
    topic, objective = state.get("topic", "").strip(), state.get("objective", "").strip()
    outline = [("Introduction", objective)] if sections > 1 else []
    parts = max(1, sections - 2)
    outline += [(f"Part {n}", f"{topic} (part {n} of {parts})") if parts > 1 else (topic, topic)
                for n in range(1, parts + 1)]
    if sections > 1:
        outline.append(("Conclusion", f"the main points about {topic}"))
    each, rest = divmod(target_words, len(outline))
    specs = [SectionSpec(title=title, key_points=[point],
                         target_length=max(1, each + (index < rest)))
             for index, (title, point) in enumerate(outline)]
    return GenerationPlan(topic=topic, objective=objective, audience=state.get("audience", ""),
                          tone=state.get("tone", ""), target_total_length=target_words,
                          sections=specs)


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


def _planned(
    client: ModelClient, state: GenerateState, target: int
) -> tuple[GenerationPlan, Usage, list[str]]:
    """The planner's plan, repaired while it has conflicts; notes say what was settled."""
    suggested = suggested_sections(target)
    messages = plan_messages(
        topic=state.get("topic", "").strip(), objective=state.get("objective", "").strip(),
        audience=state.get("audience", ""), tone=state.get("tone", ""), target_words=target,
        sections=suggested,
    )
    try:
        reply = client.structured(messages, PlanDraft, task="plan_generation",
                                  max_tokens=PLAN_REPLY_TOKENS)
    except ModelCallError as exc:
        if exc.kind != "validation":
            raise
        # a small planner at temperature 0 that loops inside one key point answers the same
        # way every turn; the brief still says what to write, so write it from an outline
        plan = default_outline(state, target, suggested)
        return plan, Usage(), [f"the planner wrote no valid plan ({exc}): a default outline of "
                               f"{len(plan.sections)} sections was used"]
    usage, draft = reply.usage, reply.value
    plan = _from_draft(draft, state, target)
    notes: list[str] = []
    for repair in range(PLAN_REPAIRS):
        conflicts = plan_conflicts(plan)
        if not conflicts:
            # too many sections alone is no reason for a call: merging settles it (LB14's
            # repair asked only that, 70 s, and its 5 sections were merged into 2 anyway)
            break
        if repair == 0:  # advice, given once, with conflicts that need the planner
            conflicts += sizing_problems(plan, suggested)
        repair_prompt = plan_repair_messages(messages, draft, conflicts)
        size = prompt_tokens(repair_prompt)
        if size + PLAN_REPLY_TOKENS > client.context_window:
            # a runaway draft (dozens of sections) cannot be shown back whole: settle it here
            notes.append(f"the plan was too long to send back for repair ({size} tokens, "
                         f"window {client.context_window}); its problems were settled here")
            break
        notes.append("the planner was asked to repair: " + "; ".join(dict.fromkeys(conflicts)))
        try:
            reply = client.structured(repair_prompt, PlanDraft, task="plan_generation",
                                      max_tokens=PLAN_REPLY_TOKENS)
        except ModelCallError as exc:
            if not can_fall_back(exc):
                raise
            notes.append(f"the planner could not repair the plan ({exc.kind}: {exc})")
            break
        usage, draft = usage + reply.usage, reply.value
        plan = _from_draft(draft, state, target)
    plan, settled = resolve_conflicts(plan)
    plan, merged = merge_sections(plan, most_sections(suggested))
    return plan, usage, notes + settled + merged


@timed
def make_plan(state: GenerateState, runtime: Runtime[GenerateContext]) -> dict[str, Any]:
    ctx = runtime.context
    announce_stage("plan", 1)
    usage, notes = Usage(), list[str]()
    manual = state.get("manual_plan")
    if manual is not None:
        plan, notes = fit_lengths(checked_plan(manual))
    else:
        topic, objective = state.get("topic", "").strip(), state.get("objective", "").strip()
        target = int(state.get("target_words") or 0)
        if not topic or not objective:
            raise InputError("give a topic and an objective, or a manual plan")
        if target <= 0:
            raise InputError(f"target length must be a positive number of words, not {target}")
        plan, usage, notes = _planned(ctx.client("planner", ctx.planner_model), state, target)
    unit_done("plan", tokens=usage.total_tokens)
    key = runtime.context.store().put(plan.model_dump_json())
    return {"plan_key": key, "section_count": len(plan.sections), "cursor": 0, "draft": None,
            "table": StateTable(), "warnings": notes, "usage": usage}
