"""Render the pipelines' custom stream events as one progress bar on stderr.

Events (`runtime.progress.ProgressEvent`): `stage` starts a bar, `unit_done` advances it, and the
model seam's `call_started` / `call_finished` / `call_retry` keep the calls-in-flight count.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from tqdm import tqdm


class ProgressBar:
    """Units done, calls in flight, failures and retries; tqdm adds the elapsed time."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: tqdm[Any] | None = None
        self._in_flight = 0
        self._failed = 0
        self._retries = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _tick(self) -> None:
        # keep the elapsed time moving while a long model call is in flight
        while not self._stop.wait(1.0):
            with self._lock:
                if self._bar is not None:
                    self._bar.refresh()

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self._lock:
            kind = event.get("event")
            if kind == "stage":
                self._start(str(event.get("stage", "")), event.get("total"))
            elif kind == "unit_done":
                if not event.get("ok", True):
                    self._failed += 1
                if self._bar is not None:
                    self._bar.update(1)
            elif kind == "call_started":
                self._in_flight += 1
            elif kind == "call_finished":
                self._in_flight = max(0, self._in_flight - 1)
            elif kind == "call_retry":
                self._retries += 1
            self._refresh()

    def _start(self, name: str, total: Any) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        if self._bar is not None:
            self._bar.close()
        self._failed = 0
        self._bar = tqdm(
            total=int(total) if total else None,
            desc=name,
            unit="part",
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )

    def _refresh(self) -> None:
        if self._bar is None:
            return
        extra = {"in flight": self._in_flight}
        if self._failed:
            extra["failed"] = self._failed
        if self._retries:
            extra["retries"] = self._retries
        self._bar.set_postfix(extra, refresh=True)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
