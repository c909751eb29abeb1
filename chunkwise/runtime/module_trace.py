"""Name the torch module a smoke run failed in, and what it was called with.

A traceback ending in `F.linear` says `mat1 and mat2 shapes cannot be multiplied (40x16 and
256x512)` but not which of the model's layers that is. A small code model repairs such an
error far more often when told the layer and its input. `run_sandboxed(trace_modules=True)`
installs `CHILD_SOURCE` in the child only, as a `sitecustomize` module on the child's
PYTHONPATH (the entry stays the main script, so tracebacks are unchanged). It records, through
torch's global module hooks, each module call's input shapes and dtypes (a short string per
call, replaced at the next call of the same module), and on an uncaught exception writes one
marker line to stderr before the traceback: the innermost module whose code was running
(found from the traceback's frames), its qualified name in the outermost module being called,
the class and attribute that hold it, its one-line repr, a few size fields, and its input.
When the exception was raised outside every module (in the loss, say), the line describes the
last call of the outermost model instead: its input and output. The parent takes the marker
line out of stderr (`take_trace`) and keeps it as a `ModuleTrace`.

Nothing here reaches outside the sandbox's contract: the bootstrap reads only the child's own
objects and writes only to its stderr, and fails silently (the run goes on as without it).
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["CHILD_MODULE", "CHILD_SOURCE", "MARKER", "ModuleTrace", "take_trace"]

MARKER = "chunkwise-module-trace: "
_TENSOR = re.compile(r"^(\w+)\[([\d, ]*)\]")
# layers that take (batch, channels, length) and name their channels
_CHANNELS_FIRST_1D = {"Conv1d": "in_channels", "BatchNorm1d": "num_features",
                      "InstanceNorm1d": "num_features"}
CHILD_MODULE = "sitecustomize.py"

CHILD_SOURCE = r'''"""Installed by chunkwise in a smoke run only: names the failing module."""
import json
import sys

_MARKER = __MARKER__
_FIELDS = ("in_features", "out_features", "in_channels", "out_channels", "num_embeddings",
           "embedding_dim", "normalized_shape", "num_features", "input_size", "hidden_size",
           "embed_dim", "num_heads", "d_model", "batch_first")
_CONTAINERS = ("ModuleList", "Sequential", "ModuleDict")


def _install():
    try:
        import torch
        from torch.nn.modules import module as torch_module
    except BaseException:
        return
    inputs = {}
    state = {"depth": 0, "root": None}

    def describe(value, depth=0):
        if isinstance(value, torch.Tensor):
            dtype = str(value.dtype).replace("torch.", "")
            return f"{dtype}[{', '.join(str(n) for n in value.shape)}]"
        if isinstance(value, (tuple, list)) and depth < 2:
            inner = ", ".join(describe(v, depth + 1) for v in value[:4])
            return f"{type(value).__name__}({inner}{', ...' if len(value) > 4 else ''})"
        return type(value).__name__

    def before(module, args):
        inputs[id(module)] = [describe(a) for a in args[:4]]
        if state["depth"] == 0:
            state["root"] = {"class": type(module).__name__, "inputs": inputs[id(module)],
                             "output": None}
        state["depth"] += 1

    def after(module, args, output):
        state["depth"] = max(0, state["depth"] - 1)
        if state["depth"] == 0 and state["root"] is not None:
            state["root"]["output"] = describe(output)

    torch_module.register_module_forward_pre_hook(before)
    try:
        torch_module.register_module_forward_hook(after, always_call=True)
    except TypeError:  # an older torch without always_call
        torch_module.register_module_forward_hook(after)

    def sizes(module):
        found = {}
        for name in _FIELDS:
            value = getattr(module, name, None)
            if isinstance(value, (bool, int)) or (
                    isinstance(value, tuple) and all(isinstance(v, int) for v in value)):
                found[name] = list(value) if isinstance(value, tuple) else value
        return found

    def report(error, tb):
        frames = []
        while tb is not None:
            me = tb.tb_frame.f_locals.get("self")
            if isinstance(me, torch.nn.Module) and id(me) in inputs:
                frames.append(me)
            tb = tb.tb_next
        if not frames:
            root = state["root"]
            if root is None or root["output"] is None or not isinstance(
                    error, (RuntimeError, ValueError, IndexError)):
                return None
            return {"kind": "after", "module_class": root["class"], "inputs": root["inputs"],
                    "output": root["output"]}
        root, inner = frames[0], frames[-1]
        name = next((n for n, m in root.named_modules() if m is inner), "")
        parts = name.split(".") if name else []
        owner, attribute = type(root).__name__, ""
        for i in range(len(parts) - 1, -1, -1):
            holder = root.get_submodule(".".join(parts[:i]))
            if type(holder).__name__ not in _CONTAINERS:
                owner, attribute = type(holder).__name__, parts[i]
                break
        extra = inner.extra_repr().replace("\n", " ")
        return {"kind": "inside", "name": name, "module_class": type(inner).__name__,
                "summary": f"{type(inner).__name__}({extra})"[:200], "owner": owner,
                "attribute": attribute, "sizes": sizes(inner),
                "inputs": inputs.get(id(inner), []), "root_class": type(root).__name__}

    previous = sys.excepthook

    def excepthook(kind, error, tb):
        try:
            found = report(error, tb)
            if found is not None:
                sys.stderr.write(_MARKER + json.dumps(found) + "\n")
                sys.stderr.flush()
        except BaseException:
            pass
        previous(kind, error, tb)

    sys.excepthook = excepthook


_install()
'''.replace("__MARKER__", repr(MARKER))


class ModuleTrace(BaseModel):
    """Where a smoke run's exception happened, as far as torch's modules tell.

    `kind` "inside": the innermost module whose code was running, `name` its qualified name in
    the outermost module called (`root_class`; "" when it is that module), held as
    `attribute` by an instance of `owner`. "after": raised outside every module; `inputs` and
    `output` describe the last call of the outermost model (`module_class`). `inputs`: one
    description per positional argument (the first four), e.g. `float32[40, 16]`.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["inside", "after"]
    module_class: str
    inputs: list[str] = []
    output: str = ""
    name: str = ""
    summary: str = ""
    owner: str = ""
    attribute: str = ""
    root_class: str = ""
    sizes: dict[str, int | bool | list[int]] = {}

    @property
    def input(self) -> str:
        return ", ".join(self.inputs) or "no arguments"

    def first_tensor(self) -> tuple[str, list[int]] | None:
        """The first argument's dtype and shape, when it was a tensor."""
        match = _TENSOR.match(self.inputs[0]) if self.inputs else None
        if match is None:
            return None
        return match.group(1), [int(n) for n in match.group(2).split(", ") if n]

    def channels_last(self) -> bool:
        """A 1-D channels-first layer (Conv1d, BatchNorm1d) was called on (batch, length,
        channels): its channels are the input's last dimension and not dimension 1. The one
        layout slip whose fix is certain: transpose around the call."""
        field = _CHANNELS_FIRST_1D.get(self.module_class)
        tensor = self.first_tensor()
        if self.kind != "inside" or field is None or tensor is None:
            return False
        shape, channels = tensor[1], self.sizes.get(field)
        return (len(shape) == 3 and isinstance(channels, int) and not isinstance(channels, bool)
                and shape[2] == channels and shape[1] != channels)

    def describe(self) -> str:
        """One line for the error report and the repair prompt."""
        if self.kind == "after":
            return (f"after the model ({self.module_class}) was called with input {self.input} "
                    f"and returned {self.output}")
        where = self.name or self.module_class
        held = f" (self.{self.attribute} of class {self.owner})" if self.attribute else ""
        return f"while calling {where} = {self.summary}{held} with input {self.input}"


def take_trace(stderr: str) -> tuple[str, ModuleTrace | None]:
    """`stderr` without the bootstrap's marker line, and the trace that line held (the last
    one; None when there is none or it does not parse)."""
    kept: list[str] = []
    trace: ModuleTrace | None = None
    for line in stderr.splitlines(keepends=True):
        if not line.startswith(MARKER):
            kept.append(line)
            continue
        try:
            trace = ModuleTrace.model_validate(json.loads(line[len(MARKER):]))
        except (ValueError, ValidationError):
            continue
    return "".join(kept), trace
