"""Deterministic fixes and checks for the slips small code models make most.

`add_known_imports`: a repaired file often loses an import (`dataclass`, `F`, `math`) while
keeping its use. When the static check reports such a name undefined and the name has one
conventional import, that import is added without asking the model again.

`config_gap` / `config_findings`: the generated code keeps its hyperparameters on one
dataclass (`Config`); reading a field it does not declare (`config.num_classes`) or passing one
it does not take (`Config(vocab=...)`, `load_config(vocab=...)`) fails at run time, one error
per run. Found statically, every such field is reported at once. Small models rarely manage
to add them when asked, so `add_config_fields` declares them: with the value a call passed,
else a small placeholder chosen by the name (`placeholder`), each marked in the code.

Skeleton leftovers: a model filling in a skeleton sometimes keeps its `...`. A call such as
`Config(...)` becomes `Config()` (`drop_placeholder_calls`); a function whose body is still
`...` is reported (`placeholder_findings`), since only the model can write it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from chunkwise.text.code_check import Finding

__all__ = [
    "KNOWN_IMPORTS",
    "ConfigGap",
    "MissingField",
    "add_config_fields",
    "add_known_imports",
    "config_findings",
    "config_gap",
    "drop_placeholder_calls",
    "line_shape",
    "placeholder",
    "placeholder_findings",
    "source_offsets",
]

KNOWN_IMPORTS: dict[str, str] = {
    "dataclass": "from dataclasses import dataclass",
    "field": "from dataclasses import field",
    "fields": "from dataclasses import fields",
    "replace": "from dataclasses import replace",
    "math": "import math",
    "random": "import random",
    "time": "import time",
    "json": "import json",
    "copy": "import copy",
    "itertools": "import itertools",
    "functools": "import functools",
    "torch": "import torch",
    "nn": "import torch.nn as nn",
    "F": "import torch.nn.functional as F",
    "optim": "import torch.optim as optim",
    "np": "import numpy as np",
    "Path": "from pathlib import Path",
    "Any": "from typing import Any",
    "Optional": "from typing import Optional",
    "List": "from typing import List",
    "Dict": "from typing import Dict",
    "Tuple": "from typing import Tuple",
    "Callable": "from typing import Callable",
}
CONFIG_NAMES = frozenset({"config", "cfg"})
CONFIG_FACTORIES = frozenset({"load_config"})


def add_known_imports(source: str, undefined: Iterable[str]) -> tuple[str, list[str]]:
    """`source` with the conventional import of each undefined known name added after the
    file's docstring, `__future__` imports and top-level imports; and the lines added."""
    lines = sorted({KNOWN_IMPORTS[n] for n in undefined if n in KNOWN_IMPORTS})
    if not lines:
        return source, []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source, []
    after = 0
    for index, node in enumerate(tree.body):
        is_docstring = (index == 0 and isinstance(node, ast.Expr)
                        and isinstance(node.value, ast.Constant)
                        and isinstance(node.value.value, str))
        if is_docstring or isinstance(node, ast.Import | ast.ImportFrom):
            after = node.end_lineno or node.lineno
        else:
            break
    text = source.splitlines(keepends=True)
    block = "".join(line + "\n" for line in lines)
    if after and text and not text[after - 1].endswith("\n"):
        text[after - 1] += "\n"
    return "".join(text[:after]) + block + "".join(text[after:]), lines


def _is_dataclass(node: ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "dataclass":
            return True
    return False


def _members(node: ast.ClassDef) -> set[str]:
    members: set[str] = set()
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members.add(item.target.id)
        elif isinstance(item, ast.Assign):
            members.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            members.add(item.name)
    return members


def _receiver(node: ast.expr) -> bool:
    """`config` / `cfg`, or `self.config` / `self.cfg`."""
    if isinstance(node, ast.Name):
        return node.id in CONFIG_NAMES
    return (isinstance(node, ast.Attribute) and node.attr in CONFIG_NAMES
            and isinstance(node.value, ast.Name) and node.value.id == "self")


@dataclass(frozen=True)
class MissingField:
    """A field the code reads or passes that the config dataclass does not declare."""

    name: str
    path: str
    line: int
    col: int
    passed: object = None  # the literal a call passed for it, if any


@dataclass(frozen=True)
class ConfigGap:
    class_name: str
    path: str  # the file that defines the class
    members: frozenset[str]
    missing: tuple[MissingField, ...]


def config_gap(files: Mapping[str, str]) -> ConfigGap | None:
    """The config dataclass and the fields it lacks, in reading order per file.

    None unless exactly one dataclass whose name ends in `Config` (and has no base class)
    is defined among the files; attributes the code assigns itself (`config.extra = 1`)
    count as declared.
    """
    trees: dict[str, ast.Module] = {}
    for path, source in files.items():
        if PurePosixPath(path).suffix == ".py":
            try:
                trees[path] = ast.parse(source)
            except (SyntaxError, ValueError):
                continue
    configs = [(path, node) for path, tree in trees.items() for node in tree.body
               if isinstance(node, ast.ClassDef) and node.name.endswith("Config")
               and _is_dataclass(node) and not node.bases]  # inherited fields are not seen
    if len(configs) != 1 or not _members(configs[0][1]):
        return None
    where, config = configs[0]
    members = frozenset(_members(config))
    assigned = {node.attr for tree in trees.values() for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                and _receiver(node.value)}
    missing: dict[str, MissingField] = {}
    for path, tree in trees.items():
        nodes = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Attribute | ast.Call)),
                       key=lambda n: (n.lineno, n.col_offset))
        for node in nodes:  # in reading order: each field is reported where it first appears
            found: list[tuple[str, object]] = []
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                    and _receiver(node.value) and not node.attr.startswith("__")):
                found = [(node.attr, None)]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id == config.name or node.func.id in CONFIG_FACTORIES
            ):
                found = [(k.arg, _literal(k.value)) for k in node.keywords if k.arg is not None]
            for name, passed in found:
                if name not in members and name not in assigned and name not in missing:
                    missing[name] = MissingField(name, path, node.lineno, node.col_offset + 1,
                                                 passed)
    return ConfigGap(config.name, where, members, tuple(missing.values()))


def _literal(node: ast.expr) -> object:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, bool | int | float | str) else None


def config_findings(files: Mapping[str, str]) -> list[Finding]:
    """A blocking finding for each field the config dataclass lacks (see `config_gap`)."""
    gap = config_gap(files)
    if gap is None:
        return []
    shown = ", ".join(sorted(m for m in gap.members if not m.startswith("_")))
    return [
        Finding(path=f.path, kind="attribute", line=f.line, col=f.col, blocking=True,
                message=f"{gap.class_name} has no field {f.name!r} (its fields: {shown})")
        for f in gap.missing
    ]


# Placeholder values for a field the code reads but never declared, by what its name says;
# small enough for a smoke run. The field is marked in the code as added by chunkwise.
_FLOAT_WORDS = ("rate", "dropout", "lr", "eps", "decay", "momentum", "beta", "alpha", "gamma",
                "temperature", "scale", "smoothing", "std", "weight", "clip", "margin")
_INT_DEFAULTS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("vocab", "tokens"), 100),
    (("d_model", "dim", "hidden", "width", "embed", "channels", "features", "units"), 32),
    (("seq", "len", "context", "window", "frames"), 16),
    (("layers", "depth", "blocks"), 2),
    (("heads",), 4),
    (("batch",), 4),
    (("steps", "epochs", "iters", "warmup"), 3),
    (("kernel",), 3),
)


def placeholder(name: str) -> bool | float | int | str:
    lowered = name.lower()
    if lowered.startswith(("use_", "is_", "has_", "enable")):
        return False
    if lowered.endswith(("_name", "_path", "_dir", "dataset", "device")):
        return "cpu" if lowered.endswith("device") else ""
    if any(word in lowered for word in _FLOAT_WORDS):
        return 0.1
    for words, value in _INT_DEFAULTS:
        if any(word in lowered for word in words):
            return value
    return 4


def add_config_fields(
    source: str, class_name: str, fields: Mapping[str, object]
) -> tuple[str, list[str]]:
    """`source` with `fields` (name -> default) appended to dataclass `class_name`, each
    marked as added; and the lines added. Unchanged when the class is not in `source`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source, []
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name),
                None)
    if node is None or not fields or node.end_lineno is None:
        return source, []
    indent = " " * node.body[0].col_offset
    added = [f"{name}: {type(value).__name__} = {value!r}" for name, value in fields.items()]
    note = "  # added by chunkwise: the code uses it; set the paper's value"
    text = source.splitlines(keepends=True)
    end = node.end_lineno
    if not text[end - 1].endswith("\n"):
        text[end - 1] += "\n"
    block = "".join(f"{indent}{line}{note}\n" for line in added)
    return "".join(text[:end]) + block + "".join(text[end:]), added


_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
    "thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth")
_COUNTING = re.compile(rf"\d+(?:st|nd|rd|th)?|\b(?:{_NUMBER_WORDS})(?:-(?:{_NUMBER_WORDS}))?\b",
                       re.IGNORECASE)


def line_shape(line: str) -> str:
    """`line` with its numbers and number words (`conv12`, `twenty-third`) made alike, and a
    comment reduced to its indentation: a model that loops while counting (`# third layer`,
    `self.conv2 = ...`, `# fourth layer`, `self.conv3 = ...`) writes lines of one shape, and
    its comments drift (`thirti-first`)."""
    stripped = line.lstrip()
    if stripped.startswith("#"):
        return line[: len(line) - len(stripped)] + "#"
    return _COUNTING.sub("#", line)


def repeated_block(
    lines: list[str], start: int, period: int, compared: list[str] | None = None
) -> tuple[list[str], int]:
    """The `period` lines at `start` and how many times they follow one another there,
    compared as they are or as `compared` (the lines mapped one to one, by `line_shape`
    say) has them (0 when the block is short or blank: not a loop)."""
    block = lines[start:start + period]
    if len(block) < period or not any(line.strip() for line in block):
        return block, 0
    seen = lines if compared is None else compared
    first = seen[start:start + period]
    count = 1
    while seen[start + count * period:start + (count + 1) * period] == first:
        count += 1
    return block, count


def collapse_repeats(source: str, *, min_repeats: int = 4, max_period: int = 4) -> tuple[str, int]:
    """`source` with each run of one block of up to `max_period` lines repeated at least
    `min_repeats` times in a row kept once, followed by a comment saying so; and how many
    lines were dropped. A small model at temperature 0 sometimes loops like this until its
    token limit cuts the file off; the collapsed file is what a repair prompt should show."""
    lines = source.splitlines()
    out: list[str] = []
    dropped = 0
    i = 0
    while i < len(lines):
        for period in range(1, max_period + 1):
            block, count = repeated_block(lines, i, period)
            if not count:
                continue
            if count >= min_repeats:
                indent = block[0][: len(block[0]) - len(block[0].lstrip())]
                out.extend(block)
                out.append(f"{indent}# [chunkwise: the {period} line(s) above were repeated "
                           f"{count - 1} more times here: the output looped]")
                dropped += (count - 1) * period
                i += count * period
                break
        else:
            out.append(lines[i])
            i += 1
    if not dropped:
        return source, 0
    return "\n".join(out) + ("\n" if source.endswith("\n") else ""), dropped


def _is_ellipsis(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def source_offsets(source: str) -> Callable[[int, int], int]:
    """Maps an ast (line, column) position to an index into `source` (ast columns count UTF-8
    bytes, str indices count characters)."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        text = lines[line - 1].encode("utf-8")[:col].decode("utf-8", errors="ignore")
        return starts[line - 1] + len(text)

    return offset


def drop_placeholder_calls(source: str) -> tuple[str, list[str]]:
    """`Name(...)` calls copied from a skeleton, where `...` was meant to be filled in,
    rewritten as `Name()` (the defaults); and the calls rewritten, as `Name(...) -> Name()`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source, []
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and len(node.args) == 1 and not node.keywords and _is_ellipsis(node.args[0])
             and node.end_lineno is not None and node.end_col_offset is not None]
    if not calls:
        return source, []
    offset = source_offsets(source)
    done: list[str] = []
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        assert call.end_lineno is not None and call.end_col_offset is not None
        func = ast.get_source_segment(source, call.func) or ""
        begin = offset(call.lineno, call.col_offset)
        end = offset(call.end_lineno, call.end_col_offset)
        source = source[:begin] + f"{func}()" + source[end:]
        done.append(f"{func}(...) -> {func}()")
    return source, done[::-1]


def placeholder_findings(source: str, path: str) -> list[Finding]:
    """Functions whose whole body (after a docstring) is `...`, a skeleton part left empty,
    which returns None where the code expects a value; and functions with a `...` statement
    among others, a part of a skeleton's function left out."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        if len(body) == 1 and isinstance(body[0], ast.Expr) and _is_ellipsis(body[0].value):
            found.append(Finding(path=path, kind="placeholder", line=node.lineno,
                                 col=node.col_offset + 1, blocking=True,
                                 message=f"function {node.name!r} is not written: its body is "
                                         "only `...`"))
            continue
        # a `...` statement among others: a part of the skeleton left out (it does nothing,
        # so the function may run while missing what the paper puts there)
        left = next((stmt for stmt in ast.walk(node) if isinstance(stmt, ast.Expr)
                     and _is_ellipsis(stmt.value)), None)
        if left is not None:
            found.append(Finding(path=path, kind="placeholder", line=left.lineno,
                                 col=left.col_offset + 1, blocking=True,
                                 message=f"function {node.name!r} still has a `...` "
                                         "placeholder: write the code it stands for"))
    return found
