"""Split a long document into contiguous spans that each fit a token budget.

The text is tokenized once; token start offsets give an estimate of any slice's token count
by bisection (prefix sums over tokens), so choosing cuts never re-encodes large slices. Each
cut is placed near the ideal equal-size position, choosing the best-quality boundary within a
window of +-25% of the target size (see `sections`). The final spans are then counted exactly,
once each, and any span the estimate got wrong is repaired, so the budget always holds.

`num_chunks=N` gives exactly N spans of similar size when the budget allows it, except that a
text too short to be worth cutting N ways gets fewer: at most one span per `MIN_SPAN_TOKENS`
tokens (a 10-token text is one span). More spans than N are made only when N would overflow
`max_tokens`, or when the only alternative is cutting inside an equation or code block.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from chunkwise.text.headings import Heading, detect_headings
from chunkwise.text.sections import (
    LINE,
    CandidateFinder,
    ProtectedRanges,
    Span,
    protected_ranges,
    section_title_at,
)
from chunkwise.text.tokens import Tokenizer, default_tokenizer

__all__ = ["MIN_SPAN_TOKENS", "Span", "split_paper"]

MIN_SPAN_TOKENS = 32
WINDOW = 0.25  # preferred cut window, as a share of the target span size, each side
DISTANCE_PENALTY = 20.0  # score lost at the window edge; quality classes are 12-18 apart
MAX_REGROWTHS = 16  # restarts with one more span before accepting a degraded cut


class _NeedMoreSpans(Exception):
    """Raised inside a planning pass: this span count cannot be packed cleanly."""


@dataclass
class _Estimator:
    """Approximate token counts of slices from the token start offsets of the whole text."""

    offsets: list[int]
    length: int

    @property
    def total(self) -> int:
        return len(self.offsets)

    def tok(self, pos: int) -> int:
        """Tokens starting before char `pos`."""
        return bisect.bisect_left(self.offsets, pos)

    def char(self, tok: float) -> int:
        """Char position of token index `tok` (clamped)."""
        t = int(tok)
        if t <= 0:
            return 0
        return self.offsets[t] if t < len(self.offsets) else self.length

    def count(self, start: int, end: int) -> int:
        """Estimated tokens in ``text[start:end]``: whole tokens starting inside, plus one for a
        token cut in two at `start`."""
        if end <= start:
            return 0
        i = self.tok(start)
        split = 1 if i >= len(self.offsets) or self.offsets[i] != start else 0
        return self.tok(end) - i + split


class _Planner:
    """Chooses cut positions for a given span count; one instance per `split_paper` call."""

    def __init__(
        self,
        text: str,
        est: _Estimator,
        finder: CandidateFinder,
        protected: ProtectedRanges,
        budget: int,
    ) -> None:
        self.text = text
        self.est = est
        self.finder = finder
        self.protected = protected
        self.budget = budget

    def plan(self, n: int, *, strict: bool) -> list[int]:
        """Cut positions for `n` spans. With `strict`, raise `_NeedMoreSpans` instead of cutting
        inside a protected block or a word when more spans would avoid it; without it, grow
        the span count in place only when the budget leaves no choice."""
        length = len(self.text)
        total = self.est.total
        cuts: list[int] = []
        prev = 0
        while n - len(cuts) > 1:
            spans_left = n - len(cuts)
            prev_t = self.est.tok(prev)
            target = (total - prev_t) / spans_left
            if target <= 0:
                break
            first_extra = 0 if prev == 0 or self._token_start(prev) else 1
            hi_t = prev_t + self.budget - first_extra
            # Leave no more than the remaining spans can hold (one token of slack each).
            lo_t = total - (spans_left - 1) * max(1, self.budget - 1)
            lo_t = max(lo_t, prev_t + 1)
            if lo_t > hi_t:
                if strict:
                    raise _NeedMoreSpans
                n += 1
                continue
            cut = self._choose(prev, prev_t + target, target, lo_t, hi_t, strict)
            if cut is None or cut <= prev or cut >= length:
                break  # nothing left worth cutting
            cuts.append(cut)
            prev = cut
        return cuts

    def _token_start(self, pos: int) -> bool:
        i = self.est.tok(pos)
        return i < self.est.total and self.est.offsets[i] == pos

    def _choose(
        self, prev: int, ideal_t: float, target: float, lo_t: int, hi_t: int, strict: bool
    ) -> int | None:
        width = max(1.0, WINDOW * target)
        win_lo = max(lo_t, math.floor(ideal_t - width))
        win_hi = min(hi_t, math.ceil(ideal_t + width))
        hard = (self.est.char(lo_t), self.est.char(hi_t))

        def fits(pos: int) -> bool:
            return prev < pos and self.est.count(prev, pos) <= self.budget

        # 1. Natural boundary near the ideal point; 2. anywhere the budget allows.
        for lo_c, hi_c in ((self.est.char(win_lo), self.est.char(win_hi)), hard):
            best = self._best(lo_c, hi_c, ideal_t, width, fits, protected_ok=False)
            if best is not None:
                return best
        if strict and self._has_clean_cut(prev, hard[0]):
            raise _NeedMoreSpans  # a cleaner cut exists before; more spans would reach it
        # 3. Last resorts: a line end inside a protected block, then any token boundary.
        best = self._best(*hard, ideal_t, width, fits, protected_ok=True, classes=(LINE,))
        if best is not None:
            return best
        return self._best_token(hard[0], hard[1], ideal_t, fits)

    def _best(
        self,
        lo: int,
        hi: int,
        ideal_t: float,
        width: float,
        fits: Callable[[int], bool],
        *,
        protected_ok: bool,
        classes: tuple[int, ...] | None = None,
    ) -> int | None:
        """Highest-scoring candidate in ``[lo, hi]``: quality minus a distance penalty.
        Classes are scanned best first and skipped once they cannot beat the best so far."""
        best_pos: int | None = None
        best_score = -math.inf
        for upper in classes or self.finder.classes():
            if best_score >= upper:
                break
            for pos, quality in self.finder.of_class(upper, lo, hi):
                if quality <= best_score:
                    continue
                if not protected_ok and self.protected.cuts_inside(pos):
                    continue
                distance = abs(self.est.tok(pos) - ideal_t) / width
                score = quality - DISTANCE_PENALTY * distance
                if score > best_score and fits(pos):
                    best_pos, best_score = pos, score
        return best_pos

    def _has_clean_cut(self, prev: int, before: int) -> bool:
        """Is there an unprotected natural boundary between `prev` and `before`?"""
        for upper in self.finder.classes():
            for pos, _ in self.finder.of_class(upper, prev + 1, before - 1):
                if not self.protected.cuts_inside(pos):
                    return True
        return False

    def _best_token(
        self, lo: int, hi: int, ideal_t: float, fits: Callable[[int], bool]
    ) -> int | None:
        """Token boundary closest to the ideal point, outside protected blocks if possible."""
        first = bisect.bisect_left(self.est.offsets, lo)
        last = bisect.bisect_right(self.est.offsets, hi)
        order = sorted(range(first, last), key=lambda t: abs(t - ideal_t))
        fallback: int | None = None
        for t in order:
            pos = self.est.offsets[t]
            if not 0 < pos < len(self.text) or not fits(pos):
                continue
            if not self.protected.cuts_inside(pos):
                return pos
            if fallback is None:
                fallback = pos
        return fallback


def _span_count(total: int, budget: int, num_chunks: int | Literal["auto"]) -> int:
    needed = max(1, math.ceil(total / budget))
    if num_chunks == "auto":
        return needed
    wanted = min(num_chunks, max(1, total // MIN_SPAN_TOKENS))
    return max(wanted, needed)


def _repair(
    text: str,
    cuts: list[int],
    counts: list[int],
    max_tokens: int,
    tokenizer: Tokenizer,
    planner: _Planner,
) -> tuple[list[int], list[int]]:
    """Split every span whose exact count exceeds the budget (the estimate can be off by a
    token or two at a cut). Each split point lies strictly inside the span, so this ends."""
    bounds = [0, *cuts, len(text)]
    out_bounds = [0]
    out_counts: list[int] = []
    stack = list(zip(bounds[:-1], bounds[1:], counts, strict=True))[::-1]
    while stack:
        start, end, count = stack.pop()
        if count <= max_tokens:
            out_bounds.append(end)
            out_counts.append(count)
            continue
        mid = _inner_cut(text, start, end, planner)
        if mid is None:
            raise ValueError(
                f"max_tokens={max_tokens} is too small: text[{start}:{end}] "
                f"({text[start:end]!r}) alone takes {count} tokens"
            )
        stack.append((mid, end, tokenizer.count(text[mid:end])))
        stack.append((start, mid, tokenizer.count(text[start:mid])))
    return out_bounds[1:-1], out_counts


def _inner_cut(text: str, start: int, end: int, planner: _Planner) -> int | None:
    """A good cut strictly inside ``[start, end)``, near its middle; None for one char."""
    if end - start < 2:
        return None
    est = planner.est
    a, b = est.tok(start), est.tok(end)
    middle = (a + b) / 2
    width = max(1.0, (b - a) / 2)

    def fits(pos: int) -> bool:
        return start < pos < end

    best = planner._best(start + 1, end - 1, middle, width, fits, protected_ok=False)
    if best is None:
        best = planner._best(start + 1, end - 1, middle, width, fits, protected_ok=True)
    if best is None:
        best = planner._best_token(start + 1, end - 1, middle, fits)
    return best if best is not None else (start + end) // 2


def split_paper(
    doc_text: str,
    *,
    headings: Sequence[Heading] = (),
    num_chunks: int | Literal["auto"] = 5,
    max_tokens: int,
    tokenizer: Tokenizer | None = None,
) -> list[Span]:
    """Cut `doc_text` into contiguous spans covering it exactly, each within `max_tokens`.

    `headings` (offsets into `doc_text`, e.g. from `load_document`) mark the preferred cuts;
    when empty, LaTeX/Markdown headings are detected in the text. `num_chunks` is the wanted
    count (see the module doc for when it differs) or "auto" for the fewest spans the budget
    allows. Token counts in the result are exact for each slice under `tokenizer` (default:
    cl100k). An empty text gives no spans.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if num_chunks != "auto" and (isinstance(num_chunks, bool) or num_chunks < 1):
        raise ValueError(f"num_chunks must be a positive int or 'auto', got {num_chunks!r}")
    if not doc_text:
        return []
    tok = tokenizer or default_tokenizer()
    heads = list(headings) if headings else detect_headings(doc_text)
    heads.sort(key=lambda h: h.offset)

    est = _Estimator(tok.offsets(doc_text), len(doc_text))
    # Keep a little headroom for estimate errors at cuts, when the budget is big enough.
    budget = max(1, max_tokens - min(4, max_tokens // 16))
    planner = _Planner(
        doc_text,
        est,
        CandidateFinder(doc_text, heads),
        ProtectedRanges(protected_ranges(doc_text)),
        budget,
    )
    n = _span_count(est.total, max_tokens, num_chunks)
    cuts: list[int] | None = None
    for _ in range(MAX_REGROWTHS):
        try:
            cuts = planner.plan(n, strict=True)
            break
        except _NeedMoreSpans:
            n += 1
    if cuts is None:
        cuts = planner.plan(n, strict=False)

    bounds = [0, *cuts, len(doc_text)]
    counts = [tok.count(doc_text[a:b]) for a, b in pairwise(bounds)]
    if any(c > max_tokens for c in counts):
        cuts, counts = _repair(doc_text, cuts, counts, max_tokens, tok, planner)
        bounds = [0, *cuts, len(doc_text)]

    head_offsets = [h.offset for h in heads]
    return [
        Span(a, b, section_title_at(heads, head_offsets, a), c)
        for a, b, c in zip(bounds[:-1], bounds[1:], counts, strict=True)
    ]
