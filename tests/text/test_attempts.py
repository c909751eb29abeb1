"""The rule that picks which attempt of a retried unit is kept."""

from __future__ import annotations

from chunkwise.text.attempts import replaces_best


def test_fewest_problems_win_and_a_tie_goes_to_the_later_attempt() -> None:
    best: int | None = None
    kept = []
    for attempt, problems in enumerate([3, 1, 2, 1, 4]):
        if replaces_best(problems, best):
            best = problems
            kept.append(attempt)
    assert kept == [0, 1, 3] and best == 1
