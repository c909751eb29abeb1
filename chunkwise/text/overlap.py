"""Split a document into overlapping parts and stitch rewritten parts back, exactly.

Design. The *new* regions of the parts partition the document: part ``i`` owns
``text[start:end]`` and the regions are consecutive, so the source is their concatenation.
The overlap is not owned by anyone: part ``i`` shows the ``overlap_tokens`` of source text just
before its region (``text[context_start:start]``, already rewritten as part of part ``i-1``)
to the model as read-only context, and the model rewrites the region only. Stitching is
therefore concatenation of rewritten regions, with nothing to guess: a rewritten overlap never
has to be aligned against another rewrite of the same text, which cannot be done exactly once
a model paraphrases. With a model that returns what it was given, the output is the input.

The model sees a region's *core* (leading and trailing whitespace removed) and the stitcher
puts the region's own edge whitespace back around the answer, so paragraph breaks, CRLF line
ends and a BOM survive any model, and an echo stays byte-exact.

Cuts: a region ends about ``chunk_tokens`` (first part) or ``chunk_tokens - overlap_tokens``
(later parts) tokens after it starts, moved back to a paragraph end, else a sentence end, else
a line end, else a word boundary when one lies within a small window; never inside a fenced
code block or a LaTeX math environment unless the block is too long to keep whole.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from chunkwise.errors import ConfigError
from chunkwise.text.fences import fenced_code_ranges, unwrap_fence
from chunkwise.text.tokens import TokenCodec, Tokenizer, has_offsets

__all__ = [
    "Part",
    "check_sizes",
    "math_spans",
    "parts_from_json",
    "parts_to_json",
    "protected_spans",
    "restore_edges",
    "split_edges",
    "split_with_overlap",
    "strip_chatter",
    "tail_tokens",
    "trim_repeated_lead",
]

_BOM = "\ufeff"


@dataclass(frozen=True)
class Part:
    """One unit of rephrase's rewriting: region ``[start, end)`` of the document, shown with the
    already-covered context ``[context_start, start)``. Regions partition the document (unlike
    paper2code's `text.sections.Span`, a chunk summarized on its own, with no context)."""

    index: int
    start: int
    end: int
    context_start: int

    def to_list(self) -> list[int]:
        return [self.index, self.start, self.end, self.context_start]

    @classmethod
    def from_list(cls, row: Sequence[int]) -> Part:
        return cls(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def parts_to_json(parts: Sequence[Part]) -> str:
    """A plan of parts as compact JSON, for the blob store."""
    return json.dumps([p.to_list() for p in parts])


def parts_from_json(raw: str) -> tuple[Part, ...]:
    return tuple(Part.from_list(row) for row in json.loads(raw))


def check_sizes(chunk_tokens: int, overlap_tokens: int, prefix_window_tokens: int) -> None:
    """`ConfigError` naming the setting when the sizes cannot make a valid split."""
    if chunk_tokens < 2:
        raise ConfigError(f"chunk tokens must be at least 2, got {chunk_tokens}")
    if overlap_tokens < 0:
        raise ConfigError(f"overlap tokens must not be negative, got {overlap_tokens}")
    if overlap_tokens >= chunk_tokens:
        raise ConfigError(
            f"overlap tokens ({overlap_tokens}) must be smaller than chunk tokens ({chunk_tokens})"
        )
    if prefix_window_tokens < 1:
        raise ConfigError(
            f"prefix window tokens must be at least 1, got {prefix_window_tokens}: the model "
            "needs to see the end of what it has already written"
        )


# --- blocks that must not be cut ------------------------------------------------------------

_MATH_ENVS = "equation|align|alignat|flalign|gather|multline|eqnarray|math|displaymath|split|dmath"
_MATH = re.compile(
    r"\$\$.+?\$\$"  # display $$...$$
    r"|(?<!\\)\\\[.+?\\\]"  # \[ ... \]  (not the \\[2pt] line break)
    r"|(?<!\\)\\\(.+?\\\)"  # \( ... \)
    rf"|\\begin\{{({_MATH_ENVS})(\*?)\}}.*?\\end\{{\1\2\}}"
    r"|(?<![\\$\w])\$(?=[^\s$])(?:[^$\n\\]|\\.)+?(?<=[^\s\\])\$(?![\d$])",  # inline $x$
    re.DOTALL,
)


def math_spans(
    text: str, *, skip: Sequence[tuple[int, int]] | None = None
) -> list[tuple[int, int]]:
    """LaTeX math (``$..$``, ``$$..$$``, ``\\[..\\]``, ``\\(..\\)``, equation-like environments)
    outside code blocks, as ``(start, end)``."""
    skip = fenced_code_ranges(text) if skip is None else skip
    skip_starts = [s for s, _ in skip]
    spans: list[tuple[int, int]] = []
    for m in _MATH.finditer(text):
        i = bisect.bisect_right(skip_starts, m.start()) - 1
        if i >= 0 and skip[i][0] <= m.start() < skip[i][1]:
            continue  # a dollar sign in code is not math
        spans.append((m.start(), m.end()))
    return spans


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Code blocks and math, sorted and merged: a cut strictly inside one is avoided. A code
    fence left unclosed protects nothing (`chunkwise.text.fences`)."""
    code = fenced_code_ranges(text)
    merged: list[tuple[int, int]] = []
    for start, end in sorted([*code, *math_spans(text, skip=code)]):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# --- choosing cut points --------------------------------------------------------------------

_WS = re.compile(r"[\s\ufeff]+")
_CLOSERS = "\"')]}»”’*_"
# fmt: off
_ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "cf",
    "fig", "figs", "eq", "eqs", "no", "vol", "al", "ch", "sec", "p", "pp",
))
# fmt: on
_PARAGRAPH, _SENTENCE, _LINE, _WORD = 3, 2, 1, 0


def _kind(text: str, run_start: int, run: str) -> int:
    """How good a cut after this whitespace run is: paragraph > sentence > line > word."""
    if run.count("\n") >= 2:
        return _PARAGRAPH
    i = run_start - 1
    while i >= 0 and text[i] in _CLOSERS:
        i -= 1
    if i >= 0 and text[i] in ".!?…。！？":
        word = re.search(r"([\w.]+)\.$", text[max(0, i - 12) : i + 1])
        if text[i] != "." or word is None or word.group(1).lower() not in _ABBREVIATIONS:
            return _SENTENCE
    return _LINE if "\n" in run else _WORD


class _Cutter:
    """Token offsets, protected spans and the break search for one document."""

    def __init__(self, text: str, offsets: list[int], window: int) -> None:
        self.text = text
        self.offsets = offsets
        self.n = len(offsets)
        self.window = window
        self.spans = protected_spans(text)
        self.starts = [s for s, _ in self.spans]

    def pos(self, token: int) -> int:
        """Char position where token `token` starts (the end of the text past the last)."""
        return self.offsets[token] if token < self.n else len(self.text)

    def token_at(self, pos: int) -> int:
        """Number of tokens that start before `pos`."""
        return bisect.bisect_left(self.offsets, pos)

    def span_at(self, pos: int) -> tuple[int, int] | None:
        i = bisect.bisect_right(self.starts, pos) - 1
        if i >= 0 and self.spans[i][0] < pos < self.spans[i][1]:
            return self.spans[i]
        return None

    def best_break(
        self, lo: int, hi: int, floor: int, *, latest: bool = True, protect: bool = True
    ) -> int | None:
        """The best cut in ``(floor, hi]`` after a whitespace run starting in ``[lo, hi)``."""
        best: tuple[int, int] | None = None
        for m in _WS.finditer(self.text, lo, hi):
            p = m.end()
            if p <= floor or (protect and self.span_at(p) is not None):
                continue
            score = (_kind(self.text, m.start(), m.group()), p if latest else -p)
            if best is None or score > best:
                best = score
        return None if best is None else abs(best[1])

    def end_of(self, start: int, start_token: int, budget: int) -> int:
        """Where the region that starts at `start` ends, for `budget` tokens."""
        target = start_token + budget
        if target >= self.n:
            return len(self.text)
        hi = self.pos(target)
        while hi <= start and target < self.n:  # tokens that share a char position
            target += 1
            hi = self.pos(target)
        if hi <= start:
            return len(self.text)
        lo = self.pos(max(start_token + 1, target - self.window))
        cut = self.best_break(lo, hi, start)
        if cut is not None:
            return cut
        span = self.span_at(hi)
        if span is not None:
            block_start, block_end = span
            limit = self.pos(min(self.n, start_token + 2 * budget))
            text_before = block_start > start and self.text[start:block_start].strip()
            if text_before and (
                self.token_at(block_start) - start_token >= self.window or block_end > limit
            ):
                return block_start  # the block starts the next region
            if block_end <= limit:  # keep the block whole, at most twice the budget
                space = _WS.match(self.text, block_end)
                return space.end() if space else block_end
            cut = self.best_break(lo, hi, start, protect=False)  # unavoidable: cut inside
            return cut if cut is not None else hi
        return hi

    def context_start(self, start: int, overlap: int) -> int:
        """Start of the already-covered context shown before the region at `start`."""
        if overlap == 0 or start == 0:
            return start
        first = max(0, self.token_at(start) - overlap)
        if first == 0:
            return 0
        lo = self.pos(first)
        hi = min(start, self.pos(min(self.n, first + self.window)))
        cut = self.best_break(lo, hi, lo - 1, latest=False, protect=False) if lo < hi else None
        return cut if cut is not None and cut < start else min(lo, start)


def split_with_overlap(
    text: str,
    tokenizer: Tokenizer,
    *,
    chunk_tokens: int,
    overlap_tokens: int,
    snap_tokens: int | None = None,
) -> list[Part]:
    """Parts whose regions partition `text` (see the module docstring for the sizes)."""
    check_sizes(chunk_tokens, overlap_tokens, 1)
    if not text:
        return []
    offsets = tokenizer.offsets(text)
    if not offsets:
        return [Part(0, 0, len(text), 0)]
    step = chunk_tokens - overlap_tokens
    window = snap_tokens if snap_tokens is not None else max(1, min(64, step // 4))
    cutter = _Cutter(text, offsets, window)
    parts: list[Part] = []
    start = 0
    while start < len(text):
        budget = chunk_tokens if not parts else step
        end = cutter.end_of(start, cutter.token_at(start), budget)
        parts.append(Part(len(parts), start, end, cutter.context_start(start, overlap_tokens)))
        start = end
    return parts


# --- stitching ------------------------------------------------------------------------------


def _is_edge(ch: str) -> bool:
    return ch.isspace() or ch == _BOM


def split_edges(text: str) -> tuple[str, str, str]:
    """``(lead, core, trail)`` with ``lead + core + trail == text``; edges are whitespace/BOM."""
    i = 0
    while i < len(text) and _is_edge(text[i]):
        i += 1
    j = len(text)
    while j > i and _is_edge(text[j - 1]):
        j -= 1
    return text[:i], text[i:j], text[j:]


def restore_edges(source: str, rewritten: str) -> str:
    """The rewritten core wrapped in the source region's own edge whitespace."""
    lead, _, trail = split_edges(source)
    return lead + split_edges(rewritten)[1] + trail


# "Here is the rewritten text:" and the like: an opener that talks about the rewrite itself.
_PREFACE = re.compile(
    r"(?:here(?:'s| is| are)|sure|certainly|okay|ok|below is|rewritten)\b[^\n]{0,100}?"
    r"(?:rewrit|paraphras|simplif|version|passage|text|notes|questions)[^\n]{0,40}:[ \t]*\n",
    re.IGNORECASE,
)
_WRAP_TAG = re.compile(r"^<(text_to_rewrite(?:_\d+)?)>\s*\n?(.*?)\n?\s*</\1>$", re.DOTALL)


def strip_chatter(rewritten: str, source: str) -> str:
    """Remove what small models wrap answers in (a "Here is..." line, the prompt's tags, a code
    fence around everything), but only where the source itself does not start that way, so a
    model that returns its input unchanged is never altered."""
    out = split_edges(rewritten)[1]
    core = split_edges(source)[1]
    m = _PREFACE.match(out)
    if m and not core.startswith(m.group()):
        out = split_edges(out[m.end() :])[1]
    m = _WRAP_TAG.match(out)
    if m and _WRAP_TAG.match(core) is None:
        out = split_edges(m.group(2))[1]
    inner = unwrap_fence(out)
    if inner is not None and unwrap_fence(core) is None:
        out = split_edges(inner)[1]
    return out


def trim_repeated_lead(
    rewritten: str, covered: Sequence[str], source: str, *, min_chars: int = 24
) -> str:
    """Drop a verbatim repeat of already-covered text from the start of `rewritten`.

    `covered` holds what the reader has already seen (the source overlap, the rewritten text so
    far). A suffix of one of them, at least `min_chars` long, that `rewritten` starts with is
    cut, unless the region's `source` starts with the same text (then it is genuine: an echo of
    a region that really begins that way is never trimmed).
    """
    out = split_edges(rewritten)[1]
    if len(out) < min_chars:
        return out
    core = split_edges(source)[1]
    head = out[:min_chars]
    best = 0
    for seen in covered:
        seen = split_edges(seen)[1]
        at = seen.find(head)
        while at != -1:
            length = len(seen) - at
            if length > best and out.startswith(seen[at:]) and not core.startswith(seen[at:]):
                best = length
            at = seen.find(head, at + 1)
    return split_edges(out[best:])[1] if best else out


def tail_tokens(text: str, tokenizer: Tokenizer | TokenCodec, tokens: int) -> str:
    """The last `tokens` tokens of `text`, started at a word boundary when one is near: a slice
    of `text`, except with an `encode`/`decode`-only tokenizer (the original APIs' protocol),
    whose last tokens are decoded instead."""
    if tokens <= 0 or not text:
        return ""
    if not has_offsets(tokenizer):
        ids = tokenizer.encode(text)
        return text if len(ids) <= tokens else str(tokenizer.decode(ids[-tokens:]))
    offsets = tokenizer.offsets(text)
    if len(offsets) <= tokens:
        return text
    cut = offsets[len(offsets) - tokens]
    space = _WS.search(text, cut, min(len(text), cut + 64))
    if space is not None and cut > 0 and not _is_edge(text[cut - 1]):
        cut = space.end()
    return text[cut:]
