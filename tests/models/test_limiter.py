"""The limiter: bucket arithmetic on a fake clock, adaptation (AIMD, Retry-After, provider
headers), a property test of the pacing bound, and thread behaviour on short bursts."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkwise.errors import ConfigError
from chunkwise.models.headers import ProviderLimits
from chunkwise.models.limiter import (
    DECREASE,
    FULL_GRACE,
    RAMP_STEP,
    Feedback,
    LimiterConfig,
    Permit,
    RateLimiter,
    limiter_for,
    reset_limiters,
    set_limiter_factory,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def admit(limiter: RateLimiter, tokens: int = 1) -> Permit:
    """Book a request that may start now (fails the test if it would wait)."""
    permit = limiter.try_acquire(tokens)
    assert isinstance(permit, Permit), f"would wait {permit}s"
    return permit


def test_rpm_paces_starts_after_the_burst() -> None:
    """Replaces the fixed-window test: 60 rpm with a 2 s burst lets 2 go at once, then one a
    second (a window let the whole minute's 60 go at once)."""
    clock = Clock()
    limiter = RateLimiter(rpm=60, burst_seconds=2.0, clock=clock)
    admit(limiter)
    admit(limiter)
    assert limiter._wait_time(clock.now, 1) == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter._wait_time(clock.now, 1) == pytest.approx(0.5)
    clock.now += 0.5
    admit(limiter)


def test_fractional_rpm_is_not_rounded_up() -> None:
    """--rpm 0.5 is one request every 120 s (it was rounded to 1: double the asked rate)."""
    clock = Clock()
    limiter = RateLimiter(rpm=0.5, clock=clock)
    admit(limiter)  # a request is bigger than 2 s of 0.5 rpm: it waits for a full bucket
    assert limiter._wait_time(clock.now, 1) == pytest.approx(120.0 + FULL_GRACE)


def test_tpm_books_estimates_and_settles_to_actual_usage() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=6000, burst_seconds=10.0, clock=clock)  # 100/s, holds 1000
    permit = admit(limiter, 900)
    assert limiter._wait_time(clock.now, 200) == pytest.approx(1.0)  # 100 left, 100 short
    limiter.settle(permit, 300)  # the provider reported less
    assert limiter._wait_time(clock.now, 200) == 0.0
    limiter.settle(admit(limiter, 200), 1200)  # and more: the bucket goes into debt
    assert limiter._wait_time(clock.now, 100) == pytest.approx(6.0)  # 500 owed + 100


def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket_then_goes() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=6000, burst_seconds=1.0, clock=clock)  # 100/s, holds 100
    admit(limiter, 50)
    # full in 0.5 s, and then a little longer: the provider's bucket fills at the same moment
    assert limiter._wait_time(clock.now, 500) == pytest.approx(0.5 + FULL_GRACE)
    clock.now += 0.5
    assert limiter._wait_time(clock.now, 500) == pytest.approx(FULL_GRACE)
    assert limiter._wait_time(clock.now, 100) == 0.0  # a request the bucket holds: no grace
    clock.now += FULL_GRACE
    admit(limiter, 500)  # never deadlocks on an oversized call
    assert limiter._wait_time(clock.now, 10) == pytest.approx(4.1)  # 400 of debt, then 10
    clock.now += 4.1
    assert limiter._wait_time(clock.now, 500) == pytest.approx(0.9 + FULL_GRACE)
    clock.now += 2.0  # full for a while: goes at once
    assert limiter._wait_time(clock.now, 500) == 0.0
    limiter.settle(admit(limiter, 50), 0)  # a refund that fills the bucket starts the grace
    assert limiter._wait_time(clock.now, 500) == pytest.approx(FULL_GRACE)


def test_min_interval_and_hold() -> None:
    clock = Clock()
    limiter = RateLimiter(min_interval=2.0, clock=clock)
    admit(limiter)
    assert limiter._wait_time(clock.now, 1) == pytest.approx(2.0)
    limiter.hold(5.0)
    assert limiter._wait_time(clock.now, 1) == pytest.approx(5.0)
    limiter.hold(1.0)  # a shorter hold does not shorten the longer one
    assert limiter._wait_time(clock.now, 1) == pytest.approx(5.0)
    assert limiter.stats().holds == 1


def test_max_in_flight_waits_for_a_call_to_finish() -> None:
    limiter = RateLimiter(max_in_flight=1, ramp_step=0)  # no slow start here
    permit = limiter.acquire(1)
    assert limiter._wait_time(time.monotonic(), 1) is None
    assert limiter.try_acquire(1) == pytest.approx(0.05)  # poll again soon
    limiter.release(permit)
    assert limiter._wait_time(time.monotonic(), 1) == 0.0


@pytest.mark.parametrize(
    "bad", [{"rpm": 0}, {"tpm": -1}, {"max_in_flight": 0}, {"burst_seconds": 0},
            {"rpm": float("nan")}, {"min_interval": -1}],
)
def test_invalid_limits_are_config_errors(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RateLimiter(**bad)  # type: ignore[arg-type]


# -- adaptation ---------------------------------------------------------------------------------
def test_a_throttle_lowers_the_rate_once_and_successes_restore_it() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=6000, rpm=600, clock=clock)
    first, second = admit(limiter, 10), admit(limiter, 10)
    limiter.feedback(first, Feedback(throttled=True))
    limiter.release(first)
    limiter.release(second)
    stats = limiter.stats()
    assert (stats.tpm, stats.rpm, stats.decreases) == (6000 * DECREASE, 600 * DECREASE, 1)
    limiter.feedback(second, Feedback(throttled=True))  # same congestion event: no second cut
    assert limiter.stats().tpm == pytest.approx(6000 * DECREASE)
    later = admit(limiter, 10)
    limiter.feedback(later, Feedback(throttled=True))  # started after the cut: cuts again
    assert limiter.stats().tpm == pytest.approx(6000 * DECREASE**2)
    assert limiter.stats().decreases == 2
    answers = 0
    while limiter.stats().tpm != 6000 or limiter.stats().rpm != 600:
        limiter.feedback(later, Feedback())
        answers += 1
    # 5% of the ceiling per answer, 0.5% between 90% and 100% of the rate that was cut
    assert 15 <= answers <= 30


def test_a_throttle_cuts_the_calls_in_flight_and_recovery_reopens_them() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, ramp_step=0)  # a burst at once
    permits = [admit(limiter, 0) for _ in range(6)]
    limiter.feedback(permits[0], Feedback(throttled=True))
    assert limiter.stats().in_flight_cap == 4  # floor(6 * 0.7)
    for permit in permits:
        limiter.release(permit)
    clock.now += 10.0  # the cut also paced requests (see the unbounded test): let it refill
    held = [admit(limiter, 0) for _ in range(4)]
    assert limiter._wait_time(clock.now, 1) is None
    for permit in held:
        limiter.feedback(permit, Feedback())
        limiter.release(permit)
    assert limiter.stats().in_flight_cap == pytest.approx(5.0, abs=0.1)  # +1 per 4 answers


def test_unbounded_until_the_provider_pushes_back_then_cut_from_the_rate_sent() -> None:
    clock = Clock()
    limiter = RateLimiter(burst_seconds=2.0, clock=clock, ramp_step=0)
    permits = [admit(limiter, 1000) for _ in range(20)]  # no limit: all go at once
    assert limiter.stats().tpm is None
    clock.now += 5.0
    limiter.feedback(permits[-1], Feedback(throttled=True))
    # 20 requests in 5 s, 19 of them taking their 1,000 tokens (the throttled one took none
    # at the provider): 228,000 tokens and 240 requests a minute sent; cut to 70%
    assert limiter.stats().tpm == pytest.approx(228_000 * DECREASE)
    assert limiter.stats().rpm == pytest.approx(240 * DECREASE)


def test_retry_after_holds_the_endpoint() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    permit = admit(limiter)
    limiter.feedback(permit, Feedback(throttled=True, retry_after=3.0))
    limiter.release(permit)
    assert limiter._wait_time(clock.now, 1) == pytest.approx(3.0)
    clock.now += 3.0
    assert limiter._wait_time(clock.now, 1) == 0.0


def test_reported_limits_become_the_ceiling_and_remaining_pulls_the_bucket_down() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=1_000_000, burst_seconds=2.0, clock=clock)
    permit = admit(limiter, 100)
    limiter.feedback(permit, Feedback(limits=ProviderLimits(
        tokens_limit=6000, tokens_remaining=50, requests_limit=60)))
    stats = limiter.stats()
    assert (stats.tpm, stats.rpm) == (6000, 60)  # the lower of asked and reported
    # 100/s refill; the provider has 50 left: 150 tokens wait 1 s
    assert limiter._wait_time(clock.now, 150) == pytest.approx(1.0)


def test_with_no_limit_known_the_opening_burst_doubles_per_step() -> None:
    """Slow start: 1 start, then 2, 4, 8 in all, one doubling per RAMP_STEP, so a provider's
    first 429 (a round trip away, with its limits) turns away one or two requests, not all."""
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    admit(limiter, 100)
    assert limiter._wait_time(clock.now, 100) == pytest.approx(RAMP_STEP)
    for allowed in (2, 4, 8, 16):
        clock.now += RAMP_STEP
        while limiter.stats().started < allowed:
            admit(limiter, 100)
        assert limiter._wait_time(clock.now, 100) == pytest.approx(RAMP_STEP)
    clock.now += 30 * RAMP_STEP  # no limit anywhere: wide open
    for _ in range(100):
        admit(limiter, 100)


def test_answers_grow_the_opening_burst_before_the_step_does() -> None:
    """Each answered call lets two more start (a doubling per round of answers, as TCP's slow
    start), so a model answering within the step is not paced by the clock; a throttled one
    does not count as an answer."""
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    first = admit(limiter, 100)
    assert limiter._wait_time(clock.now, 100) == pytest.approx(RAMP_STEP)
    limiter.release(first)
    limiter.feedback(first, Feedback())
    second, third = admit(limiter, 100), admit(limiter, 100)  # 1 + 2 x 1 answered
    assert limiter._wait_time(clock.now, 100) == pytest.approx(RAMP_STEP)
    for permit in (second, third):
        limiter.release(permit)
        limiter.feedback(permit, Feedback())
    for _ in range(4):  # 1 + 2 x 3 answered, still at the first instant
        admit(limiter, 100)
    assert limiter._wait_time(clock.now, 100) == pytest.approx(RAMP_STEP)


@pytest.mark.parametrize("known", ["given", "reported", "throttled"])
def test_the_slow_start_ends_once_a_limit_is_known(known: str) -> None:
    clock = Clock()
    given = LimiterConfig(rpm=6000) if known == "given" else None
    limiter = RateLimiter(given, clock=clock)
    first = admit(limiter, 100)
    if known == "reported":
        limiter.feedback(first, Feedback(limits=ProviderLimits(tokens_limit=6_000_000)))
    elif known == "throttled":
        limiter.feedback(first, Feedback(throttled=True))
        limiter.release(first)
    assert limiter._wait_time(clock.now, 100) == 0.0


def test_headers_start_an_unbounded_limiter_at_the_real_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(burst_seconds=1.0, clock=clock)
    permit = admit(limiter, 10)
    limiter.feedback(permit, Feedback(limits=ProviderLimits(tokens_limit=600)))
    assert limiter.stats().tpm == 600  # 10/s, holds 10, and owes the 10 just sent
    assert limiter._wait_time(clock.now, 10) == pytest.approx(1.0)


def test_a_burst_sent_before_the_limit_was_known_does_not_cut_below_it() -> None:
    """No limit given: the first answers (429s of the opening burst among them) report the
    limit; those 429s hold the endpoint and give their tokens back, but do not cut the rate
    below what the provider reported."""
    clock = Clock()
    limiter = RateLimiter(burst_seconds=2.0, clock=clock, ramp_step=0)
    burst = [admit(limiter, 5000) for _ in range(8)]
    limits = ProviderLimits(tokens_limit=240_000, tokens_remaining=2000)
    for permit in burst[2:]:
        limiter.feedback(permit, Feedback(throttled=True, retry_after=0.75, limits=limits))
        limiter.release(permit)
    stats = limiter.stats()
    assert (stats.tpm, stats.decreases) == (240_000, 0)
    # 8,000 held; the 2 that went owe 10,000; 5,000 more after 1.75 s at 4,000 a second
    assert limiter._wait_time(clock.now, 5000) == pytest.approx(1.75)
    clock.now += 1.75
    paced = admit(limiter, 5000)
    limiter.feedback(paced, Feedback(throttled=True, limits=limits))  # now a real throttle
    assert limiter.stats().tpm == pytest.approx(240_000 * DECREASE)


def test_a_throttle_without_retry_after_waits_as_the_headers_say() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    permit = admit(limiter, 500)
    limits = ProviderLimits(tokens_limit=60_000, tokens_remaining=100, tokens_reset=59.9)
    limiter.feedback(permit, Feedback(throttled=True, limits=limits))
    limiter.release(permit)
    # 59,900 used refill in 59.9 s (1000/s): 400 more tokens in 0.4 s
    assert limiter._wait_time(clock.now, 1) == pytest.approx(0.4)


# -- the pacing bound ---------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    tpm=st.floats(600, 600_000),
    rpm=st.one_of(st.none(), st.floats(1, 6000)),
    burst=st.floats(0.5, 5.0),
    sizes=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=60),
    gaps=st.lists(st.floats(0.0, 3.0), min_size=5, max_size=60),
    used=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=60),
)
def test_a_bucket_never_admits_more_than_its_rate_over_any_interval(
    tpm: float, rpm: float | None, burst: float, sizes: list[float], gaps: list[float],
    used: list[float],
) -> None:
    """Tokens used in any interval of T seconds stay within rate * (T + burst); requests
    within rpm/60 * T + max(1, what the burst holds)."""
    clock = Clock()
    limiter = RateLimiter(tpm=tpm, rpm=rpm, burst_seconds=burst, clock=clock)
    capacity = tpm / 60 * burst
    starts: list[tuple[float, float]] = []
    for i, share in enumerate(sizes):
        tokens = max(1, int(share * capacity))  # requests that fit the bucket
        clock.now += gaps[i % len(gaps)]
        while not isinstance(got := limiter.try_acquire(tokens), Permit):
            clock.now += got
        actual = int(tokens * used[i % len(used)])
        limiter.settle(got, actual)
        limiter.release(got)
        starts.append((clock.now, actual))
    for i, (t0, _) in enumerate(starts):
        for j in range(i, len(starts)):
            span = starts[j][0] - t0
            tokens_in = sum(n for _, n in starts[i:j + 1])
            assert tokens_in <= tpm / 60 * (span + burst) + 1e-6
            if rpm is not None:
                assert j - i + 1 <= rpm / 60 * span + max(1.0, rpm / 60 * burst) + 1e-6


# -- threads ------------------------------------------------------------------------------------
def test_threads_never_exceed_max_in_flight() -> None:
    limiter = RateLimiter(max_in_flight=3)
    active, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        permit = limiter.acquire(1)
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        limiter.release(permit)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= 3 and limiter.stats().max_in_flight <= 3
    assert limiter.stats().started == 12


def test_threads_are_paced_after_a_short_burst() -> None:
    """Replaces the small-window rpm test: 1200 rpm (20/s) holding 0.1 s (2 requests)."""
    limiter = RateLimiter(rpm=1200, burst_seconds=0.1)
    starts: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        limiter.release(limiter.acquire(1))
        with lock:
            starts.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    for i in range(len(starts) - 3):
        # 4 starts need the 2 the burst holds plus 2 refills of 0.05 s
        assert starts[i + 3] - starts[i] >= 0.1 - 0.01


# -- one per endpoint, and the hook for other implementations ----------------------------------
def test_one_limiter_per_endpoint_and_later_runs_reconfigure_it() -> None:
    reset_limiters()
    a = limiter_for("openai:http://x", LimiterConfig(rpm=10))
    b = limiter_for("openai:http://x", LimiterConfig(rpm=20, tpm=500, burst_seconds=5.0))
    c = limiter_for("bedrock:us-east-1", LimiterConfig())
    assert a is b and a is not c
    assert isinstance(a, RateLimiter)
    assert (a.stats().rpm, a.stats().tpm, a.config.burst_seconds) == (20, 500, 5.0)
    reset_limiters()
    assert limiter_for("openai:http://x", LimiterConfig()) is not a


def test_set_limiter_factory_installs_another_implementation() -> None:
    made: list[tuple[str, LimiterConfig]] = []

    def factory(endpoint: str, config: LimiterConfig) -> RateLimiter:
        made.append((endpoint, config))
        return RateLimiter(config)

    set_limiter_factory(factory)
    try:
        first = limiter_for("openai:http://shared", LimiterConfig(tpm=100))
        assert limiter_for("openai:http://shared", LimiterConfig(tpm=100)) is first
        assert made == [("openai:http://shared", LimiterConfig(tpm=100))]
    finally:
        set_limiter_factory(None)
    assert limiter_for("openai:http://shared", LimiterConfig()) is not first
