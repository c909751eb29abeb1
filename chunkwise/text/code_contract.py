"""Put back a shape-contract layer the generated model uses but never creates.

The single-file skeleton creates the model's first and last layers (`self.embed`, `self.head`)
from the smoke run's shape constants. A small model rewriting `__init__` sometimes drops one of
those lines while `forward` still calls it: `'Model' object has no attribute 'head'` at the
first call, one repair round spent on a line chunkwise wrote in the first place. An attribute a
class reads and never assigns fails for certain, and the skeleton says what it should be, so
the skeleton's statement goes back at the end of `__init__`.
"""

from __future__ import annotations

import ast

__all__ = ["restore_contract_layers"]


def _self_attribute(node: ast.AST) -> str | None:
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "self"):
        return node.attr
    return None


def _assigned(node: ast.AST) -> set[str]:
    """Attributes of `self` that `node` assigns anywhere inside it."""
    names: set[str] = set()
    for inner in ast.walk(node):
        targets: list[ast.expr] = []
        if isinstance(inner, ast.Assign):
            targets = inner.targets
        elif isinstance(inner, ast.AnnAssign | ast.AugAssign):
            targets = [inner.target]
        for target in targets:
            for part in ast.walk(target):
                if (name := _self_attribute(part)) is not None:
                    names.add(name)
    return names


def _read(node: ast.AST) -> set[str]:
    return {name for inner in ast.walk(node)
            if isinstance(inner, ast.Attribute) and isinstance(inner.ctx, ast.Load)
            and (name := _self_attribute(inner)) is not None}


def _init(cls: ast.ClassDef) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef)
                 and n.name == "__init__"), None)


def _module_names(tree: ast.Module) -> set[str]:
    """Names the module defines at its top level: imports, classes, functions, constants."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _plain_module(cls: ast.ClassDef) -> bool:
    """Derives from nn.Module only, so no attribute can come from a base class."""
    return len(cls.bases) == 1 and ast.unparse(cls.bases[0]) in {"nn.Module", "torch.nn.Module"}


def restore_contract_layers(source: str, skeleton: str) -> tuple[str, list[str]]:
    """`source` with each layer the skeleton's `__init__` creates, that the same class in
    `source` reads but never assigns, created again at the end of its `__init__`; and what was
    restored. Unchanged when anything is unclear (no such class or `__init__`, a base class
    other than nn.Module, a name the statement uses that the file lacks, a result that does
    not parse)."""
    try:
        tree, model = ast.parse(source), ast.parse(skeleton)
    except (SyntaxError, ValueError):
        return source, []
    skeleton_lines = skeleton.splitlines()
    inserts: list[tuple[int, str]] = []
    done: list[str] = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and _plain_module(n)):
        twin = next((n for n in model.body if isinstance(n, ast.ClassDef)
                     and n.name == cls.name), None)
        init, twin_init = _init(cls), _init(twin) if twin is not None else None
        if init is None or twin_init is None or init.end_lineno is None:
            continue
        missing = _read(cls) - _assigned(cls)
        known = _module_names(tree) | {a.arg for a in init.args.args}
        for statement in twin_init.body:
            names = _assigned(statement) & missing
            uses = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)} - {"self"}
            if not names or not uses <= known or statement.end_lineno is None:
                continue
            body_indent = init.body[0].col_offset
            block = skeleton_lines[statement.lineno - 1:statement.end_lineno]
            shift = body_indent - statement.col_offset
            text = "\n".join((" " * shift + line) if shift >= 0 else line[-shift:]
                             for line in block)
            inserts.append((init.end_lineno, text))
            done.append(f"{cls.name}.{', '.join(sorted(names))} created as the skeleton does")
            missing -= names
    if not inserts:
        return source, []
    lines = source.splitlines()
    for after, text in sorted(inserts, key=lambda item: item[0], reverse=True):
        lines[after:after] = text.splitlines()
    restored = "\n".join(lines) + ("\n" if source.endswith("\n") else "")
    try:
        ast.parse(restored)
    except (SyntaxError, ValueError):
        return source, []
    return restored, done
