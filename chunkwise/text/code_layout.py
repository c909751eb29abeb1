"""Transpose around the calls of a channels-first layer that the code feeds channels last.

The shape-contract skeleton keeps activations as (batch, sequence, features), and a small code
model then drops in `nn.Conv1d(d, d, k)` and calls it on them, where Conv1d wants (batch,
channels, length). Told so, with the layer and its input named, the 1.5B model still leaves
the line as it is. The fix itself is certain once the smoke run's module trace shows the
layer's channels at the input's last dimension: every call of that layer in its owner class,
`self.conv(x)`, becomes `self.conv(x.transpose(1, 2)).transpose(1, 2)`, so what flows around
it keeps its layout (for a layer inside an `nn.Sequential` of channels-first and layout-free
layers only, the Sequential's calls). The caller reruns the smoke run and keeps the edit only
if it got further.
"""

from __future__ import annotations

import ast

from chunkwise.text.code_fixes import source_offsets

__all__ = ["transpose_layer_calls"]


def _is_self_attribute(node: ast.expr, attribute: str) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == attribute
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def _calls_layer(func: ast.expr, path: list[str]) -> bool:
    """`func` is `self.<a>` for path [a], or `self.<a>[<i>]` for path [a, i] (an element of
    a ModuleList or Sequential, indexed where it is called)."""
    if len(path) == 1:
        return _is_self_attribute(func, path[0])
    return (len(path) == 2 and path[1].isdigit() and isinstance(func, ast.Subscript)
            and _is_self_attribute(func.value, path[0])
            and isinstance(func.slice, ast.Constant) and func.slice.value == int(path[1]))


# layers that take (batch, channels, length) or do not care about the layout: a Sequential of
# these alone can be transposed around as a whole
_CHANNELS_FIRST_SAFE = frozenset({
    "Conv1d", "BatchNorm1d", "InstanceNorm1d", "MaxPool1d", "AvgPool1d", "ReLU", "GELU",
    "SiLU", "Tanh", "Sigmoid", "LeakyReLU", "ELU", "Mish", "Softplus", "Dropout", "Identity",
})


def _layer_name(node: ast.expr) -> str:
    func = node.func if isinstance(node, ast.Call) else node
    return func.attr if isinstance(func, ast.Attribute) else (
        func.id if isinstance(func, ast.Name) else "")


def _safe_sequential(cls: ast.ClassDef, attribute: str) -> bool:
    """`self.<attribute> = nn.Sequential(...)` in the class, of channels-first or
    layout-free layers only."""
    for node in ast.walk(cls):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and _is_self_attribute(node.targets[0], attribute)
                and isinstance(node.value, ast.Call) and not node.value.keywords
                and _layer_name(node.value) == "Sequential"):
            return all(isinstance(a, ast.Call) and _layer_name(a) in _CHANNELS_FIRST_SAFE
                       for a in node.value.args)
    return False


def _layer_calls(cls: ast.ClassDef, path: list[str]) -> list[ast.Call]:
    """The calls in `cls` of the layer at `path`; for an element of a Sequential that is
    never called on its own, the Sequential's calls when all its layers allow it."""
    calls = [node for node in ast.walk(cls)
             if isinstance(node, ast.Call) and node.args
             and not isinstance(node.args[0], ast.Starred)
             and _calls_layer(node.func, path) and node.end_lineno is not None]
    if not calls and len(path) == 2 and _safe_sequential(cls, path[0]):
        return _layer_calls(cls, path[:1])
    return calls


def _wrapped(source: str, node: ast.expr) -> str:
    text = ast.get_source_segment(source, node) or ""
    simple = isinstance(node, ast.Name | ast.Attribute | ast.Subscript | ast.Call)
    return text if simple else f"({text})"


def _transposed(source: str, node: ast.expr) -> str:
    """`node` transposed: `x.transpose(1, 2)`, or `y` for `y.transpose(1, 2)` (two transposes
    cancel, as when a layer called on another transposed layer's output is fixed too)."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "transpose" and not node.keywords
            and [ast.literal_eval(a) if isinstance(a, ast.Constant) else None
                 for a in node.args] in ([1, 2], [2, 1])):
        return ast.get_source_segment(source, node.func.value) or ""
    return f"{_wrapped(source, node)}.transpose(1, 2)"


def transpose_layer_calls(source: str, owner: str, layer: str) -> tuple[str, list[str]]:
    """`source` with every call of the layer at `layer` (its name in class `owner`:
    `conv`, or `layers.0`) transposed in and out; and the calls changed, as `before -> after`.
    Unchanged when the class or such a call is not found, or a call has no positional input."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source, []
    path = layer.split(".")
    calls = [call for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
             and cls.name == owner for call in _layer_calls(cls, path)]
    offset = source_offsets(source)
    done: list[str] = []
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        assert call.end_lineno is not None and call.end_col_offset is not None
        before = ast.get_source_segment(source, call) or ""
        func = ast.get_source_segment(source, call.func) or ""
        rest = [ast.get_source_segment(source, node) or "" for node in call.args[1:]]
        rest += [ast.get_source_segment(source, node) or "" for node in call.keywords]
        arguments = ", ".join([_transposed(source, call.args[0]), *rest])
        after = f"{func}({arguments}).transpose(1, 2)"
        begin, end = offset(call.lineno, call.col_offset), offset(call.end_lineno,
                                                                   call.end_col_offset)
        source = source[:begin] + after + source[end:]
        done.append(f"{before} -> {after}")
    return source, done[::-1]
