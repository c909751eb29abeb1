"""Heading detection for each source format.

Headings serve two purposes: section titles for chunk metadata, and the preferred places to
cut a long document. A missed heading only costs a slightly worse cut; a false heading puts a
cut in the middle of a paragraph, so the plain-text detectors are deliberately conservative.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from chunkwise.text.fences import fenced_code_ranges
from chunkwise.text.markup import (
    latex_to_plain,
    line_start,
    read_braced,
    read_bracketed,
)

__all__ = [
    "Heading",
    "detect_headings",
    "latex_headings",
    "markdown_headings",
    "merge_headings",
    "numbered_headings",
    "plain_text_headings",
]


@dataclass(frozen=True, slots=True)
class Heading:
    """A section heading: `level` 1 is the top level used by the document (a section in a
    paper), `offset` is the char index in the loaded text where the heading line starts."""

    level: int
    title: str
    offset: int


def merge_headings(*groups: Iterable[Heading]) -> list[Heading]:
    """Sorted by offset, one heading per offset (the highest level, i.e. smallest number)."""
    best: dict[int, Heading] = {}
    for group in groups:
        for h in group:
            old = best.get(h.offset)
            if old is None or h.level < old.level:
                best[h.offset] = h
    return [best[k] for k in sorted(best)]


# --- Markdown -------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+([^\n]*?))?(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)


def _outside(ranges: list[tuple[int, int]], pos: int, cursor: list[int]) -> bool:
    """True when `pos` is outside every range; `cursor` walks the sorted ranges forward."""
    i = cursor[0]
    while i < len(ranges) and ranges[i][1] <= pos:
        i += 1
    cursor[0] = i
    return not (i < len(ranges) and ranges[i][0] <= pos)


def markdown_headings(text: str) -> list[Heading]:
    """ATX headings (``# Title``), ignoring ``#`` lines inside fenced code blocks."""
    fences = fenced_code_ranges(text)
    cursor = [0]
    out = []
    for m in _ATX.finditer(text):
        if not _outside(fences, m.start(), cursor):
            continue
        title = (m.group(2) or "").strip()
        if title:
            out.append(Heading(len(m.group(1)), title, m.start()))
    return out


# --- LaTeX ----------------------------------------------------------------------------------

# Rank of each sectioning command; `\Chapter`/`\Section` are common custom macros (Gutenberg).
_LATEX_RANK = {
    "part": 0,
    "chapter": 1,
    "Chapter": 1,
    "section": 2,
    "Section": 2,
    "subsection": 3,
    "Subsection": 3,
    "SubSection": 3,
    "subsubsection": 4,
    "paragraph": 5,
}
_LATEX_CMD = re.compile(r"\\(" + "|".join(sorted(_LATEX_RANK, key=len, reverse=True)) + r")\*?")


def latex_headings(text: str) -> list[Heading]:
    """Headings from ``\\part``/``\\chapter``/``\\section``/... (starred too).

    Levels are relative: the highest-ranked command present becomes level 1, so in a paper
    ``\\section`` is 1 and in a book with chapters ``\\chapter`` is 1. For custom macros with
    several arguments (``\\Chapter{II}{Variables}``) the arguments are joined ("II. Variables").
    """
    found: list[tuple[int, str, int]] = []
    for m in _LATEX_CMD.finditer(text):
        pos = m.end()
        if pos < len(text) and (text[pos].isalpha()):
            continue  # a longer command name, e.g. \sectionmark
        opt = read_bracketed(text, pos)
        if opt is not None:
            pos = opt[1]
        args = []
        for _ in range(3):
            group = read_braced(text, pos)
            if group is None:
                break
            args.append(group[0])
            pos = group[1]
            if not m.group(1)[0].isupper():
                break  # standard commands take one mandatory argument
        if not args or any("#" in a for a in args):
            continue  # no argument, or a macro definition's body
        title = ". ".join(t for t in (latex_to_plain(a) for a in args) if t)
        if title:
            found.append((_LATEX_RANK[m.group(1)], title, line_start(text, m.start())))
    if not found:
        return []
    top = min(rank for rank, _, _ in found)
    return merge_headings(Heading(rank - top + 1, title, off) for rank, title, off in found)


# --- plain text and PDF text ----------------------------------------------------------------

_NUMBERED = re.compile(
    r"^[ \t]*(\d{1,2}(?:\.\d{1,2}){0,3})\.?[ \t]+([A-Z][^\n]{0,80}?)[ \t]*$", re.MULTILINE
)
_CHAPTER = re.compile(
    r"^[ \t]*((?:CHAPTER|Chapter|PART|Part|BOOK|Book|APPENDIX|Appendix)[ \t]+"
    r"(?:\d{1,3}|[IVXLC]{1,8}|[A-Z][a-z]{2,9})\b[.:]?[^\n]{0,60}?)[ \t]*$",
    re.MULTILINE,
)
_CAPS_LINE = re.compile(r"^[ \t]*([^\s\n][^\n]{1,58}[^\s\n])[ \t]*$", re.MULTILINE)
_BLANK_BEFORE = re.compile(r"\n[ \t]*\n[ \t]*\Z")
_QUOTES = '"“”‘’«»'
_BLANK_AFTER = re.compile(r"[ \t]*(?:\Z|\n[ \t]*(?:\n|\Z))")


def _looks_like_title(title: str) -> bool:
    words = title.split()
    if not 1 <= len(words) <= 12:
        return False
    if title[-1] in ".,;:" and not title.endswith("..."):
        return False
    letters = sum(c.isalpha() for c in title)
    return letters >= 0.6 * len(title.replace(" ", ""))


def _plausible_next(last: tuple[int, ...] | None, new: tuple[int, ...]) -> bool:
    """Numbering must go on from the previous heading: next sibling (allowing one missed),
    first child, or next item of an ancestor."""
    if last is None:
        return new[0] <= 2 and all(n <= 1 for n in new[1:])
    if len(new) == len(last) + 1:
        return new[:-1] == last and new[-1] == 1
    if len(new) <= len(last):
        k = len(new)
        return new[:-1] == last[: k - 1] and 1 <= new[-1] - last[k - 1] <= 2
    return False


def _blank_line_before(text: str, pos: int) -> bool:
    """The line at `pos` follows a blank line or starts the text (only whitespace before)."""
    start = max(0, pos - 200)
    head = text[start:pos]
    if start == 0 and not head.strip():
        return True
    return bool(_BLANK_BEFORE.search(head))


def numbered_headings(text: str, *, need_blank_before: bool = False) -> list[Heading]:
    """Lines such as ``3 Model Architecture`` or ``3.2.1 Scaled Dot-Product Attention``.

    Only kept when the numbering continues from the previous kept heading, which filters out
    wrapped lines of prose that happen to start with a number. The title excludes the number.
    """
    out: list[Heading] = []
    last: tuple[int, ...] | None = None
    for m in _NUMBERED.finditer(text):
        title = m.group(2).strip()
        if not _looks_like_title(title):
            continue
        number = tuple(int(p) for p in m.group(1).split("."))
        if not _plausible_next(last, number):
            continue
        if need_blank_before and not _blank_line_before(text, m.start()):
            continue
        out.append(Heading(len(number), title, m.start()))
        last = number
    return out


def _caps_headings(text: str) -> list[Heading]:
    """Short ALL-CAPS lines standing alone between blank lines (a plain-text convention)."""
    out = []
    for m in _CAPS_LINE.finditer(text):
        line = m.group(1)
        letters = [c for c in line if c.isalpha()]
        if len(letters) < 3 or not all(c.isupper() for c in letters):
            continue
        if len(line.split()) > 8 or len(letters) < 0.6 * len(line.replace(" ", "")):
            continue
        if any(q in line for q in _QUOTES) or line[-1] in ",;:-<>":
            continue  # a shouted line of dialogue or a letter's salutation
        if not _BLANK_AFTER.match(text, m.end()) or not _blank_line_before(text, m.start()):
            continue
        out.append(Heading(1, line.strip(), m.start()))
    return out


def plain_text_headings(text: str) -> list[Heading]:
    """Headings in a plain text file: chapter lines, standalone ALL-CAPS lines, numbered
    headings after a blank line, and Markdown ``#`` headings."""
    chapters = [Heading(1, m.group(1).strip(), m.start()) for m in _CHAPTER.finditer(text)]
    chapters = [h for h in chapters if _blank_line_before(text, h.offset)]
    return merge_headings(
        chapters,
        _caps_headings(text),
        numbered_headings(text, need_blank_before=True),
        markdown_headings(text),
    )


def detect_headings(text: str) -> list[Heading]:
    """Headings of an arbitrary string, for callers that did not load it through a loader:
    LaTeX sectioning commands, else Markdown ATX headings."""
    if "\\" in text:
        found = latex_headings(text)
        if found:
            return found
    if "#" in text:
        return markdown_headings(text)
    return []
