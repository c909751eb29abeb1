"""Where a document may be cut, and how good each place is.

A cut is a char index ``c`` meaning ``text[:c]`` / ``text[c:]``. Candidates get a quality:
section starts (higher levels better) > paragraph breaks > line ends > sentence ends > spaces
> bare token boundaries. Protected ranges (display math, algorithms, code blocks) are places
where a cut would hand a model half an equation or half a function, so the splitter avoids
them unless a single block is larger than the budget.

Candidates are found per window with compiled regexes rather than for the whole text at once,
so an 18M-character book only pays for the windows the splitter actually looks at.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from chunkwise.text.fences import fenced_code_ranges
from chunkwise.text.headings import Heading

__all__ = [
    "LINE",
    "PARAGRAPH",
    "SENTENCE",
    "TOKEN",
    "WORD",
    "CandidateFinder",
    "ProtectedRanges",
    "Span",
    "heading_quality",
    "protected_ranges",
    "section_title_at",
]


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` with `tokens` counted on that exact slice; `title` is the title of
    the section the span starts in ("" before the first heading). `split_paper` returns them
    and paper2code's state keeps them as its chunks (chunk i is the i-th span), each
    summarized on its own; rephrase's units are `text.overlap.Part`, shown with context."""

    start: int
    end: int
    title: str
    tokens: int


# --- qualities ------------------------------------------------------------------------------

PARAGRAPH = 60
LINE = 42
SENTENCE = 30
WORD = 12
TOKEN = 0  # inside a word: only when nothing else fits the budget


def heading_quality(level: int) -> int:
    """Section starts beat every other boundary; a higher level (smaller number) beats lower."""
    return {1: 100, 2: 92, 3: 86}.get(level, 80)


# --- protected ranges -----------------------------------------------------------------------

_ENV_NAMES = (
    "equation",
    "align",
    "alignat",
    "flalign",
    "gather",
    "multline",
    "eqnarray",
    "displaymath",
    "math",
    "algorithm",
    "algorithmic",
    "algorithm2e",
    "verbatim",
    "lstlisting",
    "minted",
)
_BEGIN_ENV = re.compile(r"\\begin\s*\{(" + "|".join(_ENV_NAMES) + r")(\*?)\}")
# "Not after a backslash" is checked behind the literal, not before it: a pattern that starts
# with its literal is found by re's fast substring search (0.2 s less per 18M characters each).
_DOUBLE_DOLLAR = re.compile(r"\$\$(?<!\\\$\$)")
_OPEN_BRACKET = re.compile(r"\\\[(?<!\\\\\[)")
_CLOSE_BRACKET = re.compile(r"\\\](?<!\\\\\])")


def _inside_any(ranges: list[tuple[int, int]], starts: list[int], pos: int) -> bool:
    i = bisect.bisect_right(starts, pos) - 1
    return i >= 0 and ranges[i][0] <= pos < ranges[i][1]


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def protected_ranges(text: str) -> list[tuple[int, int]]:
    """Sorted, merged ``[start, end)`` ranges that should not be cut.

    Covers Markdown fenced code, LaTeX display-math and algorithm environments (starred too),
    ``$$...$$`` and ``\\[...\\]``. Unclosed openers are ignored: protecting "to the end of the
    document" would make one typo forbid every cut after it.
    """
    fences = fenced_code_ranges(text)
    fence_starts = [s for s, _ in fences]
    ranges = list(fences)
    for m in _BEGIN_ENV.finditer(text):
        if _inside_any(fences, fence_starts, m.start()):
            continue
        end_tag = f"\\end{{{m.group(1)}{m.group(2)}}}"
        end = text.find(end_tag, m.end())
        if end >= 0:
            ranges.append((m.start(), end + len(end_tag)))
    dollars = [
        m.start()
        for m in _DOUBLE_DOLLAR.finditer(text)
        if not _inside_any(fences, fence_starts, m.start())
    ]
    for i in range(0, len(dollars) - 1, 2):
        ranges.append((dollars[i], dollars[i + 1] + 2))
    for m in _OPEN_BRACKET.finditer(text):
        if _inside_any(fences, fence_starts, m.start()):
            continue
        close = _CLOSE_BRACKET.search(text, m.end())
        if close:
            ranges.append((m.start(), close.end()))
    return _merge(ranges)


class ProtectedRanges:
    """Membership test for "is a cut at `pos` inside a protected block" in O(log n)."""

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        self.ranges = list(ranges)
        self._starts = [s for s, _ in self.ranges]

    def cuts_inside(self, pos: int) -> bool:
        """True when cutting at `pos` would split a block (cuts at its edges are fine)."""
        i = bisect.bisect_left(self._starts, pos) - 1
        return i >= 0 and pos < self.ranges[i][1]


# --- candidates -----------------------------------------------------------------------------

_PARAGRAPH = re.compile(r"\n(?:[ \t]*\n)+")
_LINE = re.compile(r"\n")
_SENTENCE = re.compile(r"(?:[.!?…][\"'”’)\]]*[^\S\n]+|[。！？])(?=\S)")
_WORD = re.compile(r"[^\S\n]+(?=\S)")
# Extra chars scanned past a window so lookaheads at its edge see real text.
_MARGIN = 64


class CandidateFinder:
    """Cut candidates of one text, by quality class, inside any char window."""

    def __init__(self, text: str, headings: Sequence[Heading]) -> None:
        self.text = text
        valid = [h for h in headings if 0 < h.offset < len(text)]
        valid.sort(key=lambda h: h.offset)
        self._heading_offsets = [h.offset for h in valid]
        self._headings = valid

    def classes(self) -> tuple[int, ...]:
        """The natural (non-token) classes, best first, as upper bounds on their quality."""
        return (heading_quality(1), PARAGRAPH, LINE, SENTENCE, WORD)

    def headings(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        i = bisect.bisect_left(self._heading_offsets, lo)
        j = bisect.bisect_right(self._heading_offsets, hi)
        for h in self._headings[i:j]:
            yield h.offset, heading_quality(h.level)

    def _matches(self, pattern: re.Pattern[str], lo: int, hi: int) -> Iterator[int]:
        start = max(0, lo - _MARGIN)
        for m in pattern.finditer(self.text, start, min(len(self.text), hi + _MARGIN)):
            pos = m.end()
            if pos > hi:
                break
            if pos >= lo and 0 < pos < len(self.text):
                yield pos

    def of_class(self, upper: int, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """(position, quality) of candidates in ``[lo, hi]`` for the class with bound `upper`."""
        if upper == heading_quality(1):
            yield from self.headings(lo, hi)
        elif upper == PARAGRAPH:
            for pos in self._matches(_PARAGRAPH, lo, hi):
                yield pos, PARAGRAPH
        elif upper == LINE:
            for pos in self._matches(_LINE, lo, hi):
                yield pos, LINE
        elif upper == SENTENCE:
            for pos in self._matches(_SENTENCE, lo, hi):
                yield pos, SENTENCE
        elif upper == WORD:
            for pos in self._matches(_WORD, lo, hi):
                yield pos, WORD


def section_title_at(headings: Sequence[Heading], offsets: Sequence[int], pos: int) -> str:
    """Title of the last heading starting at or before `pos` (`offsets` = their offsets)."""
    i = bisect.bisect_right(offsets, pos) - 1
    return headings[i].title if i >= 0 else ""
