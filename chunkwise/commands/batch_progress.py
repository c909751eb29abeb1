"""A batch's progress: documents done / failed / total, tokens, documents per minute, ETA.

One line on stderr, refreshed as rows are written; the rate and the ETA count only documents
run by this process (documents skipped because the output already holds them are instant).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class BatchProgress:
    def __init__(self, total: int, *, enabled: bool = True) -> None:
        self.total = total
        self.done = self.failed = self.skipped_count = self.ran = 0
        self.tokens = 0
        self.cost: float | None = None
        self.failed_ids: list[Any] = []
        self.started = time.monotonic()
        self._recorded = 0.0
        self._bar: tqdm[Any] | None = None
        if enabled:
            self._bar = tqdm(total=total, file=sys.stderr, dynamic_ncols=True, leave=True,
                             desc="documents", bar_format="{desc} {n_fmt}/{total_fmt}{postfix}")

    def skipped(self) -> None:
        """A document the output already holds as done."""
        self.skipped_count += 1
        self.done += 1
        self._show()

    def add(self, row: dict[str, Any]) -> None:
        self.ran += 1
        if row.get("status") == "done":
            self.done += 1
        else:
            self.failed += 1
            self.failed_ids.append(row.get("run_id"))
        usage = row.get("usage") or {}
        self.tokens += int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
        if usage.get("cost_usd") is not None:
            self.cost = (self.cost or 0.0) + float(usage["cost_usd"])
        self._show()

    @property
    def per_minute(self) -> float:
        elapsed = time.monotonic() - self.started
        return 60.0 * self.ran / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        rate = self.per_minute
        left = self.total - self.done - self.failed
        return _clock(60.0 * left / rate) if rate > 0 and left > 0 else "-"

    def _show(self) -> None:
        if self._bar is None:
            return
        self._bar.n = self.done + self.failed
        self._bar.set_postfix_str(
            f"done {self.done} · failed {self.failed} · {self.tokens:,} tokens · "
            f"{self.per_minute:.1f} docs/min · ETA {self.eta()}",
            refresh=True,
        )

    def due(self, force: bool = False) -> bool:
        """Whether to record progress in the runs table now (at most once a second)."""
        now = time.monotonic()
        if force or now - self._recorded >= 1.0:
            self._recorded = now
            return True
        return False

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def summary(self, batch_id: str, input_name: str, output: str) -> dict[str, Any]:
        return {
            "batch_id": batch_id, "input": input_name, "output": output, "total": self.total,
            "done": self.done, "failed": self.failed, "skipped": self.skipped_count,
            "ran": self.ran, "tokens": self.tokens, "cost_usd": self.cost,
            "seconds": round(time.monotonic() - self.started, 3),
            "docs_per_minute": round(self.per_minute, 2), "failed_run_ids": self.failed_ids,
        }

    def line(self, batch_id: str, output: str) -> str:
        cost = f" · ~${self.cost:.4f}" if self.cost is not None else ""
        return (
            f"batch {batch_id}: {self.done} done, {self.failed} failed of {self.total} "
            f"({self.skipped_count} already done) · {self.tokens:,} tokens{cost} · "
            f"{self.per_minute:.1f} docs/min · {_clock(time.monotonic() - self.started)} · "
            f"wrote {output}"
        )
