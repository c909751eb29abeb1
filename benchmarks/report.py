"""What a benchmark returns (`Section`: tables, targets, plots, commands) and RESULTS.md.

Each benchmark's section is saved as JSON in `benchmarks/results/`, and RESULTS.md is rendered
from every saved section, so `python -m benchmarks --only NAME` refreshes one section and keeps
the others (each says when, on which commit and how it ran).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""

    def markdown(self) -> str:
        lines = []
        if self.caption:
            lines += [self.caption, ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Target:
    """One target of the issue: what was asked, what was measured, whether it was met."""

    what: str
    target: str
    measured: str
    met: bool | None  # None: not measurable in this run (skipped, quick)


@dataclass
class Plot:
    file: str  # name inside the results folder
    caption: str


@dataclass
class Section:
    name: str
    title: str
    about: str = ""
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    # filled in by the runner
    order: int = 100
    quick: bool = False
    ran_at: str = ""
    commit: str = ""
    load_average: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)  # raw numbers for later comparison

    def save(self, folder: Path) -> Path:
        path = folder / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=1, default=str) + "\n", "utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Section:
        raw = json.loads(path.read_text("utf-8"))
        raw["tables"] = [Table(**t) for t in raw.get("tables", [])]
        raw["targets"] = [Target(**t) for t in raw.get("targets", [])]
        raw["plots"] = [Plot(**p) for p in raw.get("plots", [])]
        return cls(**raw)

    def markdown(self, results_dir: str) -> str:
        out = [f"## {self.title}", ""]
        how = "quick run" if self.quick else "full run"
        out += [
            f"*{self.ran_at}, commit `{self.commit}`, {how}, {self.seconds:.0f} s; "
            f"load average at start {self.load_average}. Rerun: "
            f"`python -m benchmarks --only {self.name}`.*",
            "",
        ]
        if self.about:
            out += [self.about, ""]
        if self.skipped:
            out += [f"**Skipped:** {self.skipped}", ""]
        if self.targets:
            rows = [(self.title, self.quick, t) for t in self.targets]
            out += [_targets_table(rows, with_name=False).markdown(), ""]
        for table in self.tables:
            out += [table.markdown(), ""]
        for plot in self.plots:
            out += [f"![{plot.caption}]({results_dir}/{plot.file})", "", f"*{plot.caption}*", ""]
        if self.notes:
            out += [f"- {note}" for note in self.notes] + [""]
        if self.commands:
            out += ["Commands behind these numbers:", "", "```sh", *self.commands, "```", ""]
        return "\n".join(out)


def mark(met: bool | None, quick: bool) -> str:
    if met is None:
        return "quick run" if quick else "-"
    return "met" if met else "**missed**"


def _targets_table(targets: list[tuple[str, bool, Target]], *, with_name: bool) -> Table:
    """Rows of (benchmark title, quick run?, target)."""
    headers = (["benchmark"] if with_name else []) + ["target", "asked", "measured", "result"]
    rows = [
        ([name] if with_name else []) + [t.what, t.target, t.measured, mark(t.met, quick)]
        for name, quick, t in targets
    ]
    return Table(headers, rows)


def render(sections: list[Section], machine: dict[str, str], results_dir: str) -> str:
    sections = sorted(sections, key=lambda s: (s.order, s.name))
    out = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks` (see README.md in this folder for what each benchmark "
        "measures and how). Every section states when and on which commit it ran; a quick run "
        "(`--quick`) is marked as such and its numbers are not the reference ones.",
        "",
        "## Machine",
        "",
        Table(["", ""], [[k, v] for k, v in machine.items()]).markdown(),
        "",
        "## Targets",
        "",
    ]
    targets = [(s.title, s.quick, t) for s in sections for t in s.targets]
    if targets:
        out += [_targets_table(targets, with_name=True).markdown(), ""]
    out += [s.markdown(results_dir) for s in sections]
    return "\n".join(out).rstrip() + "\n"


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"
