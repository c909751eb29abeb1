"""Run one function over a stream of items, a bounded number at a time, results as they come.

The batch command's local executor (Ray's is `runtime.ray_pool`, with the same shape). Items
are pulled from the iterator only when a worker is free, so a long input is never read ahead
of the work. Workers are daemon threads: on Ctrl-C the command returns at once and the
documents in flight keep their checkpoints for the next run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")

_DONE = object()


class Failed(Generic[T]):
    """An item whose work raised: the item and the exception."""

    def __init__(self, item: T, error: BaseException) -> None:
        self.item, self.error = item, error


def run_unordered(
    work: Callable[[T], U], items: Iterable[T], concurrency: int
) -> Iterator[tuple[T, U | Failed[T]]]:
    """`(item, work(item))` in completion order, at most `concurrency` items in flight."""
    todo: queue.Queue[object] = queue.Queue()  # never more than `concurrency` items
    results: queue.Queue[tuple[T, U | Failed[T]]] = queue.Queue()

    def worker() -> None:
        while (item := todo.get()) is not _DONE:
            try:
                results.put((item, work(item)))  # type: ignore[arg-type]
            except BaseException as exc:  # the caller decides what a failure means
                results.put((item, Failed(item, exc)))  # type: ignore[arg-type]

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, concurrency))]
    for thread in threads:
        thread.start()
    in_flight = 0
    source = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted and in_flight < len(threads):
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                todo.put(item)
                in_flight += 1
            if in_flight == 0:
                return
            yield results.get()
            in_flight -= 1
    finally:
        for _ in threads:
            todo.put(_DONE)
