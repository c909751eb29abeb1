"""One rate limiter per provider endpoint, shared by every parallel branch of a process.

Limits, over a sliding window (60 s by default):
- requests started per window (`rpm`);
- tokens per window (`tpm`): each request books its estimate (prompt + output cap) when it
  starts and is settled to the usage the provider reports, because Bedrock throttles on
  tokens and counting requests alone does not keep a run under its quota;
- calls in flight at once (`max_in_flight`);
- a minimum spacing between request starts (`min_interval`: the seeds' `--sequential --delay`
  and `CHUNK_PROCESSING_DELAY`);
- a hold after the server said "retry after N seconds" (`hold`), so parallel branches stop
  sending together instead of each collecting its own 429.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

WINDOW = 60.0


class _Booking:
    __slots__ = ("started", "tokens")

    def __init__(self, started: float, tokens: int) -> None:
        self.started = started
        self.tokens = tokens


@dataclass(frozen=True)
class LimiterStats:
    started: int
    max_in_flight: int
    waited_seconds: float
    holds: int


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cond = threading.Condition()
        self._clock = clock
        self._bookings: deque[_Booking] = deque()
        self._last_start: float | None = None
        self._hold_until = 0.0
        self._in_flight = 0
        self._started = 0
        self._max_seen = 0
        self._waited = 0.0
        self._holds = 0
        self.rpm: float | None = None
        self.tpm: float | None = None
        self.min_interval = 0.0
        self.max_in_flight: int | None = None
        self.window = WINDOW
        self.configure(rpm=rpm, tpm=tpm, min_interval=min_interval,
                       max_in_flight=max_in_flight, window=window)

    def configure(
        self,
        *,
        rpm: float | None,
        tpm: float | None,
        min_interval: float,
        max_in_flight: int | None = None,
        window: float | None = None,
    ) -> None:
        """Apply the limits of the run now starting; the request history is kept."""
        for name, value in (("rpm", rpm), ("tpm", tpm), ("max_in_flight", max_in_flight)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
        with self._cond:
            self.rpm, self.tpm = rpm, tpm
            self.min_interval = max(0.0, float(min_interval))
            self.max_in_flight = max_in_flight
            if window is not None:
                if window <= 0:
                    raise ValueError(f"window must be positive, not {window}")
                self.window = float(window)
            self._cond.notify_all()

    @property
    def unlimited(self) -> bool:
        return (
            self.rpm is None and self.tpm is None and not self.min_interval
            and self.max_in_flight is None
        )

    def stats(self) -> LimiterStats:
        with self._cond:
            return LimiterStats(self._started, self._max_seen, self._waited, self._holds)

    def hold(self, seconds: float) -> None:
        """No request starts for `seconds` (the server asked every caller to back off)."""
        if seconds <= 0:
            return
        with self._cond:
            until = self._clock() + seconds
            if until > self._hold_until:
                self._hold_until = until
                self._holds += 1

    def _wait_time(self, now: float, tokens: int) -> float | None:
        """Seconds until a request of `tokens` may start; None: wait for a call to finish."""
        while self._bookings and now - self._bookings[0].started >= self.window:
            self._bookings.popleft()
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            return None
        waits = [0.0, self._hold_until - now]
        if self._last_start is not None and self.min_interval > 0:
            waits.append(self._last_start + self.min_interval - now)
        cap = None if self.rpm is None else max(1, int(self.rpm))
        if cap is not None and len(self._bookings) >= cap:
            # the start that must leave the window before one more fits
            index = len(self._bookings) - cap
            waits.append(self._bookings[index].started + self.window - now)
        if self.tpm is not None and self._bookings:
            used = sum(b.tokens for b in self._bookings)
            if used + tokens > self.tpm:
                # free enough of the window; a request bigger than the budget waits for it empty
                need, freed = used + min(tokens, int(self.tpm)) - self.tpm, 0
                for booking in self._bookings:
                    freed += booking.tokens
                    if freed >= need:
                        waits.append(booking.started + self.window - now)
                        break
                else:
                    waits.append(self._bookings[-1].started + self.window - now)
        return max(waits)

    def acquire(self, estimated_tokens: int) -> _Booking:
        """Block until a request may start; book it."""
        tokens = max(0, int(estimated_tokens))
        with self._cond:
            began = self._clock()
            while True:
                now = self._clock()
                wait = self._wait_time(now, tokens)
                if wait is not None and wait <= 0:
                    break
                self._cond.wait(timeout=1.0 if wait is None else min(wait, 1.0))
            booking = _Booking(now, tokens)
            self._bookings.append(booking)
            self._last_start = now
            self._in_flight += 1
            self._started += 1
            self._max_seen = max(self._max_seen, self._in_flight)
            self._waited += now - began
            return booking

    def release(self, booking: _Booking, actual_tokens: int | None = None) -> None:
        with self._cond:
            if actual_tokens is not None:
                booking.tokens = max(0, int(actual_tokens))
            self._in_flight -= 1
            self._cond.notify_all()

    @contextmanager
    def slot(self, estimated_tokens: int) -> Iterator[Callable[[int], None]]:
        """Wait for room, hold a slot while the call runs, then settle the real token count."""
        booking = self.acquire(estimated_tokens)
        settled: list[int] = []

        def settle(actual_tokens: int) -> None:
            settled.append(actual_tokens)

        try:
            yield settle
        finally:
            self.release(booking, settled[-1] if settled else None)


_LIMITERS: dict[str, RateLimiter] = {}
_LOCK = threading.Lock()


def limiter_for(
    endpoint: str,
    *,
    rpm: float | None,
    tpm: float | None,
    min_interval: float = 0.0,
    max_in_flight: int | None = None,
    window: float | None = None,
) -> RateLimiter:
    """The process-wide limiter of one endpoint (provider + region or base URL)."""
    with _LOCK:
        limiter = _LIMITERS.get(endpoint)
        if limiter is None:
            limiter = RateLimiter(rpm=rpm, tpm=tpm, min_interval=min_interval,
                                  max_in_flight=max_in_flight, window=window or WINDOW)
            _LIMITERS[endpoint] = limiter
        else:
            limiter.configure(rpm=rpm, tpm=tpm, min_interval=min_interval,
                              max_in_flight=max_in_flight, window=window)
        return limiter


def reset_limiters() -> None:
    """Forget every limiter (tests, and a host that changes limits between runs)."""
    with _LOCK:
        _LIMITERS.clear()
