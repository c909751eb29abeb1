"""The smoke run names the torch module an exception happened in (`runtime.module_trace`):
real child processes with real torch layers."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from chunkwise.runtime.module_trace import MARKER, ModuleTrace, take_trace
from chunkwise.runtime.sandbox import run_sandboxed

pytestmark = [
    pytest.mark.skipif(find_spec("torch") is None,
                       reason="torch is not installed: pip install 'chunkwise[validate]'"),
    pytest.mark.timeout(120),
]

NESTED = """\
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 512)

    def forward(self, x):
        return self.fc1(x)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Encoder()])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


model = Model()
print("fine", tuple(model(torch.randn(40, 256)).shape))
model(torch.randn(40, 16))
"""


def test_a_linear_shape_mismatch_names_the_layer_and_its_input() -> None:
    result = run_sandboxed({"main.py": NESTED}, "main.py", trace_modules=True)
    assert not result.ok
    assert result.error_line == ("RuntimeError: mat1 and mat2 shapes cannot be multiplied "
                                 "(40x16 and 256x512)")
    trace = result.trace
    assert trace is not None and trace.kind == "inside"
    # the innermost layer, named from the outermost model, held by a class (not the list)
    assert trace.name == "blocks.0.fc1" and trace.root_class == "Model"
    assert (trace.owner, trace.attribute) == ("Encoder", "fc1")
    assert trace.inputs == ["float32[40, 16]"]  # the failing call's input, not the good one
    assert trace.sizes["in_features"] == 256
    assert trace.describe() == (
        "while calling blocks.0.fc1 = Linear(in_features=256, out_features=512, bias=True) "
        "(self.fc1 of class Encoder) with input float32[40, 16]")
    assert MARKER not in result.stderr_tail  # taken out; the traceback is as it was
    assert result.stderr_tail.rstrip().endswith(result.error_line)
    assert "fine (40, 512)" in result.stdout_tail


def test_an_error_after_the_model_returned_describes_its_last_call() -> None:
    source = ("import torch\nimport torch.nn.functional as F\n"
              "model = torch.nn.Linear(8, 4)\nlogits = model(torch.randn(2, 8))\n"
              "F.cross_entropy(logits, torch.randint(0, 4, (3,)))\n")
    result = run_sandboxed({"main.py": source}, "main.py", trace_modules=True)
    assert result.trace is not None and result.trace.kind == "after"
    assert result.trace.describe() == ("after the model (Linear) was called with input "
                                       "float32[2, 8] and returned float32[2, 4]")


def test_no_trace_without_the_option_or_without_torch_in_the_failure() -> None:
    plain = run_sandboxed({"main.py": NESTED}, "main.py")
    assert plain.trace is None and MARKER not in plain.stderr_tail
    name_error = run_sandboxed({"main.py": "import torch\nprint(undefined)\n"}, "main.py",
                               trace_modules=True)
    assert name_error.error_line == "NameError: name 'undefined' is not defined"
    assert name_error.trace is None


def test_a_marker_line_is_taken_out_and_a_broken_one_ignored() -> None:
    line = MARKER + ModuleTrace(kind="after", module_class="M", inputs=["int64[2]"],
                                output="float32[2, 3]").model_dump_json()
    rest, trace = take_trace(f"before\n{line}\nTraceback\n")
    assert rest == "before\nTraceback\n" and trace is not None and trace.inputs == ["int64[2]"]
    rest, trace = take_trace(f"{MARKER}{{not json\nafter\n")
    assert rest == "after\n" and trace is None


@pytest.mark.parametrize("tokens", [False, True])
def test_the_code_prompts_skeleton_runs_as_it_stands(tokens: bool) -> None:
    """The shape contract the code prompt shows is itself consistent: its `...` left as they
    are (which the static check reports), it trains, evaluates and prints a loss."""
    from chunkwise.prompts.paper2code import skeleton_source

    source = skeleton_source().replace("TOKEN_INPUTS = False", f"TOKEN_INPUTS = {tokens}")
    result = run_sandboxed({"main.py": source}, "main.py", trace_modules=True)
    assert result.ok, result.stderr_tail
    assert "step 2: loss" in result.stdout_tail and "evaluation:" in result.stdout_tail
