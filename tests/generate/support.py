"""A scripted generate model that reads its prompts the way a careful writer would.

The writer parses the section prompt (index, key points, names, target words) and answers with
varied filler prose that covers the spec at the asked length, so a clean run passes QC; tests
plant defects by wrapping or replacing responders.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel

VOCAB_TEXT = """harbor keeper signal coast storm beacon tower stone glass rotation night
sailor channel
reef tide current ship cargo route lantern flame oil watch island mist fog horn bell weather
season winter summer granite spiral staircase gallery balcony brass mechanism clockwork weight
chain gear prism beam flash interval pattern chart captain crew voyage journey danger rock shoal
sand wave spray wind gale calm dawn dusk evening morning village fisherman family cottage garden
letter record logbook entry inspector engineer design builder mason timber iron copper paint
white red stripe color height distance mile league visibility horizon curvature earth sea ocean
bay inlet cape point headland cliff shore beach dune marsh river estuary port dock pier quay
lamp wick reflector mirror lens clock supply boat rowing anchor rope net trawler
harbour master schedule duty relief station telegraph message flag"""
VOCAB = VOCAB_TEXT.split()


def filler(words: int, seed: int | str) -> str:
    """`words` words of varied sentences (no repeated 5-grams to speak of), deterministic."""
    rng = random.Random(str(seed))
    out: list[str] = []
    count = 0
    while count < words:
        k = min(rng.randint(8, 16), words - count)
        chosen = [rng.choice(VOCAB) for _ in range(k)]
        chosen[0] = chosen[0].capitalize()
        out.append(" ".join(chosen) + ".")
        count += k
    return " ".join(out)


SECTION = re.compile(r'[Ss]ection (\d+) of (\d+): "([^"]*)"')
BODY = re.compile(r'[Ss]ection \d+ of \d+: "[^"]*"\n<<<\n(.*?)\n>>>', re.DOTALL)


def section_of(call: ScriptedCall) -> int:
    """The 0-based index of the section a prompt is about."""
    match = SECTION.search(call.prompt)
    assert match, f"no section header in the {call.task} prompt"
    return int(match.group(1)) - 1


def _spec(prompt: str) -> tuple[list[str], list[str], int]:
    points = re.search(r"Key points to cover:\n((?:- .*\n?)+)", prompt)
    key_points = [line[2:].strip() for line in points.group(1).splitlines()] if points else []
    names = re.search(r"Name each of these exactly as written: (.*)", prompt)
    entities = [n.strip() for n in names.group(1).split(";")] if names else []
    target = re.search(r"Length: about (\d+) words", prompt)
    return key_points, entities, int(target.group(1)) if target else 100


def section_text(call: ScriptedCall, *, ratio: float = 0.95) -> str:
    """A clean section for the prompt: names, key points, then filler up to the target."""
    key_points, entities, target = _spec(call.prompt)
    index = section_of(call)
    opening = " ".join(f"{p[0].upper()}{p[1:]}." for p in key_points)
    if entities:
        opening += " It concerns " + " and ".join(entities) + "."
    used = len(re.findall(r"\b[a-zA-Z]+\b", opening))
    return f"{opening} {filler(max(1, round(target * ratio) - used), f'{index}-{call.task}')}"


def continuation(call: ScriptedCall) -> str:
    """New paragraphs for a continuation prompt: the missing key points and names it lists,
    then filler up to the words it asks for."""
    wanted = re.search(r"Write about (\d+) more words", call.prompt)
    assert wanted, f"no word count in the {call.task} prompt"
    points = re.findall(r"^- key point: (.*)$", call.prompt, re.MULTILINE)
    names = re.findall(r"^- name: (.*)$", call.prompt, re.MULTILINE)
    opening = " ".join(f"{p[0].upper()}{p[1:]}." for p in points)
    if names:
        opening += " It concerns " + " and ".join(names) + "."
    used = len(re.findall(r"\b[a-zA-Z]+\b", opening))
    words = int(wanted.group(1))
    return f"{opening} {filler(max(1, words - used), f'{section_of(call)}-more-{words}')}".strip()


def body_of(call: ScriptedCall) -> str:
    """The section text quoted in a state-update, check or revision prompt."""
    match = BODY.search(call.prompt)
    assert match, f"no section text in the {call.task} prompt"
    return match.group(1)


def state_update(call: ScriptedCall) -> dict[str, Any]:
    index = section_of(call)
    return {
        "new_entities": [{"name": f"Keeper{index + 1}", "note": f"introduced in {index + 1}"}],
        "facts": [f"fact from section {index + 1}"],
        "terms": [f"term{index + 1}"],
        "open_threads": [f"thread {index + 1}"],
        "summary": f"summary after section {index + 1}",
    }


def same_sentence(call: ScriptedCall) -> str:
    """A reword reply that changes nothing (so the pass keeps the sentence)."""
    match = re.search(r"^Sentence to reword: (.*)$", call.prompt, re.MULTILINE)
    assert match, "no sentence in the reword prompt"
    return match.group(1)


def consistent(call: ScriptedCall) -> dict[str, Any]:
    return {"consistent": True, "problems": []}


def writer_model(
    *,
    write: Callable[[ScriptedCall], str] = section_text,
    rewrite: Callable[[ScriptedCall], str] | None = None,
    revise: Callable[[ScriptedCall], str] | None = None,
    check: Callable[[ScriptedCall], Any] = consistent,
    plan: Callable[[ScriptedCall], Any] | None = None,
    fail: Callable[[ScriptedCall], BaseException | None] | None = None,
    **extra: Callable[[ScriptedCall], Any],
) -> ScriptedChatModel:
    responders: dict[str, Callable[[ScriptedCall], Any]] = {
        "section_generation": write,
        "qc_rewrite": rewrite or write,
        "qc_continue": continuation,
        "consistency_pass": revise or body_of,
        "state_update": state_update,
        "consistency_check": check,
        "qc_judge": lambda call: {"score": 4, "notes": "fine"},
        "reword": same_sentence,
        **extra,
    }
    if plan is not None:
        responders["plan_generation"] = plan
    return ScriptedChatModel(responders=responders, fail=fail)


def manual_plan(sections: int = 3, words: int = 120, **overrides: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "topic": "Lighthouses of the northern coast",
        "objective": "Explain how lighthouse keepers worked",
        "audience": "general readers",
        "tone": "calm, factual",
        "target_total_length": sections * words,
        "sections": [
            {
                "title": f"Part {i + 1}",
                "key_points": [f"rotating prism number {i + 1}"],
                "required_entities": [f"Skerry Light {i + 1}"],
                "constraints": [],
                "target_length": words,
            }
            for i in range(sections)
        ],
        "terminology_preferences": {"light house": "lighthouse"},
        "narrative_voice": "third-person",
        "do_not_include": ["smuggling"],
    }
    plan.update(overrides)
    return plan
