"""Salvage a code file whose writer looped until its token limit cut it off.

A small model at temperature 0 sometimes repeats a block of lines (`nn.Linear(...), nn.ReLU(),`
over and over) until the reply is cut, leaving a file that does not parse. Asking again with the
same prompt usually loops again. What came before the loop is often sound, so instead: cut the
file after the block's first occurrence, close the brackets left open, and append the parts of
the skeleton the file never reached (each still `...`, which the static check reports and a
repair then writes, from a file that parses).
"""

from __future__ import annotations

import ast
import io
import tokenize

from chunkwise.text.code_fixes import collapse_repeats, line_shape, repeated_block

__all__ = ["close_brackets", "cut_loop", "salvage_looped"]

_CLOSERS = {"(": ")", "[": "]", "{": "}"}
COUNTING_REPEATS = 8


def cut_loop(
    source: str, *, min_repeats: int = 4, max_period: int = 4, counting: bool = False
) -> tuple[str, int] | None:
    """`source` up to the first occurrence of a block repeated at least `min_repeats` times
    that runs to the end of the file (the cut-off loop), and the line number the loop started
    repeating at; None when the file does not end in such a loop. With `counting`, blocks
    that differ only in their numbers (`conv1`, `conv2`, ...) count as repeats."""
    lines = source.splitlines()
    compared = [line_shape(line) for line in lines] if counting else lines
    for start in range(len(lines)):
        for period in range(1, max_period + 1):
            _, count = repeated_block(lines, start, period, compared)
            if not count:
                continue
            rest = compared[start + count * period:]
            rest = "\n".join(rest).rstrip().splitlines()
            shape = compared[start:start + period]
            # what follows the loop is at most a partial block: the reply was cut mid-repeat
            cut_off = len(rest) <= period and all(
                b.startswith(r.rstrip()) for r, b in zip(rest, shape, strict=False))
            if count >= min_repeats and cut_off:
                return "\n".join(lines[:start + period]) + "\n", start + period + 1
    return None


def close_brackets(source: str) -> str | None:
    """`source` with the brackets left open at its end closed (on a line of their own), or
    None when it is cut inside a string or its brackets do not nest."""
    stack: list[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.OP:
                continue
            if token.string in _CLOSERS:
                stack.append(_CLOSERS[token.string])
            elif token.string in _CLOSERS.values() and (not stack or stack.pop() != token.string):
                return None
    except tokenize.TokenError as exc:
        if "EOF in multi-line statement" not in str(exc):
            return None  # e.g. an unterminated triple-quoted string
    except (SyntaxError, IndentationError):
        return None
    if not stack:
        return source
    last = source.rstrip("\n").splitlines()[-1] if source.strip() else ""
    indent = last[: len(last) - len(last.lstrip())]
    return source.rstrip("\n") + "\n" + indent + "".join(reversed(stack)) + "\n"


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.If) and "__main__" in ast.dump(node.test):
            names.add("__main__")
        elif isinstance(node, ast.Assign):  # a module constant (the skeleton's shapes)
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _segment(lines: list[str], node: ast.stmt) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    end = node.end_lineno or node.lineno
    return "\n".join(lines[first - 1:end])


def _missing_methods(tree: ast.Module, skeleton: ast.Module, lines: list[str]) -> str:
    """The skeleton's methods missing from the file's last top-level class, when that class is
    the skeleton's too (the loop cut the file inside it)."""
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.ClassDef):
        return ""
    model = next((n for n in skeleton.body
                  if isinstance(n, ast.ClassDef) and n.name == last.name), None)
    if model is None:
        return ""
    have = {n.name for n in last.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    return "\n\n".join(_segment(lines, n) for n in model.body
                       if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                       and n.name not in have)


def salvage_looped(source: str, skeleton: str | None = None) -> tuple[str, str] | None:
    """A parsing version of a file that does not parse because its writer looped until cut
    off, and a line saying what was done; None when the file is not such a file or cannot be
    salvaged. With `skeleton` (the source the file was asked to fill in), the skeleton's
    top-level parts (and the cut class's methods) the file lacks are appended."""
    try:
        ast.parse(source)
        return None
    except (SyntaxError, ValueError):
        pass
    cut = cut_loop(source) if collapse_repeats(source)[1] else None
    if cut is None:  # a loop that counts (`conv1`, `conv2`, ...) must run longer to be one
        cut = cut_loop(source, min_repeats=COUNTING_REPEATS, counting=True)
    if cut is None:
        return None
    head, line = cut
    closed = close_brackets(head)
    if closed is None:
        return None
    try:
        tree = ast.parse(closed)
    except (SyntaxError, ValueError):
        return None
    added: list[str] = []
    parts: list[str] = []
    if skeleton is not None:
        skeleton_tree = ast.parse(skeleton)
        skeleton_lines = skeleton.splitlines()
        if methods := _missing_methods(tree, skeleton_tree, skeleton_lines):
            parts.append(methods)
            added.append(f"{tree.body[-1].name}'s missing methods")  # type: ignore[attr-defined]
        have = _top_level_names(tree)
        for node in skeleton_tree.body:
            names = _top_level_names(ast.Module(body=[node], type_ignores=[]))
            if names and not names & have:
                parts.append(_segment(skeleton_lines, node))
                added.extend(sorted(names))
    salvaged = closed.rstrip("\n") + "\n" + "".join(f"\n\n{p}\n" for p in parts)
    try:
        ast.parse(salvaged)
    except (SyntaxError, ValueError):
        return None
    what = f"the output looped from line {line} until cut off: cut there, brackets closed"
    if added:
        what += "; the skeleton's " + ", ".join(added) + " appended, still to write"
    return salvaged, what
