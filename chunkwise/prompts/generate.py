"""Prompts for generate: short, sectioned and explicit, so small local models follow them too.

Every prompt puts the rules first, the material second and the one thing to write last, with
the length in words. Lists are capped so a prompt stays small however long the document grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from chunkwise.state.generate import GenerationPlan, PlanDraft, SectionSpec, StateTable

# How much of the state table a prompt shows (the table stores more: `STORED_*` in
# `nodes.generate.table`), so a prompt stays small however long the document grows.
SHOWN_ENTITIES = 25
SHOWN_FACTS = 20  # the latest ones
SHOWN_TERMS = 20
SHOWN_THREADS = 8
OUTLINE_NEIGHBOURS = 3  # titles shown before and after the current section


@dataclass(frozen=True)
class Shown:
    """How much of the state table and the outline a prompt shows; a prompt budget
    (`nodes.generate.budget`) shrinks these when a prompt would not fit the model."""

    entities: int = SHOWN_ENTITIES
    facts: int = SHOWN_FACTS
    terms: int = SHOWN_TERMS
    threads: int = SHOWN_THREADS
    outline: int = OUTLINE_NEIGHBOURS


SHOWN = Shown()


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


def _latest(items: Sequence[str], count: int) -> list[str]:
    return list(items[-count:]) if count > 0 else []


def table_block(table: StateTable, shown: Shown = SHOWN) -> str:
    """The state table: the first entities (names keep their first form), the latest facts."""
    if table.sections_done == 0:
        return "Nothing written yet."
    entities = [f"{e.name}: {e.note}" if e.note else e.name for e in table.entities]
    return "\n".join(
        [
            f"Summary so far: {table.summary or '(none)'}",
            "Entities (always use these exact names):",
            _bullets(entities[: shown.entities]),
            "Facts and numbers already stated (do not contradict them):",
            _bullets(_latest(table.facts, shown.facts)),
            "Terms in use: " + (", ".join(table.terminology[: shown.terms]) or "(none)"),
            "Open threads:",
            _bullets(table.open_threads[: shown.threads]),
        ]
    )


def outline_block(plan: GenerationPlan, index: int, neighbours: int = OUTLINE_NEIGHBOURS) -> str:
    lo = max(0, index - neighbours)
    hi = min(len(plan.sections), index + neighbours + 1)
    lines = [] if lo == 0 else [f"(sections 1-{lo} done)"]
    for i in range(lo, hi):
        mark = "done" if i < index else ("WRITE NOW" if i == index else "later")
        lines.append(f"{i + 1}. {plan.sections[i].title} [{mark}]")
    if hi < len(plan.sections):
        lines.append(f"(then {len(plan.sections) - hi} more sections)")
    return "\n".join(lines)


WORDS_PER_PARAGRAPH = 90  # a length a small model can follow: paragraphs, not words


def paragraphs_for(words: int) -> int:
    return max(1, round(words / WORDS_PER_PARAGRAPH))


def position_rule(index: int, total: int) -> str:
    if total == 1:
        return "This is the whole text: introduce the topic, cover every point, then conclude."
    if index == 0:
        return ("This is the opening section: introduce the topic. Do not conclude; "
                "more sections follow.")
    if index == total - 1:
        return ("This is the last section: bring the whole text to a close with what the reader "
                "should take away or do next. Do not repeat the opening.")
    return ("This is a middle section: do not conclude, do not sum up the whole text, "
            "do not write 'In conclusion'. End so that the next section can follow.")


def length_rule(words: int) -> str:
    count = paragraphs_for(words)
    return (f"Write about {words} words of plain prose, in {count} paragraph"
            f"{'s' if count != 1 else ''}: explain each key point in sentences of your own, "
            "with a reason or an example, rather than listing the points.")


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
_NO_REPEATS = ("Write only new sentences: never repeat a sentence or a paragraph of the text so "
               "far, and never say the same thing twice in this section.")


def overused_block(phrases: Sequence[str]) -> str:
    """The phrases the text already uses too often (`qc.overused_phrases`); empty when none."""
    if not phrases:
        return ""
    return ("## Phrases already used too often: word these differently or leave them out\n"
            + _bullets([f'"{p}"' for p in phrases]))


def _blocks(*blocks: str) -> str:
    return "\n\n".join(block for block in blocks if block)


def _recent_block(recent_text: str) -> str:
    recent = recent_text.strip() or "(nothing yet: this section starts the text)"
    return "## End of the text so far\n<<<\n" + recent + "\n>>>"


def _context_blocks(
    plan: GenerationPlan, table: StateTable, recent_text: str, shown: Shown
) -> tuple[str, str, str]:
    """What a rewrite or a continuation of a section is told first: the rules, the record and
    the end of the text so far."""
    return ("## Rules\n" + rules_block(plan),
            "## Record of the text so far\n" + table_block(table, shown),
            _recent_block(recent_text))


def section_messages(
    plan: GenerationPlan, index: int, table: StateTable, recent_text: str, shown: Shown = SHOWN,
    overused: Sequence[str] = (),
) -> list[BaseMessage]:
    spec = plan.sections[index]
    total = len(plan.sections)
    body = _blocks(
        "## Rules\n" + rules_block(plan),
        "## Outline\n" + outline_block(plan, index, shown.outline),
        "## Record of the text so far\n" + table_block(table, shown),
        _recent_block(recent_text),
        "## Your task\n" + spec_block(spec, index, total),
        overused_block(overused),
        "## Remember\n" + position_rule(index, total) + "\nContinue from where the text "
        "stops. " + _NO_REPEATS + " " + length_rule(spec.target_length),
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
    shown: Shown = SHOWN,
    overused: Sequence[str] = (),
) -> list[BaseMessage]:
    """A QC rewrite: the same material, the draft, and exactly what to fix (repeated passages
    quoted in the problems)."""
    spec = plan.sections[index]
    total = len(plan.sections)
    body = _blocks(
        *_context_blocks(plan, table, recent_text, shown),
        "## Your task\n" + spec_block(spec, index, total),
        f"## Draft ({draft_words} words)\n<<<\n{draft.strip()}\n>>>",
        "## Fix these problems\n" + _bullets(problems),
        overused_block(overused),
        "## Remember\n" + position_rule(index, total) + "\nRewrite the whole section so "
        "that every problem is fixed; keep what is good and leave out every quoted repeated "
        "sentence. " + _NO_REPEATS + " " + length_rule(spec.target_length)
        + " Output only the new section.",
    )
    return [SystemMessage(_WRITER_SYSTEM), HumanMessage(body)]


def continue_messages(
    plan: GenerationPlan,
    index: int,
    table: StateTable,
    recent_text: str,
    so_far: str,
    missing: Sequence[str],
    words: int,
    shown: Shown = SHOWN,
    overused: Sequence[str] = (),
) -> list[BaseMessage]:
    """A section that came back short (or lost its copied sentences) is continued, not
    rewritten: the model adds only what is missing, so the good part is not written again."""
    spec = plan.sections[index]
    total = len(plan.sections)
    kept = so_far.strip() or "(nothing kept: the last attempt only repeated earlier text)"
    todo = ("What the new paragraphs must do:\n" + _bullets(missing)) if missing else (
        "Add new detail to the key points: a reason, an example or a consequence.")
    count = paragraphs_for(words)
    body = _blocks(
        *_context_blocks(plan, table, recent_text, shown),
        "## The section's plan\n" + spec_block(spec, index, total),
        f"## This section so far\n<<<\n{kept}\n>>>",
        overused_block(overused),
        "## Continue this section\n" + todo + "\n" + position_rule(index, total)
        + f"\nWrite about {words} more words, in {count} new paragraph"
        f"{'s' if count != 1 else ''}, that follow on from the section so far. "
        + _NO_REPEATS + " Output only the new paragraphs.",
    )
    return [SystemMessage(_WRITER_SYSTEM), HumanMessage(body)]


_PLANNER_SYSTEM = "You plan long texts. Answer with the plan only, as the schema asks."


def plan_messages(
    *, topic: str, objective: str, audience: str, tone: str, target_words: int, sections: int
) -> list[BaseMessage]:
    each = max(1, round(target_words / max(1, sections)))
    body = "\n\n".join(
        [
            "## Brief\n"
            f"Topic: {topic}\nObjective: {objective}\n"
            f"Audience: {audience or 'general readers'}\nTone: {tone or 'neutral'}\n"
            f"Total length: {target_words} words",
            "## Write a plan\n"
            f"- About {sections} section{'s' if sections != 1 else ''} of about {each} words, "
            "in reading order, each with a short title, 2-4 key points, the names it must "
            "mention (may be empty), constraints (may be empty) and a target_length in words.\n"
            f"- The target_length values must add up to {target_words}.\n"
            "- Each section covers new ground: no two sections share a key point.\n"
            "- Only the last section concludes, with takeaways or next steps; it does not "
            "repeat the first section's points.\n"
            "- terminology: terms to use consistently, each with a variant to avoid "
            "(may be empty).\n"
            "- narrative_voice: e.g. third-person.\n"
            "- do_not_include: off-topic things the text must not mention (may be empty). "
            "Never list a word of the topic, the objective or a key point there: the text "
            "has to use them.",
        ]
    )
    return [SystemMessage(_PLANNER_SYSTEM), HumanMessage(body)]


PROBLEMS_SHOWN = 12


def plan_repair_messages(
    messages: Sequence[BaseMessage], draft: PlanDraft, conflicts: Sequence[str]
) -> list[BaseMessage]:
    """The planning conversation, the plan it gave and why the plan defeats itself.

    Each problem once and at most `PROBLEMS_SHOWN` of them: a small model's plan that repeats
    one key point in every section has hundreds of pairs, which would overflow its window."""
    unique = list(dict.fromkeys(conflicts))
    shown = unique[:PROBLEMS_SHOWN]
    if len(unique) > len(shown):
        shown.append(f"... and {len(unique) - len(shown)} more problems of the same kinds")
    return [
        *messages,
        AIMessage(draft.model_dump_json()),
        HumanMessage("## Problems in this plan\n" + _bullets(shown) + "\n\n## Write the "
                     "whole plan again\nFix every problem above and keep the rest."),
    ]


def state_update_messages(
    plan: GenerationPlan, index: int, table: StateTable, section_text: str, shown: Shown = SHOWN
) -> list[BaseMessage]:
    body = "\n\n".join(
        [
            "## Record so far\n" + table_block(table, shown),
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


_CHECKER_SYSTEM = "You check long texts for consistency. Be strict and brief."


def consistency_check_messages(
    plan: GenerationPlan, index: int, table: StateTable, section_text: str, shown: Shown = SHOWN
) -> list[BaseMessage]:
    body = "\n\n".join(
        [
            "## Rules\n" + rules_block(plan),
            "## Record of the whole text\n" + table_block(table, shown),
            quoted_section(plan, index, section_text),
            "## Check\nDoes this section contradict the record (names, facts, numbers), break "
            "a terminology rule, switch narrative voice, or mention something it must never "
            "mention? consistent = true if none. Otherwise list each problem in one line.",
        ]
    )
    return [SystemMessage(_CHECKER_SYSTEM), HumanMessage(body)]


def later_facts_check_messages(
    plan: GenerationPlan, index: int, later: Sequence[str], section_text: str
) -> list[BaseMessage]:
    """A section that passed QC, checked only against what later sections established."""
    body = "\n\n".join(
        [
            "## Stated later in the text\n" + _bullets(later),
            quoted_section(plan, index, section_text),
            "## Check\nDoes this section contradict anything stated later (a name, a fact, a "
            "number)? consistent = true if it does not. Otherwise list each contradiction in "
            "one line, quoting both sides.",
        ]
    )
    return [SystemMessage(_CHECKER_SYSTEM), HumanMessage(body)]


def revision_messages(
    plan: GenerationPlan, index: int, table: StateTable, section_text: str,
    problems: Sequence[str], shown: Shown = SHOWN,
) -> list[BaseMessage]:
    body = "\n\n".join(
        [
            "## Rules\n" + rules_block(plan),
            "## Record of the whole text\n" + table_block(table, shown),
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


_REWORD_SYSTEM = (
    "You edit one sentence of a longer text. The sentence reuses wording the text already used: "
    "say the same thing in other words. Keep every fact, number and name. Reply with the new "
    "sentence only."
)


def reword_messages(
    sentence: str, before: str, phrases: Sequence[str], keep: Sequence[str] = (),
    refused: str = "",
) -> list[BaseMessage]:
    """One sentence to reword (`text.rewording`): the sentence before it for context, the
    phrases the text already used, the terms that must stay as they are, and the reply a
    first try gave that could not be used."""
    opening = next((p for p in phrases if sentence.startswith(p)), "")
    body = _blocks(
        f"Sentence before it: {before}" if before.strip() else "",
        f"Sentence to reword: {sentence}",
        "Already used in the text, so word these differently: "
        + "; ".join(f'"{p}"' for p in phrases),
        # a small model keeps a sentence's opening frame unless told to change it
        f'Do not start with "{opening}": begin with other words.' if opening else "",
        ("Keep these terms as they are: " + "; ".join(keep)) if keep else "",
        (f"Not this, which still repeats the text or loses a fact or name: {refused}"
         if refused else ""),
        "Reworded sentence:",
    )
    return [SystemMessage(_REWORD_SYSTEM), HumanMessage(body)]
