"""The static check, the sandboxed smoke run and the repair loop, with scripted code.

Each case is generated code with one kind of defect: the right stage must catch it, the repair
loop must run (and stop at its bound), and the best attempt must be kept. The smoke runs are
real child processes in the sandbox.
"""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from chunkwise.models.retry import ModelCallError
from chunkwise.models.settings import ModelSettings
from chunkwise.nodes.paper2code.check import NO_LOSS, clean_output
from chunkwise.runtime.blobs import open_blob_store
from chunkwise.state.paper2code import CodeAttempt
from tests.paper2code.conftest import Runner
from tests.paper2code.support import GOOD, coder

pytestmark = pytest.mark.timeout(300)


def validation(outcome: Any) -> dict[str, Any]:
    result = outcome.values["result"]
    assert result["success"], result.get("error")
    return dict(result["validation"])


def attempts(outcome: Any) -> list[CodeAttempt]:
    return list(outcome.values["attempts"])


LOOP = "    for step in range(3):"
RAISES = GOOD.replace(LOOP, '    raise RuntimeError("shapes disagree")\n' + LOOP)
NO_PARSE = "def train_step(step:\n    return step\n"
NO_PARSE_AGAIN = "def train_step(step):\n    return step +\n"
NO_PARSE_THIRD = "def train_step(step):\nreturn step\n"
UNDEFINED = GOOD.replace("math.exp(-step)", "math.exp(-step) * undefined_scale")
LOOPS = GOOD.replace(LOOP, "    while True:\n        pass\n" + LOOP)


def test_correct_code_passes_first_time_with_no_repair_call(
    run_paper: Runner, example_paper: Path
) -> None:
    model = coder(GOOD)
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    assert check["passed"] is True
    assert check["smoke"]["ok"] is True and check["smoke"]["error"] is None
    assert check["smoke"]["seconds"] > 0
    assert check["attempts"] == 1 and check["repairs"] == 0 and check["kept"] == 0
    assert not [f for f in check["static"] if f["blocking"]]
    assert model.calls_for("repair_code") == []
    assert outcome.values["result"]["code"] == GOOD


def test_code_that_does_not_parse_fails_the_static_stage_until_the_bound(
    run_paper: Runner, example_paper: Path
) -> None:
    model = coder(NO_PARSE, NO_PARSE_AGAIN, NO_PARSE_THIRD, NO_PARSE)
    outcome = run_paper(example_paper, model, validate=True, max_repairs=2)
    check = validation(outcome)
    assert len(model.calls_for("repair_code")) == 2
    assert check["attempts"] == 3 and check["repairs"] == 2 and check["passed"] is False
    assert check["smoke"] is None  # nothing ran: the static stage failed first
    assert all(a.smoke is None and not a.compiles for a in attempts(outcome))
    assert [f["kind"] for f in check["static"]] == ["syntax"]
    assert outcome.values["result"]["code_syntax_error"]
    prompt = model.calls_for("repair_code")[0].prompt
    assert "main.py fails the static check" in prompt and "SyntaxError" in prompt
    assert "Hint: The file does not parse" in prompt
    assert NO_PARSE.strip() in prompt


def test_a_repair_that_returns_code_already_checked_ends_the_loop(
    run_paper: Runner, example_paper: Path
) -> None:
    model = coder(NO_PARSE, NO_PARSE)
    outcome = run_paper(example_paper, model, max_repairs=3)
    check = validation(outcome)
    # the file handed back unchanged, the model is told so once; unchanged again, the loop ends
    first, again = model.calls_for("repair_code")
    assert "That is the same file, unchanged" in again.last
    assert again.messages[: len(first.messages)] == first.messages
    assert check["attempts"] == 1 and check["repairs"] == 1  # the round ran; its answer was old
    assert check["stopped"] == "repair round 1 returned code already checked"


def test_a_file_handed_back_unchanged_is_asked_for_once_more(
    run_paper: Runner, example_paper: Path
) -> None:
    model = coder(NO_PARSE, NO_PARSE, GOOD)
    outcome = run_paper(example_paper, model, max_repairs=3)
    check = validation(outcome)
    assert check["passed"] and check["repairs"] == 1 and check["attempts"] == 2
    assert len(model.calls_for("repair_code")) == 2


def test_an_undefined_name_is_found_without_running_and_repaired(
    run_paper: Runner, example_paper: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    leaves_a_mark = f"open({str(marker)!r}, 'w').close()\n" + UNDEFINED
    model = coder(leaves_a_mark, GOOD)
    outcome = run_paper(example_paper, model)  # no --validate: nothing is executed
    check = validation(outcome)
    assert not marker.exists()
    first, second = check["history"]
    assert first["static_passed"] is False and first["compiles"] is True
    assert "undefined name 'undefined_scale'" in first["error"]
    assert second["static_passed"] is True and second["smoke_ok"] is None
    assert check["passed"] is True and check["smoke"] is None and check["repairs"] == 1
    prompt = model.calls_for("repair_code")[0].prompt
    assert "main.py:6:" in prompt and "undefined name 'undefined_scale'" in prompt


def test_a_lost_import_is_added_without_a_repair_call(
    run_paper: Runner, example_paper: Path
) -> None:
    dataclass_use = "@dataclass\nclass C:\n    x: int = 1\n\n\ndef train_step"
    lost = GOOD.replace("import math\n", "").replace("def train_step", dataclass_use)
    model = coder(lost)
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    assert check["passed"] and check["repairs"] == 0 and model.calls_for("repair_code") == []
    assert check["history"][0]["auto_fixes"] == [
        "main.py: from dataclasses import dataclass", "main.py: import math",
    ]
    assert outcome.values["result"]["code"].startswith("from dataclasses import dataclass\n")


def test_undeclared_config_fields_are_declared_without_a_repair_call(
    run_paper: Runner, example_paper: Path
) -> None:
    fields = textwrap.dedent("""\
        from dataclasses import dataclass


        @dataclass
        class Config:
            width: int = 2


        if __name__ == "__main__":
            config = Config(width=3, depth=2)
            print("loss", config.width * config.depth * config.num_classes)
        """)
    model = coder(fields)
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    assert check["passed"] and check["repairs"] == 0 and model.calls_for("repair_code") == []
    assert check["history"][0]["auto_fixes"] == [
        "main.py: Config.depth: int = 2", "main.py: Config.num_classes: int = 4",
    ]
    assert ("    num_classes: int = 4  # added by chunkwise: the code uses it; set the paper's "
            "value\n") in outcome.values["result"]["code"]


def test_skeleton_leftovers_are_filled_or_sent_to_repair(
    run_paper: Runner, example_paper: Path
) -> None:
    leftovers = textwrap.dedent("""\
        from dataclasses import dataclass


        @dataclass
        class Config:
            steps: int = 3


        def loss_at(step: int) -> float:
            \"\"\"The loss.\"\"\"
            ...


        if __name__ == "__main__":
            config = Config(...)
            for step in range(config.steps):
                print("loss", loss_at(step))
        """)
    model = coder(leftovers, GOOD)
    outcome = run_paper(example_paper, model, validate=True)
    first = validation(outcome)["history"][0]
    assert first["auto_fixes"] == ["main.py: Config(...) -> Config()"]
    assert first["error"] == ("main.py:9:1: function 'loss_at' is not written: its body is "
                              "only `...`")
    assert "Hint: Write the function's body in full" in model.calls_for("repair_code")[0].last


def test_a_runtime_error_is_caught_by_the_smoke_run_and_repaired(
    run_paper: Runner, example_paper: Path
) -> None:
    model = coder(RAISES, GOOD)
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    first = check["history"][0]
    assert first["static_passed"] is True and first["smoke_ok"] is False
    assert first["error"] == "RuntimeError: shapes disagree"
    assert check["passed"] and check["smoke"]["ok"] and check["repairs"] == 1
    assert check["kept"] == 1 and outcome.values["result"]["code"] == GOOD
    prompt = model.calls_for("repair_code")[0].prompt
    assert "main.py fails when it runs" in prompt
    assert 'File "main.py", line 9, in <module>' in prompt  # relative: no sandbox folder
    assert "chunkwise-sandbox-" not in prompt


def test_a_file_cut_off_while_looping_is_salvaged_and_its_missing_parts_repaired(
    run_paper: Runner, example_paper: Path
) -> None:
    looped = ("import torch\n\n\nclass Model(torch.nn.Module):\n    def __init__(self, config):\n"
              "        super().__init__()\n        self.layers = torch.nn.Sequential(\n"
              + "            torch.nn.ReLU(),\n" * 40 + "            torch.nn.Re\n")
    model = coder(looped, GOOD)
    outcome = run_paper(example_paper, model)
    check = validation(outcome)
    assert check["passed"] and check["repairs"] == 1
    first = attempts(outcome)[0]
    assert first.static_passed is False and any("looped from line" in fix
                                                for fix in first.auto_fixes)
    assert {f.kind for f in first.findings if f.blocking} == {"placeholder"}
    (repair,) = model.calls_for("repair_code")
    shown = repair.last.split("Here is main.py:")[1].split("main.py fails")[0]
    assert shown.count("torch.nn.ReLU(),") == 1  # the loop cut, its bracket closed
    assert "def forward(self, inputs):" in shown and "def train_step(" in shown
    assert "BATCH_SIZE = 4" in shown  # the skeleton's shape constants came along
    # the skeleton's train_step is complete; its forward still has the paper's part to write
    assert "function 'train_step'" not in repair.last
    assert "function 'forward' still has a `...` placeholder" in repair.last


def test_a_looped_file_that_cannot_be_salvaged_is_written_again_not_repaired(
    run_paper: Runner, example_paper: Path
) -> None:
    looped = 'import torch\nHELP = """\n' + "Train the model.\n" * 40  # cut inside a string
    model = coder(looped, GOOD)
    outcome = run_paper(example_paper, model)
    check = validation(outcome)
    assert check["passed"] and check["repairs"] == 1
    (again,) = model.calls_for("repair_code")
    (first,) = model.calls_for("write_code")
    assert again.last.startswith(first.last)  # the original prompt, skeleton included
    assert again.last.endswith("every bracket closed.")
    assert "Your previous answer repeated the same lines" in again.last


def test_an_endless_loop_is_killed_at_the_limit(run_paper: Runner, example_paper: Path) -> None:
    outcome = run_paper(example_paper, coder(LOOPS), validate=True, validate_timeout=3,
                        max_repairs=0)
    check = validation(outcome)
    assert check["passed"] is False and check["repairs"] == 0
    assert "wall-clock limit" in check["smoke"]["error"]
    (attempt,) = attempts(outcome)
    assert attempt.smoke is not None and attempt.smoke.killed_reason == "timeout"


def test_the_repair_loop_keeps_the_best_attempt(run_paper: Runner, example_paper: Path) -> None:
    """Runs > parses cleanly > parses: a repair that breaks the syntax is not kept."""
    model = coder(RAISES, NO_PARSE)
    outcome = run_paper(example_paper, model, validate=True, max_repairs=1)
    check = validation(outcome)
    assert [h["compiles"] for h in check["history"]] == [True, False]
    assert check["kept"] == 0 and outcome.values["result"]["code"] == RAISES
    assert check["smoke"]["error"] == "RuntimeError: shapes disagree"
    assert outcome.values["result"]["code_syntax_error"] is None


def test_after_a_setback_the_best_attempt_is_repaired_again(
    run_paper: Runner, example_paper: Path
) -> None:
    model = coder(RAISES, NO_PARSE, GOOD)
    outcome = run_paper(example_paper, model, validate=True, max_repairs=3)
    check = validation(outcome)
    assert check["passed"] and check["repairs"] == 2 and check["kept"] == 2
    first, second = model.calls_for("repair_code")
    assert "RuntimeError: shapes disagree" in second.last and NO_PARSE not in second.last
    assert "An earlier fix of this made it worse, failing with: main.py:1:" in second.last
    assert first.last != second.last


def test_output_without_a_loss_or_a_main_block_does_not_pass(
    run_paper: Runner, example_paper: Path
) -> None:
    silent = "import math\n\nif __name__ == '__main__':\n    math.sqrt(4)\n"
    no_main = "import math\n\nprint('loss', math.sqrt(4))\n"
    outcome = run_paper(example_paper, coder(silent, no_main), validate=True, max_repairs=1)
    first, second = validation(outcome)["history"]
    assert first["smoke_ok"] is False and first["error"] == NO_LOSS
    assert second["static_passed"] is False and "__main__" in second["error"]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def test_a_network_connection_fails_in_the_smoke_run(
    run_paper: Runner, example_paper: Path, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    calls_home = textwrap.dedent(f"""\
        import socket

        if __name__ == "__main__":
            connection = socket.create_connection(("127.0.0.1", {port}), timeout=5)
            connection.sendall(b"weights please")
            print("loss 0.0")
        """)
    outcome = run_paper(example_paper, coder(calls_home), validate=True, max_repairs=0)
    (attempt,) = attempts(outcome)
    assert attempt.smoke is not None
    if not attempt.smoke.network_isolated:
        pytest.skip("no network namespace on this machine: the README says what happens then")
    check = validation(outcome)
    assert check["smoke"]["ok"] is False and check["smoke"]["network_isolated"] is True
    assert "OSError" in check["smoke"]["error"] or "Error" in check["smoke"]["error"]
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_no_key_reaches_the_child_nor_the_result(
    run_paper: Runner, example_paper: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-0123456789abcdefghij"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "token-value-0123456789")
    reads_key = textwrap.dedent("""\
        import os

        if __name__ == "__main__":
            print("names:", sorted(os.environ))
            key = os.environ["OPENAI_API_KEY"]
            print("loss", len(key))
        """)
    model = coder(reads_key, GOOD)
    outcome = run_paper(example_paper, model, validate=True, max_repairs=1)
    check = validation(outcome)
    assert check["history"][0]["error"] == "KeyError: 'OPENAI_API_KEY'"
    assert check["passed"] is True  # the repair dropped the key
    prompt = model.calls_for("repair_code")[0].prompt
    assert "MY_SERVICE_TOKEN" not in prompt and "token-value" not in prompt
    assert secret not in prompt and secret not in json.dumps(outcome.values["result"])


def test_sandbox_output_is_redacted_and_made_relative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij")
    raw = ('File "/tmp/chunkwise-sandbox-a1b2c3/model.py", line 3\n'
           'File "/work/.venv/lib/python3.11/site-packages/torch/nn/functional.py", line 9\n'
           "printed sk-test-0123456789abcdefghij\n")
    cleaned = clean_output(raw)
    assert 'File "model.py", line 3' in cleaned
    assert 'File "site-packages/torch/nn/functional.py"' in cleaned
    assert "sk-test" not in cleaned and "***" in cleaned


def test_a_failed_repair_call_stops_the_loop_and_keeps_the_code(
    run_paper: Runner, example_paper: Path
) -> None:
    model = coder(UNDEFINED, GOOD)
    model.fail = lambda c: (ModelCallError("m: throttled", kind="throttle")
                            if c.task == "repair_code" else None)
    outcome = run_paper(example_paper, model, max_repairs=2,
                        models=ModelSettings(max_attempts=1))
    check = validation(outcome)
    assert check["repairs"] == 0 and check["attempts"] == 1
    assert check["stopped"] and "repair round 1 failed" in check["stopped"]
    assert outcome.values["result"]["code"] == UNDEFINED


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="torch is not installed: pip install 'chunkwise[validate]'")
def test_a_real_torch_forward_pass_runs_in_the_smoke_run(
    run_paper: Runner, example_paper: Path, tmp_path: Path
) -> None:
    torch_code = textwrap.dedent("""\
        from dataclasses import dataclass

        import torch
        import torch.nn as nn
        import torch.nn.functional as F


        @dataclass
        class Config:
            d_model: int = 16
            num_classes: int = 3


        class Model(nn.Module):
            def __init__(self, config: Config):
                super().__init__()
                self.mix = nn.Linear(config.d_model, config.d_model)
                self.head = nn.Linear(config.d_model, config.num_classes)

            def forward(self, inputs):
                return self.head(torch.relu(self.mix(inputs)).mean(dim=1))


        if __name__ == "__main__":
            torch.manual_seed(0)
            config = Config()
            model = Model(config)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            for step in range(3):
                inputs = torch.randn(4, 8, config.d_model)
                targets = torch.randint(0, config.num_classes, (4,))
                loss = F.cross_entropy(model(inputs), targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                print(f"step {step}: loss {loss.item():.4f}")
        """)
    model = coder(torch_code)
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    assert check["passed"] and check["smoke"]["ok"], check
    (attempt,) = attempts(outcome)
    assert attempt.smoke is not None and attempt.smoke.output_key
    output = json.loads(open_blob_store(str(tmp_path / "runs.blobs.sqlite"))
                        .get(attempt.smoke.output_key))
    assert "step 2: loss" in output["stdout"] and output["stderr"] == ""
    assert model.calls_for("repair_code") == []


TORCH_SHAPES = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    BATCH_SIZE = 4
    INPUT_DIM = 16


    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(256, 512)
            self.fc2 = nn.Linear(512, 4)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))


    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Encoder()

        def forward(self, inputs):
            return self.encoder(inputs)


    if __name__ == "__main__":
        torch.manual_seed(0)
        model = Model()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for step in range(3):
            inputs = torch.randn(BATCH_SIZE, INPUT_DIM)
            loss = F.cross_entropy(model(inputs), torch.randint(0, 4, (BATCH_SIZE,)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            print(f"step {step}: loss {loss.item():.4f}")
    """)


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="torch is not installed: pip install 'chunkwise[validate]'")
def test_a_real_shape_mismatch_names_the_layer_in_the_error_and_the_repair_prompt(
    run_paper: Runner, example_paper: Path
) -> None:
    fixed = TORCH_SHAPES.replace("nn.Linear(256, 512)", "nn.Linear(INPUT_DIM, 512)")
    model = coder(TORCH_SHAPES, fixed)
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    diagnosis = ("while calling encoder.fc1 = Linear(in_features=256, out_features=512, "
                 "bias=True) (self.fc1 of class Encoder) with input float32[4, 16]")
    first = check["history"][0]
    assert first["error"] == ("RuntimeError: mat1 and mat2 shapes cannot be multiplied "
                              "(4x16 and 256x512)")
    assert first["diagnosis"] == diagnosis
    (repair,) = model.calls_for("repair_code")
    assert f"The failing layer: {diagnosis}" in repair.last
    line = TORCH_SHAPES.splitlines().index("        self.fc1 = nn.Linear(256, 512)") + 1
    assert f"It is created in main.py line {line}: self.fc1 = nn.Linear(256, 512)" in repair.last
    assert ("What to change: self.fc1 in class Encoder is nn.Linear with in_features=256, but "
            "its input float32[4, 16] has last dimension 16: make in_features 16") in repair.last
    # torch's module-call frames are left out of the traceback; the layer's own frame stays
    assert "_call_impl" not in repair.last and 'linear.py", line' in repair.last
    assert 'File "main.py", line 16, in forward' in repair.last
    # the layer's lines come after the traceback and before the hints
    assert repair.last.index("shapes cannot be multiplied") < repair.last.index(
        "The failing layer:") < repair.last.index("Hint: ")
    assert check["passed"] and check["repairs"] == 1
    assert check["smoke"]["diagnosis"] is None and check["history"][1]["diagnosis"] is None


def test_model_used_names_the_local_model_behind_the_alias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chunkwise.nodes.paper2code.finalize import model_name
    from chunkwise.state.paper2code import Paper2CodeContext

    context = Paper2CodeContext(blob_store=":memory:")  # no credentials: the local default
    assert model_name(context, "code") == "local:qwen2.5-coder-1.5b"
    assert model_name(context, "chunk") == "local:qwen2.5-coder-1.5b"
    monkeypatch.setenv("CHUNKWISE_LOCAL_MODEL", "qwen2.5-coder-0.5b")
    assert model_name(context, "code") == "local:qwen2.5-coder-0.5b"
    explicit = Paper2CodeContext(blob_store=":memory:", code_model="openai:gpt-4o")
    assert model_name(explicit, "code") == "openai:gpt-4o"


CHANNELS_LAST = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    BATCH_SIZE = 4
    SEQ_LEN = 16
    D_MODEL = 8


    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(3, D_MODEL)
            self.mix = nn.Conv1d(D_MODEL, D_MODEL, kernel_size=3, padding=1)

        def forward(self, inputs):
            x = self.embed(inputs)  # [batch, SEQ_LEN, D_MODEL]
            x = self.mix(x)
            return self.head(x.mean(dim=1))


    if __name__ == "__main__":
        torch.manual_seed(0)
        model = Model()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for step in range(3):
            inputs = torch.randn(BATCH_SIZE, SEQ_LEN, 3)
            loss = F.cross_entropy(model(inputs), torch.randint(0, 4, (BATCH_SIZE,)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            print(f"step {step}: loss {loss.item():.4f}")
    """)
WITH_HEAD = CHANNELS_LAST.replace(
    "padding=1)\n", "padding=1)\n        self.head = nn.Linear(D_MODEL, 4)\n", 1)


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="torch is not installed: pip install 'chunkwise[validate]'")
def test_a_conv1d_fed_channels_last_is_transposed_without_a_model_call(
    run_paper: Runner, example_paper: Path
) -> None:
    # two layers alike fail with the same message, one after the other: both are transposed
    two = WITH_HEAD.replace("        self.head =", "        self.again = nn.Sequential("
                            "nn.Conv1d(D_MODEL, D_MODEL, 3, padding=1), nn.ReLU())\n"
                            "        self.head =").replace(
        "x = self.mix(x)", "x = self.again(self.mix(x))")
    model = coder(two)
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    assert check["passed"] and check["repairs"] == 0 and model.calls_for("repair_code") == []
    assert check["history"][0]["auto_fixes"] == [
        "main.py: self.mix(x) -> self.mix(x.transpose(1, 2)).transpose(1, 2) "
        "(the layer takes (batch, channels, length))",
        "main.py: self.again(self.mix(x.transpose(1, 2)).transpose(1, 2)) -> "
        "self.again(self.mix(x.transpose(1, 2))).transpose(1, 2) "
        "(the layer takes (batch, channels, length))"]
    code = outcome.values["result"]["code"]
    assert "x = self.again(self.mix(x.transpose(1, 2))).transpose(1, 2)\n" in code


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="torch is not installed: pip install 'chunkwise[validate]'")
def test_a_transpose_that_does_not_change_the_failure_is_not_kept(
    run_paper: Runner, example_paper: Path
) -> None:
    # the failing call goes through getattr; the plain call transposed is never run
    hidden = WITH_HEAD.replace("x = self.mix(x)", 'x = getattr(self, "mix")(x)').replace(
        "    def forward(", "    def unused(self, x):\n        return self.mix(x)\n\n"
        "    def forward(")
    model = coder(hidden, hidden.replace('getattr(self, "mix")(x)', "x"))
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    first = check["history"][0]
    assert first["auto_fixes"] == [] and "to have 8 channels" in first["error"]
    (repair,) = model.calls_for("repair_code")
    assert "        return self.mix(x)\n" in repair.last  # the file as written, unchanged
    assert check["passed"] and check["repairs"] == 1


@pytest.mark.skipif(find_spec("torch") is None,
                    reason="torch is not installed: pip install 'chunkwise[validate]'")
def test_a_fix_that_gets_further_is_kept_and_the_repair_sees_the_next_error(
    run_paper: Runner, example_paper: Path
) -> None:
    # no head: transposing gets past the Conv1d to the missing attribute, which the model fixes
    model = coder(CHANNELS_LAST, WITH_HEAD.replace("self.mix(x)", "self.mix(x.transpose(1, 2))"
                                                   ".transpose(1, 2)"))
    outcome = run_paper(example_paper, model, validate=True)
    check = validation(outcome)
    first = check["history"][0]
    assert first["error"] == "AttributeError: 'Model' object has no attribute 'head'"
    assert first["auto_fixes"][0].startswith("main.py: self.mix(x) -> ")
    (repair,) = model.calls_for("repair_code")
    assert "x = self.mix(x.transpose(1, 2)).transpose(1, 2)" in repair.last
    assert check["passed"] and check["repairs"] == 1
