"""Per-call sampling choices for the local backend: which repetition controls a reply gets.

Pure data, no llama.cpp: the chat model decides per call (prose, code, JSON) and the engine
(`engine.ChunkwiseLlama`) applies the result when it builds that call's sampler chain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

TextKind = Literal["prose", "code"]
TEXT_KINDS: tuple[TextKind, ...] = ("prose", "code")

# A prompt showing or asking for a fenced code block marks a code call (paper2code's code,
# file and repair prompts all do). A prose prompt quoting code is taken for code too, which
# only costs it the repetition control.
_CODE_FENCE = re.compile(r"```")


@dataclass(frozen=True)
class Repetition:
    """llama.cpp's repetition controls for one reply; the defaults change nothing.

    The penalties (`repeat_penalty` divides a repeated token's logit, `frequency_penalty` and
    `presence_penalty` subtract from it) look at the last `penalty_last_n` generated tokens.
    DRY (`dry_multiplier` > 0) penalizes only the token that would extend a sequence already
    generated longer than `dry_allowed_length`, growing by `dry_base` per extra token, over the
    last `dry_penalty_last_n` generated tokens. Only generated tokens count: copying names and
    numbers from the prompt is never penalized. (llama.cpp's "-1 = whole context" is not used:
    the sampler API of llama-cpp-python 0.3.36 takes no context size, and -1 left DRY inert.)
    `dry_history` is text DRY counts as generated just before the reply (a long text's
    earlier sections): the reply is then kept from copying their wording too, which a small
    writer shown the text so far otherwise does. Only with DRY on.
    """

    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    penalty_last_n: int = 64
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_penalty_last_n: int = 4096
    dry_history: str = ""

    @property
    def uses_dry(self) -> bool:
        return self.dry_multiplier > 0.0


NO_REPETITION_CONTROL = Repetition()

PROSE_REPETITION = Repetition(dry_multiplier=0.8, dry_base=1.75, dry_allowed_length=3)
"""The local backend's default for prose: DRY, which breaks the verbatim loops small models
fall into (whole sentences and paragraphs again) while leaving single repeated words, names and
numbers alone. Measured on the generate pipeline's section writing; see the benchmarks README."""

REPETITION_ARGUMENTS = frozenset(f.name for f in fields(Repetition))


def repetition_for_call(
    *,
    structured: bool,
    kind: TextKind | None,
    messages: Sequence[Mapping[str, Any]],
    prose: Repetition,
    overrides: Mapping[str, Any],
) -> Repetition:
    """The repetition controls for one call.

    JSON and code replies get none (both repeat tokens by design: keys, identifiers,
    indentation); prose gets `prose`. `kind` says which a free-text call is; without it a call is
    code when a message of its prompt holds a fenced code block. Explicit `overrides` (any
    `Repetition` field passed per call) win over both.
    """
    if structured:
        base = NO_REPETITION_CONTROL
    else:
        if kind is None:
            kind = "code" if _asks_for_code(messages) else "prose"
        base = prose if kind == "prose" else NO_REPETITION_CONTROL
    return replace(base, **overrides) if overrides else base


def _asks_for_code(messages: Sequence[Mapping[str, Any]]) -> bool:
    return any(_CODE_FENCE.search(str(m.get("content") or "")) for m in messages)
