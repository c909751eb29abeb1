"""Markdown fenced code blocks: the one scanner for documents and for model answers.

A fence line is up to 3 spaces, then 3+ backticks or tildes, then an info string (a backtick
fence's info may not hold a backtick). A block closes at the next line of only the same
character, at least as many of them, and whitespace.

The rule for an unclosed fence: in a document it is an ordinary line and protects nothing
after it (one stray ``` must not turn the rest of a book into code, forbidding every later
cut); scanning goes on after it, so the blocks that follow are still found. Only a model's
answer, whose end may be cut off by its token cap, is read with `unclosed=True`, where the last
unclosed fence runs to the end (`longest_code`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["FencedBlock", "fenced_blocks", "fenced_code_ranges", "longest_code", "unwrap_fence"]

_OPENING = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)


@lru_cache(maxsize=32)
def _closing(char: str, length: int) -> re.Pattern[str]:
    return re.compile(rf"^ {{0,3}}{re.escape(char)}{{{length},}}[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FencedBlock:
    """``text[start:end]`` is the block with its fences (and the closing line's newline);
    ``text[body_start:body_end]`` is the code between them; `info` is the opening's info string
    (``python`` in ```` ```python ````); `closed` is False only for a block cut off at the end."""

    start: int
    end: int
    body_start: int
    body_end: int
    info: str
    closed: bool = True


def fenced_blocks(text: str, *, unclosed: bool = False) -> list[FencedBlock]:
    """The fenced blocks of `text` in order; with `unclosed`, a last unclosed one too."""
    blocks: list[FencedBlock] = []
    # per fence char, the shortest fence with no closing line after the current position: a
    # longer or later fence of that char cannot close either, so it is not searched again
    hopeless: dict[str, int] = {}
    pos = 0
    while (opening := _OPENING.search(text, pos)) is not None:
        fence, info = opening.group(1), opening.group(2)
        pos = opening.end()
        if fence[0] == "`" and "`" in info:
            continue  # not a fence: a backtick fence's info string holds no backtick
        body_start = min(len(text), opening.end() + 1)
        char, length = fence[0], len(fence)
        closing = None
        if length < hopeless.get(char, length + 1):
            closing = _closing(char, length).search(text, body_start)
        if closing is None:
            hopeless[char] = min(length, hopeless.get(char, length))
            if unclosed:
                blocks.append(FencedBlock(opening.start(), len(text), body_start, len(text),
                                          info.strip(), closed=False))
                break
            continue  # a stray fence is an ordinary line: scanning goes on after it
        end = closing.end() + 1 if closing.end() < len(text) else closing.end()
        body_end = max(body_start, closing.start() - 1)
        blocks.append(FencedBlock(opening.start(), end, body_start, body_end, info.strip()))
        pos = end
    return blocks


def fenced_code_ranges(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` of the closed fenced blocks of a document, fences included."""
    return [(b.start, b.end) for b in fenced_blocks(text)]


def unwrap_fence(text: str) -> str | None:
    """The body of `text` when all of it (edge whitespace aside) is one fenced block, else
    None: how a model wraps a whole answer in a fence."""
    core = text.strip()
    blocks = fenced_blocks(core)
    if len(blocks) != 1 or blocks[0].start != 0 or blocks[0].end != len(core):
        return None
    return core[blocks[0].body_start : blocks[0].body_end]


def longest_code(answer: str, languages: Collection[str]) -> str | None:
    """The longest fenced block of a model's answer whose info string is empty or one of
    `languages` (case aside); a last fence left open by a cut-off answer counts. None: none."""
    wanted = {lang.lower() for lang in languages} | {""}
    bodies = [answer[b.body_start : b.body_end] for b in fenced_blocks(answer, unclosed=True)
              if b.info.split(" ")[0].lower() in wanted]
    return max(bodies, key=len) if bodies else None
