"""Small scanners for LaTeX syntax (and line starts) shared by the loaders and the splitter;
Markdown code fences are `chunkwise.text.fences`.

They work on the whole string with compiled regexes (C speed) and only loop in Python over the
matches, so they stay fast on book-length inputs.
"""

from __future__ import annotations

import re

__all__ = [
    "latex_to_plain",
    "line_start",
    "read_braced",
    "strip_latex_comments",
]


def line_start(text: str, pos: int) -> int:
    """Index where the line holding `pos` starts."""
    return text.rfind("\n", 0, pos) + 1


def read_braced(text: str, pos: int) -> tuple[str, int] | None:
    """Read a ``{...}`` group starting at `pos` (whitespace allowed before it).

    Returns the inner text and the index just past the closing brace, or None when there is no
    balanced group. Escaped braces (``\\{``) do not count.
    """
    n = len(text)
    while pos < n and text[pos] in " \t\n":
        pos += 1
    if pos >= n or text[pos] != "{":
        return None
    depth = 0
    i = pos
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[pos + 1 : i], i + 1
        i += 1
    return None


def read_bracketed(text: str, pos: int) -> tuple[str, int] | None:
    """Read an optional ``[...]`` argument at `pos` (whitespace allowed before it)."""
    n = len(text)
    while pos < n and text[pos] in " \t":
        pos += 1
    if pos >= n or text[pos] != "[":
        return None
    end = text.find("]", pos)
    if end < 0:
        return None
    return text[pos + 1 : end], end + 1


# A `%` starts a comment unless escaped; `\\%` is an escaped backslash followed by a comment.
_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%[^\n]*")
_COMMENT_ONLY_LINE = re.compile(r"^[ \t]*%[^\n]*\n?", re.MULTILINE)


def strip_latex_comments(text: str) -> str:
    """Remove LaTeX comments, keeping ``\\%``.

    Lines that hold only a comment vanish with their newline, so commented-out blocks do not
    leave blank lines that would look like paragraph breaks.
    """
    text = _COMMENT_ONLY_LINE.sub("", text)
    return _COMMENT.sub(r"\1", text)


_DROP_WITH_ARG = re.compile(r"\\(?:thanks|footnote|label|cite\w*|ref|eqref|url)\*?\s*")
_COMMAND_WITH_ARG = re.compile(r"\\[A-Za-z@]+\*?\s*(?=\{)")
_COMMAND = re.compile(r"\\[A-Za-z@]+\*?|\\[^A-Za-z]")
_SPACES = re.compile(r"\s+")


def latex_to_plain(fragment: str) -> str:
    """Best-effort plain text of a short LaTeX fragment such as a title.

    Drops ``\\thanks{...}``-like commands with their argument, turns ``\\\\`` into a space,
    drops other command names but keeps their arguments' text, and collapses whitespace.
    """
    out = []
    pos = 0
    for m in _DROP_WITH_ARG.finditer(fragment):
        if m.start() < pos:
            continue
        group = read_braced(fragment, m.end())
        if group is None:
            continue
        out.append(fragment[pos : m.start()])
        pos = group[1]
    out.append(fragment[pos:])
    text = "".join(out).replace("\\\\", " ").replace("~", " ")
    text = _COMMAND_WITH_ARG.sub("", text)  # \\textit{C}ontinued -> Continued
    text = _COMMAND.sub(lambda m: m.group(0)[1] if m.group(0)[1] in "%&$#_{}" else " ", text)
    text = text.replace("{", "").replace("}", "")
    return _SPACES.sub(" ", text).strip()
