"""What makes a generate plan defeat itself before any section is written.

A plan whose do-not-include list (or a terminology variant to avoid) bans its own topic, whose
sections share key points, whose
conclusion only restates its introduction, or whose section lengths do not add up to its total
makes sections fail QC however well they are written (and rewrites cannot fix them).
`plan_conflicts` names each conflict in one line: the planner is asked to repair them, a manual
plan with one is refused, and `resolve_conflicts` settles what a planner could not repair, saying
what it changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chunkwise.text import qc

if TYPE_CHECKING:  # `state.generate` validates manual plans with these checks
    from chunkwise.state.generate import GenerationPlan, SectionSpec

# Section targets within this share of the total are fitted to it (with a note); beyond, the
# plan's lengths do not add up.
LENGTH_TOLERANCE = 0.05
# What a conclusion that only restated the introduction is given to cover instead.
CLOSING_POINT = "practical next steps"


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return f'"{text}"' if len(text) <= limit else f'"{text[: limit - 1]}…"'


def _banned_where(plan: GenerationPlan, item: str) -> str | None:
    """Where the plan itself asks for a do-not-include item, or None."""
    if qc.names_any(plan.topic, item):
        return "the topic"
    if qc.names_any(plan.objective, item):
        return "the objective"
    for number, spec in enumerate(plan.sections, 1):
        for point in [*spec.key_points, *spec.required_entities]:
            if qc.names_any(point, item):
                return f"section {number}'s {_quote(point)}"
    for use in plan.terminology_preferences.values():
        # a small planner lists the subject's own terms both as terms to use and as banned
        if qc.names_any(use, item):
            return f"the terminology's term {_quote(use)}"
    return None


def _avoided_variants(plan: GenerationPlan) -> list[tuple[str, str]]:
    """(variant, where) for each terminology variant to avoid that the plan itself uses."""
    return [(variant, where) for variant, use in plan.terminology_preferences.items()
            if qc.words_of(variant) != qc.words_of(use)
            and not qc.contains_phrase(use, variant)
            and (where := _banned_where(plan, variant))]


def banned_conflicts(plan: GenerationPlan) -> list[str]:
    out = [
        f"do_not_include {_quote(item)} is named by {where}: a text cannot avoid what it must say"
        for item in plan.do_not_include
        if (where := _banned_where(plan, item))
    ]
    out += [f"terminology says never to write {_quote(variant)}, but {where} names it"
            for variant, where in _avoided_variants(plan)]
    return out


def _shared_points(plan: GenerationPlan) -> list[tuple[int, int, int, str]]:
    """(earlier section, later section, the point's place in it, the point) for each key point
    planned twice: in an earlier section, or earlier in its own."""
    found = []
    for later, spec in enumerate(plan.sections):
        for place, point in enumerate(spec.key_points):
            earlier = next((i for i in range(later) for other in plan.sections[i].key_points
                            if qc.restates(point, other)), None)
            if earlier is None and any(qc.restates(point, other)
                                       for other in spec.key_points[:place]):
                earlier = later
            if earlier is not None:
                found.append((earlier, later, place, point))
    return found


def duplicate_conflicts(plan: GenerationPlan) -> list[str]:
    return [f"sections {a + 1} and {b + 1} share the key point {_quote(point)}" if a != b
            else f"section {a + 1} lists the key point {_quote(point)} twice"
            for a, b, _, point in _shared_points(plan)]


def _restated_points(plan: GenerationPlan) -> list[str]:
    """The last section's key points when every one of them restates the first section."""
    if len(plan.sections) < 2:
        return []
    first, last = plan.sections[0], plan.sections[-1]
    opening = " ".join([first.title, *first.key_points])
    points = last.key_points
    if all(qc.key_point_covered(opening, p, threshold=0.8) for p in points):
        return points
    return []


def conclusion_conflicts(plan: GenerationPlan) -> list[str]:
    points = _restated_points(plan)
    if not points:
        return []
    shown = ", ".join(_quote(p, 40) for p in points[:3])
    return [f"the last section only restates the first ({shown}): give it its own points, "
            "such as takeaways or next steps"]


def length_conflicts(plan: GenerationPlan) -> list[str]:
    total = sum(s.target_length for s in plan.sections)
    if abs(total - plan.target_total_length) <= LENGTH_TOLERANCE * plan.target_total_length:
        return []
    return [f"section target_length values add up to {total} words, not the plan's "
            f"{plan.target_total_length}"]


def plan_conflicts(plan: GenerationPlan) -> list[str]:
    """Every conflict of `plan`, one line each (empty when the plan is sound)."""
    return [*banned_conflicts(plan), *duplicate_conflicts(plan), *conclusion_conflicts(plan),
            *length_conflicts(plan)]


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


def resolve_conflicts(plan: GenerationPlan) -> tuple[GenerationPlan, list[str]]:
    """The plan with its conflicts settled without a model, and a note for each change:
    banned items the plan needs are dropped from do_not_include, a key point planned twice is
    kept where it comes first (a section left without points goes), a conclusion that only
    restated the introduction gets its own point, and lengths are scaled to the total."""
    notes: list[str] = []
    banned = [item for item in plan.do_not_include if _banned_where(plan, item)]
    if banned:
        notes.append("dropped from do_not_include (the plan itself needs them): "
                     + ", ".join(_quote(b) for b in banned))
    variants = [variant for variant, _ in _avoided_variants(plan)]
    if variants:
        notes.append("dropped from terminology (the plan itself uses them): "
                     + ", ".join(_quote(v) for v in variants))
    found = _shared_points(plan)
    shared = {(b, place) for _, b, place, _ in found}
    twice = {(b, place) for a, b, place, _ in found if a == b}
    sections: list[SectionSpec] = []
    for index, spec in enumerate(plan.sections):
        points = [p for place, p in enumerate(spec.key_points) if (index, place) not in shared]
        if own := sum(1 for place in range(len(spec.key_points)) if (index, place) in twice):
            notes.append(f"section {index + 1}: dropped {own} key point(s) it listed twice")
        if len(points) + own < len(spec.key_points):
            dropped = len(spec.key_points) - len(points) - own
            notes.append(f"section {index + 1}: dropped {dropped} key point(s) an earlier "
                         "section already covers" + ("" if points else "; the section went"))
        if points:
            sections.append(spec.model_copy(update={"key_points": points}))
    plan = plan.model_copy(update={
        "sections": sections or plan.sections[:1],
        "do_not_include": [i for i in plan.do_not_include if i not in banned],
        "terminology_preferences": {v: u for v, u in plan.terminology_preferences.items()
                                    if v not in variants},
    })
    if _restated_points(plan):
        last = plan.sections[-1].model_copy(update={"key_points": [CLOSING_POINT]})
        plan = plan.model_copy(update={"sections": [*plan.sections[:-1], last]})
        notes.append(f"the last section only restated the first; its key point is now "
                     f'"{CLOSING_POINT}"')
    plan, fitted = fit_lengths(plan)
    return plan, notes + fitted


def merge_sections(plan: GenerationPlan, limit: int) -> tuple[GenerationPlan, list[str]]:
    """`plan` in at most `limit` sections: the two neighbours with the fewest words together are
    merged until it fits (titles joined, points, names and constraints kept, lengths added).
    Every section costs a write, a state update and a check whatever its length, and a small
    model misses a short section's length and opens each one anew, repeating itself."""
    if len(plan.sections) <= limit:
        return plan, []
    sections = list(plan.sections)
    while len(sections) > max(1, limit):
        i = min(range(len(sections) - 1),
                key=lambda k: sections[k].target_length + sections[k + 1].target_length)
        a, b = sections[i], sections[i + 1]
        merged = a.model_copy(update={
            "title": f"{a.title} / {b.title}",
            "key_points": list(dict.fromkeys([*a.key_points, *b.key_points])),
            "required_entities": list(dict.fromkeys([*a.required_entities,
                                                     *b.required_entities])),
            "constraints": list(dict.fromkeys([*a.constraints, *b.constraints])),
            "target_length": a.target_length + b.target_length,
        })
        sections[i: i + 2] = [merged]
    note = (f"the plan's {len(plan.sections)} sections for {plan.target_total_length} words "
            f"were merged into {len(sections)}")
    return plan.model_copy(update={"sections": sections}), [note]
