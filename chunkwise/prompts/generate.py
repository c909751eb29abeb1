"""Prompts for generate: short, sectioned and explicit, so small local models follow them too.

Every prompt puts the rules first, the material second and the one thing to write last, with
the length in words. Lists are capped so a prompt stays small however long the document grows.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from chunkwise.state.generate import GenerationPlan, SectionSpec, StateTable

# How much of the state table a prompt shows (the table stores more: `STORED_*` in
# `nodes.generate.table`), so a prompt stays small however long the document grows.
SHOWN_ENTITIES = 25
SHOWN_FACTS = 20  # the latest ones
SHOWN_TERMS = 20
SHOWN_THREADS = 8
OUTLINE_NEIGHBOURS = 3  # titles shown before and after the current section


def _bullets(items: Sequence[str], empty: str = "(none)") -> str:
    return "\n".join(f"- {item}" for item in items) if items else empty


def rules_block(plan: GenerationPlan) -> str:
    """The document-wide rules every writing prompt repeats."""
    lines = [
        f"Topic: {plan.topic}",
        f"Objective: {plan.objective}",
        f"Audience: {plan.audience or 'general readers'}",
        f"Tone: {plan.tone or 'neutral'}",
        f"Narrative voice: {plan.narrative_voice}",
    ]
    prefs = [
        f'write "{use}", never "{variant}"'
        for variant, use in plan.terminology_preferences.items()
        if variant.lower() != use.lower()
    ]
    declared = [use for variant, use in plan.terminology_preferences.items()
                if variant.lower() == use.lower()]
    if prefs:
        lines.append("Terminology: " + "; ".join(prefs))
    if declared:
        lines.append("Use these terms as written: " + ", ".join(declared))
    if plan.do_not_include:
        lines.append("Never mention: " + "; ".join(plan.do_not_include))
    return "\n".join(lines)


def table_block(table: StateTable) -> str:
    """The state table, most recent items first where it is capped."""
    if table.sections_done == 0:
        return "Nothing written yet."
    entities = [f"{e.name}: {e.note}" if e.note else e.name for e in table.entities]
    return "\n".join(
        [
            f"Summary so far: {table.summary or '(none)'}",
            "Entities (always use these exact names):",
            _bullets(entities[:SHOWN_ENTITIES]),
            "Facts and numbers already stated (do not contradict them):",
            _bullets(table.facts[-SHOWN_FACTS:]),
            "Terms in use: " + (", ".join(table.terminology[:SHOWN_TERMS]) or "(none)"),
            "Open threads:",
            _bullets(table.open_threads[:SHOWN_THREADS]),
        ]
    )


def outline_block(plan: GenerationPlan, index: int) -> str:
    lo = max(0, index - OUTLINE_NEIGHBOURS)
    hi = min(len(plan.sections), index + OUTLINE_NEIGHBOURS + 1)
    lines = [] if lo == 0 else [f"(sections 1-{lo} done)"]
    for i in range(lo, hi):
        mark = "done" if i < index else ("WRITE NOW" if i == index else "later")
        lines.append(f"{i + 1}. {plan.sections[i].title} [{mark}]")
    if hi < len(plan.sections):
        lines.append(f"(then {len(plan.sections) - hi} more sections)")
    return "\n".join(lines)


def position_rule(index: int, total: int) -> str:
    if total == 1:
        return "This is the whole text: introduce the topic, cover every point, then conclude."
    if index == 0:
        return ("This is the opening section: introduce the topic. Do not conclude; "
                "more sections follow.")
    if index == total - 1:
        return "This is the last section: bring the whole text to a close."
    return ("This is a middle section: do not conclude, do not sum up the whole text, "
            "do not write 'In conclusion'. End so that the next section can follow.")


def spec_block(spec: SectionSpec, index: int, total: int) -> str:
    lines = [
        f'Section {index + 1} of {total}: "{spec.title}"',
        "Key points to cover:",
        _bullets(spec.key_points),
    ]
    if spec.required_entities:
        lines.append("Name each of these exactly as written: " + "; ".join(spec.required_entities))
    if spec.constraints:
        lines += ["Constraints:", _bullets(spec.constraints)]
    lines.append(f"Length: about {spec.target_length} words.")
    return "\n".join(lines)


def quoted_section(plan: GenerationPlan, index: int, text: str, label: str = "Section") -> str:
    """A section's text between markers, headed by its place in the plan."""
    title = plan.sections[index].title
    return (f'## {label} {index + 1} of {len(plan.sections)}: "{title}"\n<<<\n'
            f"{text.strip()}\n>>>")


_WRITER_SYSTEM = (
    "You write one section of a long text that is written section by section. Follow the plan "
    "and the rules exactly. Output only the body of the section: no title, no heading, no notes."
)


def section_messages(
    plan: GenerationPlan, index: int, table: StateTable, recent_text: str
) -> list[BaseMessage]:
    spec = plan.sections[index]
    total = len(plan.sections)
    recent = recent_text.strip() or "(nothing yet: this section starts the text)"
    body = "\n\n".join(
        [
            "## Rules\n" + rules_block(plan),
            "## Outline\n" + outline_block(plan, index),
            "## Record of the text so far\n" + table_block(table),
            "## End of the text so far\n<<<\n" + recent + "\n>>>",
            "## Your task\n" + spec_block(spec, index, total),
            "## Remember\n" + position_rule(index, total) + "\nContinue from where the text "
            "stops; do not repeat what it already says. Write about "
            f"{spec.target_length} words of plain prose.",
        ]
    )
    return [SystemMessage(_WRITER_SYSTEM), HumanMessage(body)]


def rewrite_messages(
    plan: GenerationPlan,
    index: int,
    table: StateTable,
    recent_text: str,
    draft: str,
    problems: Sequence[str],
    draft_words: int,
) -> list[BaseMessage]:
    """A QC rewrite: the same material, the draft, and exactly what to fix."""
    spec = plan.sections[index]
    total = len(plan.sections)
    recent = recent_text.strip() or "(nothing yet: this section starts the text)"
    body = "\n\n".join(
        [
            "## Rules\n" + rules_block(plan),
            "## Record of the text so far\n" + table_block(table),
            "## End of the text so far\n<<<\n" + recent + "\n>>>",
            "## Your task\n" + spec_block(spec, index, total),
            f"## Draft ({draft_words} words)\n<<<\n{draft.strip()}\n>>>",
            "## Fix these problems\n" + _bullets(problems),
            "## Remember\n" + position_rule(index, total) + "\nRewrite the whole section so "
            "that every problem is fixed; keep what is good. Write about "
            f"{spec.target_length} words. Output only the new section.",
        ]
    )
    return [SystemMessage(_WRITER_SYSTEM), HumanMessage(body)]


def plan_messages(
    *, topic: str, objective: str, audience: str, tone: str, target_words: int, sections: int
) -> list[BaseMessage]:
    body = "\n\n".join(
        [
            "## Brief\n"
            f"Topic: {topic}\nObjective: {objective}\n"
            f"Audience: {audience or 'general readers'}\nTone: {tone or 'neutral'}\n"
            f"Total length: {target_words} words",
            "## Write a plan\n"
            f"- About {sections} section{'s' if sections != 1 else ''}, in reading order, each "
            "with a short title, 2-4 key points, the names it must mention (may be empty), "
            "constraints (may be empty) and a target_length in words.\n"
            f"- The target_length values must add up to {target_words}.\n"
            "- Each section covers new ground: no two sections share a key point.\n"
            "- Only the last section concludes.\n"
            "- terminology: terms to use consistently, each with a variant to avoid "
            "(may be empty).\n"
            "- narrative_voice: e.g. third-person.\n"
            "- do_not_include: things the text must not mention (may be empty).",
        ]
    )
    return [
        SystemMessage("You plan long texts. Answer with the plan only, as the schema asks."),
        HumanMessage(body),
    ]


def state_update_messages(
    plan: GenerationPlan, index: int, table: StateTable, section_text: str
) -> list[BaseMessage]:
    body = "\n\n".join(
        [
            "## Record so far\n" + table_block(table),
            quoted_section(plan, index, section_text, "New section"),
            "## Update the record\n"
            "- new_entities: people, places, organisations or named things first introduced "
            "in the new section; name = the exact name it uses (at most 5).\n"
            "- facts: facts and numbers the new section states (at most 5, short).\n"
            "- terms: technical terms it uses (at most 5).\n"
            "- open_threads: questions or threads still open after it (at most 5).\n"
            "- summary: the whole text so far, at most 80 words.",
        ]
    )
    return [
        SystemMessage("You keep a record of a long text as it is written. Be brief and exact."),
        HumanMessage(body),
    ]


def consistency_check_messages(
    plan: GenerationPlan, index: int, table: StateTable, section_text: str
) -> list[BaseMessage]:
    body = "\n\n".join(
        [
            "## Rules\n" + rules_block(plan),
            "## Record of the whole text\n" + table_block(table),
            quoted_section(plan, index, section_text),
            "## Check\nDoes this section contradict the record (names, facts, numbers), break "
            "a terminology rule, switch narrative voice, or mention something it must never "
            "mention? consistent = true if none. Otherwise list each problem in one line.",
        ]
    )
    return [SystemMessage("You check long texts for consistency. Be strict and brief."),
            HumanMessage(body)]


def revision_messages(
    plan: GenerationPlan, index: int, table: StateTable, section_text: str,
    problems: Sequence[str],
) -> list[BaseMessage]:
    body = "\n\n".join(
        [
            "## Rules\n" + rules_block(plan),
            "## Record of the whole text\n" + table_block(table),
            quoted_section(plan, index, section_text),
            "## Fix only these problems\n" + _bullets(problems),
            "## Output\nThe corrected section, with every other sentence kept as it is. "
            "Same length, same key points, same names. Output only the section text.",
        ]
    )
    return [SystemMessage(_WRITER_SYSTEM), HumanMessage(body)]


def judge_messages(plan: GenerationPlan, index: int, section_text: str) -> list[BaseMessage]:
    spec = plan.sections[index]
    body = "\n\n".join(
        [
            "## Rules\n" + rules_block(plan),
            "## Plan for this section\n" + spec_block(spec, index, len(plan.sections)),
            "## Section text\n<<<\n" + section_text.strip() + "\n>>>",
            "## Score\nscore 1-5: does the section cover its key points, follow the rules, read "
            "well and avoid repetition? notes: one or two sentences.",
        ]
    )
    return [SystemMessage("You grade sections of long texts against their plan."),
            HumanMessage(body)]
