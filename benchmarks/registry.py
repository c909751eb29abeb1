"""The benchmark registry: every module in `benchmarks/suite/` registers its benchmarks here.

To add one, write `benchmarks/suite/<name>.py` with

    from benchmarks.registry import RunContext, benchmark
    from benchmarks.report import Section

    @benchmark("my-bench", "7. My benchmark", order=70)
    def run(ctx: RunContext) -> Section:
        ...
        return Section(name="my-bench", title="7. My benchmark", tables=[...], targets=[...])

`python -m benchmarks` imports every module of the suite, runs what was asked, saves each
section and re-renders RESULTS.md. A benchmark honours `ctx.quick` (a short run of the same
measurement), writes plots with `ctx.plot(...)`, and states the command behind each number.
"""

from __future__ import annotations

import importlib
import pkgutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import Plot, Section

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RunContext:
    quick: bool
    results: Path  # where sections and plots go
    log: Callable[[str], None]

    @property
    def repo(self) -> Path:
        return REPO

    @property
    def shared(self) -> Path | None:
        """`../shared` next to the checkout (real texts), or None when absent."""
        path = (REPO / ".." / "shared").resolve()
        return path if path.is_dir() else None

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="chunkwise-bench-") as folder:
            yield Path(folder)

    def plot(self, figure: Any, file: str, caption: str) -> Plot:
        """Save a matplotlib figure beside RESULTS.md and describe it for the section."""
        import matplotlib.pyplot as plt

        figure.savefig(self.results / file, dpi=110, bbox_inches="tight")
        plt.close(figure)
        return Plot(file, caption)


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    run: Callable[[RunContext], Section]
    order: int


_REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str, title: str, *, order: int = 100
) -> Callable[[Callable[[RunContext], Section]], Callable[[RunContext], Section]]:
    """Register `fn(ctx) -> Section` under `name` (what `--only` selects)."""

    def register(fn: Callable[[RunContext], Section]) -> Callable[[RunContext], Section]:
        if name in _REGISTRY and _REGISTRY[name].run is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice")
        _REGISTRY[name] = Benchmark(name, title, fn, order)
        return fn

    return register


def discover() -> list[Benchmark]:
    """Import every module of `benchmarks.suite`; the registered benchmarks, in order."""
    import benchmarks.suite as suite

    for module in pkgutil.iter_modules(suite.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{suite.__name__}.{module.name}")
    return sorted(_REGISTRY.values(), key=lambda b: (b.order, b.name))
