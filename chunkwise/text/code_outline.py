"""Short views of generated Python for prompts: a file's outline, a traceback's excerpt.

A small code model writing file N of a repository, or repairing one file, needs the names the
other files define far more than their bodies; an outline (imports, classes with their method
signatures, functions, module constants, dataclass fields) costs a tenth of the tokens. A
traceback from the smoke run is cut to the lines that name generated files and the error.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

__all__ = [
    "attribute_assignment",
    "generated_frames",
    "has_main_guard",
    "outline",
    "traceback_excerpt",
]

_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')


def has_main_guard(source: str) -> bool:
    """Whether the module has a top-level `if __name__ == "__main__":` block."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [node.test.left, *node.test.comparators]
            if any(isinstance(n, ast.Name) and n.id == "__name__" for n in names) and any(
                isinstance(n, ast.Constant) and n.value == "__main__" for n in names
            ):
                return True
    return False


def attribute_assignment(source: str, class_name: str, attribute: str) -> tuple[int, str] | None:
    """(line, source line) of the first `self.<attribute> = ...` in a method of `class_name`:
    where a layer named by a smoke run's module trace is created."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    lines = source.splitlines()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == class_name):
            continue
        for inner in ast.walk(node):
            if not isinstance(inner, ast.Assign | ast.AnnAssign):
                continue
            targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr == attribute
                        and isinstance(target.value, ast.Name) and target.value.id == "self"):
                    return inner.lineno, lines[inner.lineno - 1].strip()
    return None


def outline(source: str) -> str:
    """Imports, module constants, classes (fields and method signatures) and function
    signatures, one per line; a file that does not parse is returned as it is."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    lines: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) or (
            isinstance(node, ast.Assign | ast.AnnAssign) and _is_constant(node)
        ):
            lines.append(ast.unparse(node))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines.append(_signature(node))
        elif isinstance(node, ast.ClassDef):
            lines.extend(_class(node))
    return "\n".join(lines)


def _is_constant(node: ast.Assign | ast.AnnAssign) -> bool:
    value = node.value
    return value is None or isinstance(value, ast.Constant | ast.Tuple | ast.List | ast.Dict)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, indent: str = "") -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    doc = ast.get_docstring(node)
    summary = f"  # {doc.splitlines()[0]}" if doc else ""
    return f"{indent}{prefix} {node.name}({ast.unparse(node.args)}){returns}: ...{summary}"


def _class(node: ast.ClassDef) -> list[str]:
    bases = ", ".join(ast.unparse(b) for b in node.bases)
    decorators = [f"@{ast.unparse(d)}" for d in node.decorator_list]
    lines = [*decorators, f"class {node.name}({bases}):" if bases else f"class {node.name}:"]
    for item in node.body:
        if isinstance(item, ast.AnnAssign | ast.Assign):
            lines.append("    " + ast.unparse(item))
        elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            lines.append(_signature(item, "    "))
    if len(lines) == len(decorators) + 1:
        lines.append("    ...")
    return lines


def generated_frames(stderr: str, paths: Iterable[str]) -> list[tuple[str, int]]:
    """(generated file, line) for each traceback frame in one of `paths`, outermost first.

    Frames name files by absolute path inside the sandbox's directory; a frame belongs to a
    generated file when its path ends with that file's relative path.
    """
    known = sorted(paths, key=len, reverse=True)
    frames = []
    for line in stderr.splitlines():
        match = _FRAME.match(line)
        if not match:
            continue
        where = PurePosixPath(match.group(1)).as_posix()
        for path in known:
            if where == path or where.endswith("/" + path):
                frames.append((path, int(match.group(2))))
                break
    return frames


# torch's module-call frames (`_wrapped_call_impl`, `_call_impl`, `inner`): three per layer
# called, none saying anything the generated frames around them do not
_CALL_MACHINERY = re.compile(r'^\s*File "[^"]*torch/nn/modules/module\.py", line \d+')


def _without_call_machinery(lines: list[str]) -> list[str]:
    """A traceback without torch's module-call frames (each frame: its `File` line and the
    more indented source lines under it)."""
    kept: list[str] = []
    skipping = False
    for line in lines:
        if _FRAME.match(line):
            skipping = bool(_CALL_MACHINERY.match(line))
        elif skipping and not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return kept


def traceback_excerpt(stderr: str, *, max_lines: int = 30, max_chars: int = 3000) -> str:
    """The last traceback in `stderr` (or its last lines) without torch's module-call frames,
    cut to at most `max_lines` lines and `max_chars` characters, keeping the end, where the
    error is."""
    lines = stderr.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if starts:
        lines = _without_call_machinery(lines[starts[-1]:])
    if len(lines) > max_lines:
        lines = ["...", *lines[-(max_lines - 1):]]
    text = "\n".join(lines)
    return text if len(text) <= max_chars else "..." + text[-max_chars:]
