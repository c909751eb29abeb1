"""One rate limiter per provider endpoint, shared by every parallel branch of a process.

Limits requests per minute and tokens per minute over a sliding 60-second window (Bedrock
throttles on tokens, so counting requests is not enough), an optional minimum spacing between
request starts (the seed's `--sequential --delay`), and calls in flight.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WINDOW = 60.0


class RateLimiter:
    """Blocking limiter; thread-safe because LangGraph runs sync branches in a thread pool."""

    def __init__(
        self,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        min_interval: float = 0.0,
        max_in_flight: int | None = None,
        window: float = WINDOW,
    ) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.min_interval = min_interval
        self.max_in_flight = max_in_flight
        self.window = window
        self._cond = threading.Condition()
        self._starts: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        self._last_start: float | None = None
        self._in_flight = 0

    def configure(self, *, rpm: float | None, tpm: float | None, min_interval: float) -> None:
        """Apply the limits of the run now starting; the request history is kept."""
        with self._cond:
            self.rpm, self.tpm, self.min_interval = rpm, tpm, min_interval
            self._cond.notify_all()

    def _wait_time(self, now: float, tokens: int) -> float:
        while self._starts and now - self._starts[0] >= self.window:
            self._starts.popleft()
        while self._tokens and now - self._tokens[0][0] >= self.window:
            self._tokens.popleft()
        waits = [0.0]
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            waits.append(0.05)
        if self._last_start is not None and self.min_interval > 0:
            waits.append(self._last_start + self.min_interval - now)
        if self.rpm is not None and len(self._starts) >= self.rpm:
            waits.append(self._starts[0] + self.window - now)
        if self.tpm is not None and self._tokens:
            used = sum(n for _, n in self._tokens)
            if used + tokens > self.tpm:
                # free enough of the window; a request bigger than the budget waits for it empty
                need, freed = used + tokens - self.tpm, 0
                for stamp, n in self._tokens:
                    freed += n
                    if freed >= need:
                        waits.append(stamp + self.window - now)
                        break
                else:
                    waits.append(self._tokens[-1][0] + self.window - now)
        return max(waits)

    @contextmanager
    def slot(self, estimated_tokens: int) -> Iterator[Callable[[int], None]]:
        """Wait for room, hold a slot while the call runs, then settle the real token count."""
        with self._cond:
            while True:
                now = time.monotonic()
                wait = self._wait_time(now, estimated_tokens)
                if wait <= 0:
                    break
                self._cond.wait(timeout=min(wait, 1.0))
            self._starts.append(now)
            entry = [now, estimated_tokens]
            self._tokens.append((now, estimated_tokens))
            self._last_start = now
            self._in_flight += 1

        def settle(actual_tokens: int) -> None:
            with self._cond:
                for i, (stamp, n) in enumerate(self._tokens):
                    if stamp == entry[0] and n == entry[1]:
                        self._tokens[i] = (stamp, actual_tokens)
                        entry[1] = actual_tokens
                        break

        try:
            yield settle
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()


_LIMITERS: dict[str, RateLimiter] = {}
_LOCK = threading.Lock()


def limiter_for(
    endpoint: str, *, rpm: float | None, tpm: float | None, min_interval: float = 0.0
) -> RateLimiter:
    """The process-wide limiter of one endpoint (provider + region or base URL)."""
    with _LOCK:
        limiter = _LIMITERS.get(endpoint)
        if limiter is None:
            limiter = RateLimiter(rpm=rpm, tpm=tpm, min_interval=min_interval)
            _LIMITERS[endpoint] = limiter
        else:
            limiter.configure(rpm=rpm, tpm=tpm, min_interval=min_interval)
        return limiter


def reset_limiters() -> None:
    """Forget every limiter (tests, and a host that changes limits between runs)."""
    with _LOCK:
        _LIMITERS.clear()
