"""The batch executor on Ray: a fixed set of worker actors, items sent as workers free up.

Same shape as `runtime.pool.run_unordered`. The work function is shipped once to each actor
(its constructor argument); then each item is one actor call. The workers are a fixed set of
processes for the whole batch, so per-process state such as an endpoint's rate limiter is one
per worker, which lets the caller give each worker an even share of a provider's limits.

A worker process that dies is restarted by Ray (`max_restarts`) and its calls in flight are
sent again (`max_task_retries`); work that resumes from checkpoints loses nothing but the
calls it had in flight. Without an address a local Ray is started (and stopped at the end);
with one the batch joins that cluster, after checking it can be reached at all, because
`ray.init` waits without end for an address where nothing listens. A cluster with token
authentication (`ray start`'s default once a token exists) needs `RAY_AUTH_MODE=token` here:
Ray never sends its token to an explicit address unasked, and neither does chunkwise.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from chunkwise.errors import ConfigError
from chunkwise.runtime.pool import Failed

T = TypeVar("T")
U = TypeVar("U")

RESTARTS = 3  # a worker that dies more often than this fails its documents (a re-run resumes)
CONNECT_TIMEOUT = 5.0


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'chunkwise[ray]'") from None
    return ray


def check_reachable(address: str) -> None:
    """One line, before `ray.init`, if nothing listens at a `host:port` or `ray://host:port`
    address ("auto" is left to Ray)."""
    if address == "auto":
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray {address}: give HOST:PORT or ray://HOST:PORT of a Ray cluster")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"--ray {address}: no Ray cluster reachable there ({reason}); check the address, "
            "or start one with `ray start --head`"
        ) from None


class _Worker:
    """One Ray actor: holds the work function and runs items through it, threaded."""

    def __init__(self, work: Callable[[Any], Any]) -> None:
        self.work = work

    def run(self, item: Any) -> Any:
        return self.work(item)


class RayPool:
    """Ray started locally (`address` None) or joined, and `workers` actors on it."""

    def __init__(self, address: str | None, *, workers: int | None, concurrency: int) -> None:
        ray = _ray()
        self._ray = ray
        self.local = address is None
        if address is not None:
            check_reachable(address)
        wanted = workers or min(os.cpu_count() or 1, concurrency)
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.local:
            options.update(address="local", num_cpus=max(1, wanted), include_dashboard=False)
        else:
            options.update(address=address)
        try:
            ray.init(**options)
        except ConnectionError as exc:
            raise ConfigError(
                f"--ray {address}: cannot join the cluster ({exc}); if it uses token "
                "authentication, set RAY_AUTH_MODE=token and give this machine the cluster's "
                "token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
            ) from None
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self.workers = max(1, workers or min(int(cpus) or 1, concurrency))
        # documents mostly wait on model calls: a worker needs a share of a CPU, not a whole one
        self._cpus_each = min(1.0, cpus / self.workers)

    def run_unordered(
        self, work: Callable[[T], U], items: Iterable[T], concurrency: int
    ) -> Iterator[tuple[T, U | Failed[T]]]:
        """`(item, work(item))` in completion order, at most `concurrency` items in flight
        over all workers (spread evenly); a worker lost for good gives `Failed` items."""
        ray = self._ray
        each = max(1, math.ceil(concurrency / self.workers))
        actor_class = ray.remote(_Worker).options(
            num_cpus=self._cpus_each,
            max_concurrency=each,
            max_restarts=RESTARTS,
            max_task_retries=RESTARTS,
        )
        actors = [actor_class.remote(work) for _ in range(self.workers)]
        load = [0] * len(actors)
        pending: dict[Any, tuple[T, int]] = {}
        source = iter(items)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < concurrency:
                    try:
                        item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    index = min(range(len(actors)), key=load.__getitem__)
                    pending[actors[index].run.remote(item)] = (item, index)
                    load[index] += 1
                if not pending:
                    return
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    item, index = pending.pop(ref)
                    load[index] -= 1
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        yield item, Failed(item, exc)
                    else:
                        yield item, result
        finally:
            for actor in actors:
                ray.kill(actor)

    def close(self) -> None:
        """Stop a local Ray; leave a joined cluster (its own processes keep running)."""
        self._ray.shutdown()
