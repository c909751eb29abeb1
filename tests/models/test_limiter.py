"""RateLimiter arithmetic on a fake clock, and its thread behaviour on small windows."""

from __future__ import annotations

import threading
import time

import pytest

from chunkwise.models.limiter import RateLimiter, limiter_for, reset_limiters


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rpm_waits_for_the_oldest_start_to_leave_the_window() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=2, window=10.0, clock=clock)
    for _ in range(2):
        limiter.release(limiter.acquire(1))
        clock.now += 1.0
    assert limiter._wait_time(clock.now, 1) == pytest.approx(8.0)  # 100 + 10 - 102
    clock.now = 110.0
    assert limiter._wait_time(clock.now, 1) == 0.0


def test_tpm_books_estimates_and_settles_to_actual_usage() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=1000, window=60.0, clock=clock)
    booking = limiter.acquire(900)
    assert limiter._wait_time(clock.now, 200) == pytest.approx(60.0)  # 900 + 200 > 1000
    limiter.release(booking, actual_tokens=300)  # the provider reported less
    assert limiter._wait_time(clock.now, 200) == 0.0


def test_a_request_larger_than_tpm_waits_for_an_empty_window_then_goes() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=100, window=60.0, clock=clock)
    limiter.release(limiter.acquire(50))
    clock.now += 5
    assert limiter._wait_time(clock.now, 500) == pytest.approx(55.0)
    clock.now += 55
    assert limiter._wait_time(clock.now, 500) == 0.0  # never deadlocks on an oversized call


def test_min_interval_and_hold() -> None:
    clock = Clock()
    limiter = RateLimiter(min_interval=2.0, clock=clock)
    limiter.release(limiter.acquire(1))
    assert limiter._wait_time(clock.now, 1) == pytest.approx(2.0)
    limiter.hold(5.0)
    assert limiter._wait_time(clock.now, 1) == pytest.approx(5.0)
    limiter.hold(1.0)  # a shorter hold does not shorten the longer one
    assert limiter._wait_time(clock.now, 1) == pytest.approx(5.0)
    assert limiter.stats().holds == 1


def test_max_in_flight_waits_for_a_call_to_finish() -> None:
    limiter = RateLimiter(max_in_flight=1)
    booking = limiter.acquire(1)
    assert limiter._wait_time(time.monotonic(), 1) is None
    limiter.release(booking)
    assert limiter._wait_time(time.monotonic(), 1) == 0.0


@pytest.mark.parametrize("bad", [{"rpm": 0}, {"tpm": -1}, {"max_in_flight": 0}, {"window": 0}])
def test_invalid_limits_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**bad)  # type: ignore[arg-type]


def test_threads_never_exceed_max_in_flight() -> None:
    limiter = RateLimiter(max_in_flight=3)
    active, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        with limiter.slot(1):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.02)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= 3 and limiter.stats().max_in_flight <= 3
    assert limiter.stats().started == 12


def test_threads_respect_rpm_on_a_small_window() -> None:
    window = 0.3
    limiter = RateLimiter(rpm=2, window=window)
    starts: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        with limiter.slot(1), lock:
            starts.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    for i in range(len(starts) - 2):
        assert starts[i + 2] - starts[i] >= window - 1e-3


def test_one_limiter_per_endpoint_and_later_runs_reconfigure_it() -> None:
    reset_limiters()
    a = limiter_for("openai:http://x", rpm=10, tpm=None)
    b = limiter_for("openai:http://x", rpm=20, tpm=500, window=5.0)
    c = limiter_for("bedrock:us-east-1", rpm=None, tpm=None)
    assert a is b and a is not c
    assert (a.rpm, a.tpm, a.window) == (20, 500, 5.0)
    reset_limiters()
    assert limiter_for("openai:http://x", rpm=None, tpm=None) is not a
