"""One rate limiter per provider endpoint, pacing requests the way providers meter them.

Providers meter requests and tokens per minute as continuously refilled buckets that hold only
a few seconds' worth, and answer a burst with 429. A fixed window let a whole minute's budget
out at once; this limiter paces instead:

- **Buckets.** `rpm` and `tpm` each refill at limit / 60 s per second and hold `burst_seconds`
  worth. A request books one request and its token estimate (prompt + output cap) when it
  starts (`acquire`) and is settled to the usage the provider reports (`settle`): Bedrock and
  OpenAI throttle on tokens, so counting requests alone does not keep a run under its quota.
  A bucket may go below zero: a request bigger than the bucket waits for a full bucket, goes,
  and the next one waits for the debt to refill (no deadlock, the long-run rate still holds).
- **Adaptive (AIMD).** A 429 / ThrottlingException (`feedback(throttled=True)`) cuts the
  allowed rates and the calls in flight by `DECREASE`, from the rate actually sent when that
  was lower, once per congestion event (a request that started before the last cut does not
  cut again). A throttled request gives its tokens back (the provider took none). Every
  answered call adds back `RECOVER` of the ceiling, but only `PROBE` between `NEAR` of the
  rate that drew the throttle and that rate, so a run sits just under the provider's limit
  instead of hitting it every few calls; up to the configured or reported limit. With no
  `rpm`/`tpm` the limiter starts unbounded and the first throttle measures the rate sent; the
  requests sent before the provider's limit was known (the first answers carry the headers)
  do not cut below it. Until then the opening burst ramps up (1, 2, 4... starts, one doubling
  per `RAMP_STEP`, or per round of answers when they come back sooner, as TCP's slow start
  does): the provider's first 429 comes back in a round trip with its headers, so one or two
  requests are turned away instead of every branch of the fan-out, and a fast model is not
  held back by a clock.
- **Headers.** The provider's `x-ratelimit-*` / `anthropic-ratelimit-*` headers (see
  `models.headers`) set the ceiling when none was given (`min(given, reported)` otherwise) and
  pull a bucket down to what the provider says remains (so other processes on the same key,
  and providers that do not give back an unused reply cap, are accounted for). `Retry-After`
  holds every branch of the endpoint (`hold`); a throttle without it waits as the
  `x-ratelimit-reset-*` headers say.
- `max_in_flight` calls at once and `min_interval` seconds between starts (the seeds'
  `--sequential --delay` and `CHUNK_PROCESSING_DELAY`) are hard bounds, as before.

Sharing: `limiter_for(endpoint, config)` gives every branch of a process the same limiter for
an endpoint (provider + region or base URL). To share one across processes or Ray workers,
implement the `Limiter` protocol (e.g. a proxy to a Ray actor holding a `RateLimiter`, polling
its non-blocking `try_acquire`) and install it with `set_limiter_factory` in each worker; the
model client only speaks the protocol.

`burst_seconds` defaults to 2: OpenAI and Anthropic document per-minute limits but say they
may be enforced over shorter intervals (60 RPM as 1 request per second), so a client bursting
more than a couple of seconds' worth is what draws 429s; 2 s still lets a run's first few
requests start together.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from chunkwise.errors import ConfigError
from chunkwise.models.headers import ProviderLimits

DECREASE = 0.7  # multiplicative cut on a throttle (CUBIC's, as botocore's adaptive retry mode)
RECOVER = 0.05  # additive recovery per answered call, as a share of the ceiling
PROBE = 0.005  # ... and near the rate that drew the last throttle, this much (a plateau)
NEAR = 0.9  # "near": this share of that rate
MIN_SHARE = 0.02  # a cut never goes below this share of the ceiling
OBSERVE = 60.0  # seconds of starts kept to measure the rate sent when no limit is known
MIN_OBSERVED = 3  # starts needed before the rate sent is taken as a measure
SENT_WINDOW = 10.0  # seconds over which the rate sent is measured at a throttle
RAMP_STEP = 0.25  # seconds per doubling of the opening burst while no limit is known
FULL_GRACE = 0.1  # seconds a request bigger than the bucket waits past it being full
POLL_SECONDS = 0.05  # what `try_acquire` suggests while every in-flight slot is taken
_MAX_SLEEP = 1.0  # a waiting thread re-checks at least this often (limits may change)

Kind = Literal["requests", "tokens"]
KINDS: tuple[Kind, Kind] = ("requests", "tokens")


def _cost(kind: Kind, tokens: float) -> float:
    """What one request takes from a bucket: one request, or its tokens."""
    return 1.0 if kind == "requests" else tokens


@dataclass(frozen=True)
class LimiterConfig:
    """The limits asked for; None means none (unbounded until the provider pushes back)."""

    rpm: float | None = None
    tpm: float | None = None
    burst_seconds: float = 2.0
    min_interval: float = 0.0
    max_in_flight: int | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm", "max_in_flight"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be more than 0, not {value!r}")
        if not self.burst_seconds > 0:
            raise ConfigError(f"burst_seconds must be more than 0, not {self.burst_seconds!r}")
        if not self.min_interval >= 0:
            raise ConfigError(f"min_interval must be 0 or more, not {self.min_interval!r}")


@dataclass(frozen=True)
class Permit:
    """One admitted request: what it booked, when, under which cut (`epoch`), and its number."""

    tokens: int
    started: float
    epoch: int
    number: int = 0


@dataclass(frozen=True)
class Feedback:
    """How a request went, as far as pacing is concerned."""

    throttled: bool = False
    retry_after: float | None = None
    limits: ProviderLimits | None = None


class Limiter(Protocol):
    """What the model client needs from a limiter (in-process, or shared across processes)."""

    def acquire(self, estimated_tokens: int) -> Permit:
        """Block until a request may start; book it."""
        ...

    def settle(self, permit: Permit, actual_tokens: int) -> None:
        """Replace the booked estimate with the tokens the provider reported."""
        ...

    def release(self, permit: Permit) -> None:
        """The request is over (answered or failed): free its in-flight slot."""
        ...

    def hold(self, seconds: float) -> None:
        """No request starts for `seconds` (the server asked every caller to back off)."""
        ...

    def feedback(self, permit: Permit, signal: Feedback) -> None:
        """Adapt to a request's outcome: throttled or answered, and the provider's headers."""
        ...

    def configure(self, config: LimiterConfig) -> None:
        """Apply the limits of a run now starting (a no-op when they are unchanged)."""
        ...


@dataclass(frozen=True)
class LimiterStats:
    started: int
    max_in_flight: int
    waited_seconds: float
    holds: int
    throttled: int
    decreases: int
    rpm: float | None  # the allowed rates now (None: unbounded)
    tpm: float | None
    in_flight_cap: float | None


def _exhausted(limits: ProviderLimits | None, permit: Permit) -> tuple[Kind, ...]:
    """Which limit a throttle was about, when the provider's headers say; else both."""
    if limits is None:
        return KINDS
    found: list[Kind] = []
    if limits.requests_remaining is not None and limits.requests_remaining < 1:
        found.append("requests")
    if limits.tokens_remaining is not None and limits.tokens_remaining < permit.tokens:
        found.append("tokens")
    return tuple(found) or KINDS


class _Start:
    """A request start, kept OBSERVE seconds: to measure the rate sent and to reconcile with
    what the provider says remains. A throttled request took no tokens at the provider."""

    __slots__ = ("number", "time", "tokens")

    def __init__(self, number: int, time: float, tokens: float) -> None:
        self.number, self.time, self.tokens = number, time, tokens


class _Bucket:
    """Refills `per_minute / 60` per second up to `burst_seconds` worth; may go into debt."""

    def __init__(self, per_minute: float, burst_seconds: float, now: float, level: float) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = self.rate * burst_seconds
        self.level = min(self.capacity, level)
        self.stamp = now
        self.full_at = -math.inf  # when the bucket last became full (it is full from the start)

    def advance(self, now: float) -> None:
        if now > self.stamp:
            filled = self.level + (now - self.stamp) * self.rate
            if filled >= self.capacity > self.level:
                self.full_at = self.stamp + (self.capacity - self.level) / self.rate
            self.level = min(self.capacity, filled)
            self.stamp = now

    def credit(self, amount: float, now: float) -> None:
        """Give back (or, negative, charge) `amount` now."""
        self.advance(now)
        before = self.level
        self.level = min(self.capacity, self.level + amount)
        if self.level >= self.capacity > before:
            self.full_at = now

    def wait(self, cost: float, now: float) -> float:
        """Seconds until `cost` may start: it needs `cost`, or a full bucket if bigger.

        A request bigger than the bucket needs the provider's bucket full too, and both fill
        up the moment the same debt is repaid: it waits `FULL_GRACE` past that moment so a
        few milliseconds of clock or transit do not make it arrive a hair early (a 429)."""
        if cost > self.capacity:
            short = self.capacity - self.level
            if short > 1e-9 * max(1.0, self.capacity):
                return short / self.rate + FULL_GRACE
            return max(0.0, self.full_at + FULL_GRACE - now)
        short = cost - self.level
        # within rounding of a refill to exactly `cost` counts as there (else a fake or coarse
        # clock can be asked to wait an amount too small to move it)
        return 0.0 if short <= 1e-9 * max(1.0, cost) else short / self.rate

    def resize(self, per_minute: float, burst_seconds: float) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = self.rate * burst_seconds
        self.level = min(self.level, self.capacity)


class RateLimiter:
    """The in-process `Limiter`; thread-safe (LangGraph runs sync branches in a thread pool)."""

    def __init__(
        self,
        config: LimiterConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rpm: float | None = None,
        tpm: float | None = None,
        burst_seconds: float = 2.0,
        min_interval: float = 0.0,
        max_in_flight: int | None = None,
        ramp_step: float | None = None,
    ) -> None:
        self._cond = threading.Condition()
        self._clock = clock
        self._ramp_step = RAMP_STEP if ramp_step is None else ramp_step
        self._first_start: float | None = None
        self.config = config or LimiterConfig(
            rpm=rpm, tpm=tpm, burst_seconds=burst_seconds, min_interval=min_interval,
            max_in_flight=max_in_flight,
        )
        now = clock()
        self._reported: dict[Kind, float | None] = {"requests": None, "tokens": None}
        self._buckets: dict[Kind, _Bucket | None] = {"requests": None, "tokens": None}
        self._scale: dict[Kind, float | None] = {"requests": None, "tokens": None}
        self._cut_at: dict[Kind, float] = {"requests": math.inf, "tokens": math.inf}
        self._starts: deque[_Start] = deque()  # the last OBSERVE seconds of starts
        self._learned_at: dict[Kind, float] = {"requests": -math.inf, "tokens": -math.inf}
        self._cap: float | None = None  # adaptive in-flight cap; None: only max_in_flight
        self._cap_cut_at = math.inf  # calls in flight when the last throttle came
        self._epoch = 0
        self._last_start: float | None = None
        self._hold_until = 0.0
        self._in_flight = 0
        self._started = 0
        self._answered = 0  # calls answered (not throttled): each lets the slow start grow
        self._max_seen = 0
        self._waited = 0.0
        self._holds = 0
        self._throttled = 0
        for kind in KINDS:
            self._set_rate(kind, self._ceiling(kind), now)

    # -- configuration ---------------------------------------------------------------------
    def configure(self, config: LimiterConfig) -> None:
        with self._cond:
            if config == self.config:
                return
            self.config = config
            now = self._clock()
            for kind in KINDS:
                self._set_rate(kind, self._ceiling(kind), now)
                self._scale[kind], self._cut_at[kind] = None, math.inf
            self._cap, self._cap_cut_at = None, math.inf
            self._cond.notify_all()

    def _ceiling(self, kind: Kind) -> float | None:
        """The lower of the limit asked for and the one the provider reported."""
        given = self.config.rpm if kind == "requests" else self.config.tpm
        values = [v for v in (given, self._reported[kind]) if v is not None]
        return min(values) if values else None

    def _set_rate(self, kind: Kind, per_minute: float | None, now: float) -> None:
        bucket = self._buckets[kind]
        if per_minute is None:
            self._buckets[kind] = None
        elif bucket is None:
            # a new bucket owes what started within its burst: those requests used the provider's
            recent = self._sent_since(now - self.config.burst_seconds, kind)
            full = per_minute / 60.0 * self.config.burst_seconds
            self._buckets[kind] = _Bucket(per_minute, self.config.burst_seconds, now, full - recent)
        else:
            bucket.advance(now)
            bucket.resize(per_minute, self.config.burst_seconds)

    def _allowed(self, kind: Kind) -> float | None:
        bucket = self._buckets[kind]
        return None if bucket is None else bucket.per_minute

    def _sent_since(self, since: float, kind: Kind) -> float:
        return sum(_cost(kind, s.tokens) for s in self._starts if s.time > since)

    # -- admission ---------------------------------------------------------------------------
    def _wait_time(self, now: float, tokens: int) -> float | None:
        """Seconds until a request of `tokens` may start; None: wait for a call to finish."""
        if self.config.max_in_flight is not None and self._in_flight >= self.config.max_in_flight:
            return None
        if self._cap is not None and self._in_flight >= max(1, math.floor(self._cap)):
            return None
        waits = [0.0, self._hold_until - now, self._ramp_wait(now)]
        if self._last_start is not None and self.config.min_interval > 0:
            waits.append(self._last_start + self.config.min_interval - now)
        for kind in KINDS:
            bucket = self._buckets[kind]
            if bucket is not None:
                bucket.advance(now)
                waits.append(bucket.wait(_cost(kind, tokens), now))
        return max(waits)

    def _ramp_wait(self, now: float) -> float:
        """Slow start while no limit is known (none given, none reported): 1 start, then 2, 4, 8...
        in all, one doubling per `ramp_step` seconds, so a provider's 429 (which comes back
        in a round trip, with its rate-limit headers) turns away one or two requests of the
        opening burst instead of every branch at once. Each answered call also lets two more
        start (1 + 2 x answered in all: a doubling per round of answers), so a model that
        answers within the step is not paced by the clock: an answer is the provider taking
        a request, the news the step waits for. Ends at the first limit learned or throttle;
        with no limit anywhere it is wide open within a second or two."""
        known = any(b is not None for b in self._buckets.values()) or self._throttled > 0
        if known or self._ramp_step <= 0 or self._first_start is None:
            return 0.0
        steps = math.floor((now - self._first_start) / self._ramp_step)
        if steps >= 30 or self._started < max(2**steps, 1 + 2 * self._answered):
            return 0.0
        return self._first_start + (steps + 1) * self._ramp_step - now

    def _admit(self, now: float, tokens: int) -> Permit:
        if self._first_start is None:
            self._first_start = now
        for kind in KINDS:
            bucket = self._buckets[kind]
            if bucket is not None:
                bucket.level -= _cost(kind, tokens)
        self._starts.append(_Start(self._started + 1, now, tokens))
        while self._starts and self._starts[0].time < now - OBSERVE:
            self._starts.popleft()
        self._last_start = now
        self._in_flight += 1
        self._started += 1
        self._max_seen = max(self._max_seen, self._in_flight)
        return Permit(tokens, now, self._epoch, self._started)

    def try_acquire(self, estimated_tokens: int) -> Permit | float:
        """Book a request if it may start now, else the seconds to wait before asking again
        (non-blocking: what a limiter in another process is polled with)."""
        tokens = max(0, int(estimated_tokens))
        with self._cond:
            now = self._clock()
            wait = self._wait_time(now, tokens)
            if wait is None:
                return POLL_SECONDS
            return self._admit(now, tokens) if wait <= 0 else wait

    def acquire(self, estimated_tokens: int) -> Permit:
        tokens = max(0, int(estimated_tokens))
        with self._cond:
            began = self._clock()
            while True:
                now = self._clock()
                wait = self._wait_time(now, tokens)
                if wait is not None and wait <= 0:
                    self._waited += now - began
                    return self._admit(now, tokens)
                self._cond.wait(timeout=_MAX_SLEEP if wait is None else min(wait, _MAX_SLEEP))

    def settle(self, permit: Permit, actual_tokens: int) -> None:
        with self._cond:
            bucket = self._buckets["tokens"]
            if bucket is not None:
                bucket.credit(permit.tokens - max(0, int(actual_tokens)), self._clock())
                self._cond.notify_all()

    def release(self, permit: Permit) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._cond.notify_all()

    def hold(self, seconds: float) -> None:
        if not seconds > 0:
            return
        with self._cond:
            until = self._clock() + seconds
            if until > self._hold_until:
                self._hold_until = until
                self._holds += 1

    # -- adaptation --------------------------------------------------------------------------
    def feedback(self, permit: Permit, signal: Feedback) -> None:
        with self._cond:
            now = self._clock()
            if signal.limits is not None:
                self._learn(signal.limits, permit, now)
            if signal.throttled:
                self._throttled += 1
                self._rejected(permit, now)
                hint = signal.retry_after
                if hint is None and signal.limits is not None:
                    hint = signal.limits.wait_hint(permit.tokens)
                if hint:
                    until = now + hint
                    if until > self._hold_until:
                        self._hold_until = until
                        self._holds += 1
                # one cut per congestion event, and none for what was sent before the
                # provider's limit was known (that burst is not a reason to go below it)
                kinds = tuple(k for k in _exhausted(signal.limits, permit)
                              if permit.started > self._learned_at[k])
                if permit.epoch == self._epoch and kinds:
                    self._decrease(now, kinds)
            else:
                self._answered += 1
                self._recover(now)
            self._cond.notify_all()

    def _rejected(self, permit: Permit, now: float) -> None:
        """A throttled request took no tokens at the provider: give them back here too (its
        request still counts: providers count rejected requests against the request limit)."""
        for start in self._starts:
            if start.number == permit.number:
                start.tokens = 0
        bucket = self._buckets["tokens"]
        if bucket is not None:
            bucket.credit(permit.tokens, now)

    def _learn(self, limits: ProviderLimits, permit: Permit, now: float) -> None:
        """Take the provider's limits as the ceiling; pull buckets down to what it says is left."""
        for kind in KINDS:
            if kind == "requests":
                limit, remaining = limits.requests_limit, limits.requests_remaining
            else:
                limit, remaining = limits.tokens_limit, limits.tokens_remaining
            if limit is not None and limit > 0 and limit != self._reported[kind]:
                self._reported[kind] = limit
                self._learned_at[kind] = now
                ceiling, allowed = self._ceiling(kind), self._allowed(kind)
                if allowed is None or (ceiling is not None and allowed > ceiling):
                    self._set_rate(kind, ceiling, now)
            bucket = self._buckets[kind]
            if remaining is not None and bucket is not None:
                # Providers report what remained either when they took the request (then
                # less what started since, refilled at their rate since) or when they
                # answered (then as is): the lower of the two is right or cautious either way.
                bucket.advance(now)
                rate = (self._reported[kind] or bucket.per_minute) / 60.0
                sent = self._sent_since(permit.started, kind)
                theirs = min(remaining, remaining - sent + (now - permit.started) * rate)
                bucket.level = min(bucket.level, theirs)

    def _decrease(self, now: float, kinds: tuple[Kind, ...]) -> None:
        self._epoch += 1
        for kind in kinds:
            # cut from the rate actually sent when that was lower than the one allowed (a rate
            # nobody reaches does not slow anything down when cut)
            allowed = self._allowed(kind)
            sent = self._sent_rate(now, kind)
            if sent and (allowed is None or sent < allowed):
                allowed = sent
            if allowed is None or allowed <= 0:
                continue  # too few starts to tell a rate; the in-flight cut still applies
            scale = self._ceiling(kind) or self._scale[kind] or allowed
            self._scale[kind] = scale
            self._cut_at[kind] = allowed
            self._set_rate(kind, max(allowed * DECREASE, scale * MIN_SHARE), now)
        in_flight = max(1, self._in_flight)
        current = in_flight if self._cap is None else min(self._cap, in_flight)
        self._cap_cut_at = current
        self._cap = max(1.0, math.floor(current * DECREASE))

    def _sent_rate(self, now: float, kind: Kind) -> float | None:
        """Per minute, over the last SENT_WINDOW seconds (at least a burst's length)."""
        recent = [s for s in self._starts if s.time > now - SENT_WINDOW]
        if len(recent) < MIN_OBSERVED:
            return None
        span = max(now - recent[0].time, self.config.burst_seconds)
        return sum(_cost(kind, s.tokens) for s in recent) / span * 60.0

    def _recover(self, now: float) -> None:
        for kind in KINDS:
            allowed, scale = self._allowed(kind), self._scale[kind]
            if allowed is None or scale is None:
                continue  # never cut: nothing to recover
            ceiling = self._ceiling(kind)
            # back quickly to near the rate that drew the throttle, slowly up to it, then on
            cut_at = self._cut_at[kind]
            step = PROBE if NEAR * cut_at <= allowed < cut_at else RECOVER
            raised = allowed + step * scale
            if ceiling is not None and raised >= ceiling:
                raised = ceiling
                self._scale[kind], self._cut_at[kind] = None, math.inf  # recovered
            self._set_rate(kind, raised, now)
        if self._cap is not None:  # one more call per round of answers, slower near the cut
            near = NEAR * self._cap_cut_at <= self._cap < self._cap_cut_at
            slow = PROBE / RECOVER if near else 1.0
            self._cap += slow / self._cap
            hard = self.config.max_in_flight
            if hard is not None and self._cap >= hard:
                self._cap, self._cap_cut_at = None, math.inf

    def stats(self) -> LimiterStats:
        with self._cond:
            return LimiterStats(
                self._started, self._max_seen, self._waited, self._holds, self._throttled,
                self._epoch, self._allowed("requests"), self._allowed("tokens"), self._cap,
            )


# -- one limiter per endpoint ----------------------------------------------------------------
LimiterFactory = Callable[[str, LimiterConfig], Limiter]


def _in_process(endpoint: str, config: LimiterConfig) -> Limiter:
    return RateLimiter(config)


_LIMITERS: dict[str, Limiter] = {}
_LOCK = threading.Lock()
_FACTORY: LimiterFactory = _in_process


def set_limiter_factory(factory: LimiterFactory | None) -> None:
    """Make every endpoint's limiter with `factory(endpoint, config)` from now on (None: the
    in-process `RateLimiter`); limiters made before are forgotten."""
    global _FACTORY
    with _LOCK:
        _FACTORY = factory or _in_process
        _LIMITERS.clear()


def limiter_for(endpoint: str, config: LimiterConfig) -> Limiter:
    """The process-wide limiter of one endpoint (provider + region or base URL)."""
    with _LOCK:
        limiter = _LIMITERS.get(endpoint)
        if limiter is None:
            limiter = _FACTORY(endpoint, config)
            _LIMITERS[endpoint] = limiter
            return limiter
    limiter.configure(config)
    return limiter


def reset_limiters() -> None:
    """Forget every limiter (tests, and a host that changes limits between runs)."""
    with _LOCK:
        _LIMITERS.clear()
