"""Which attempt to keep when a unit of work is retried: the rule every retry loop shares
(rephrase's rewrites of a part, generate's QC rewrites of a section)."""

from __future__ import annotations


def replaces_best(problems: int, best: int | None) -> bool:
    """Whether an attempt with `problems` failed checks replaces the best one so far, which had
    `best` (None before the first attempt): fewer problems win, and on a tie the later attempt,
    written with more feedback, does."""
    return best is None or problems <= best
