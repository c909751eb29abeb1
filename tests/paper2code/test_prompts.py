"""The code and repair prompts: what a small model needs to write code that runs."""

from __future__ import annotations

from langchain_core.messages import BaseMessage

from chunkwise.prompts.paper2code import (
    code_messages,
    code_prompt_overhead,
    file_messages,
    repair_hints,
    repair_messages,
    trace_advice,
)
from chunkwise.runtime.module_trace import ModuleTrace
from chunkwise.text.tokens import count_tokens


def _tokens(messages: list[BaseMessage]) -> int:
    return sum(count_tokens(str(m.content)) for m in messages)


def test_the_code_prompt_asks_for_a_smoke_run_on_random_tensors() -> None:
    (_, human) = code_messages(title="T", notes="N", dataset="AG News", task="classification")
    text = str(human.content)
    assert 'if __name__ == "__main__":' in text and "random tensors" in text
    assert "3 training steps" in text and "printed loss" in text
    assert "no downloads" in text and "Import only torch, numpy" in text
    assert "Recommended dataset: AG News" in text


def test_the_fixed_parts_fit_the_reserved_overhead() -> None:
    empty = {"title": "", "notes": ""}
    reserved = code_prompt_overhead()
    assert _tokens(code_messages(dataset="", task="", **empty)) < reserved
    assert _tokens(file_messages(plan="", previous="", path="main.py", purpose="",
                                 entry=True, **empty)) < reserved
    hints = ("SyntaxError: x has no field TypeError dtype")
    assert _tokens(repair_messages(path="main.py", code="", stage="when it runs", error=hints,
                                   **empty)) < reserved


def test_repair_hints_match_the_error() -> None:
    shapes = "RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x8 and 16x2)"
    assert repair_hints(shapes) == [repair_hints(shapes)[0]]
    assert "in_features" in repair_hints(shapes)[0]
    attr = "AttributeError: 'Config' object has no attribute 'num_classes'"
    assert "add the missing field" in repair_hints(attr)[0]
    assert repair_hints("killed: still running at the 120 s wall-clock limit")[0].startswith(
        "The smoke run is too slow")
    loss = "ValueError: Expected target size [4, 10], got [4, 7]"
    assert "targets.reshape(-1)" in repair_hints(loss)[0]
    conv = ("RuntimeError: Given groups=1, weight of size [14, 7, 1], expected input[4, 4, 7] "
            "to have 7 channels, but got 4 channels instead")
    assert "transpose" in repair_hints(conv)[0]
    long = "RuntimeError: Input type (long int) and bias type (float) should be the same"
    assert "torch.randn" in repair_hints(long)[0]
    assert repair_hints("something unheard of") == []
    many = "SyntaxError NameError TypeError dtype CUDA undefined name"
    assert len(repair_hints(many)) == 3


def test_the_repair_prompt_puts_the_error_after_the_file() -> None:
    (_, human) = repair_messages(title="T", notes="NOTES", path="model.py", code="CODE",
                                 stage="when it runs", error="KeyError: 'x'",
                                 context="The repository's other files:\nCTX", entry=False,
                                 local_files=True)
    text = str(human.content)
    assert text.index("NOTES") < text.index("CTX") < text.index("CODE") < text.index("KeyError")
    assert "model.py fails when it runs:" in text
    assert "the repository's files above" in text and "__main__" not in text


def test_trace_advice_says_what_to_change_only_when_the_sizes_tell() -> None:
    def advice(module: str, inputs: list[str], **sizes: object) -> str | None:
        return trace_advice(ModuleTrace(kind="inside", module_class=module, inputs=inputs,
                                        owner="Block", attribute="layer", sizes=sizes))

    assert advice("Linear", ["float32[40, 16]"], in_features=256) == (
        "self.layer in class Block is nn.Linear with in_features=256, but its input "
        "float32[40, 16] has last dimension 16: make in_features 16 (the size of what feeds "
        "it), or change the input so its last dimension is 256.")
    assert advice("Linear", ["float32[40, 256]"], in_features=256) is None  # sizes agree
    assert "only nn.Embedding takes token ids" in str(
        advice("Conv1d", ["int64[4, 4, 7]"], in_channels=4))
    assert "takes integer token ids" in str(advice("Embedding", ["float32[4, 7]"],
                                                   num_embeddings=100))
    assert advice("Embedding", ["int64[4, 7]"], num_embeddings=100) is None
    assert "unpack it first (`inputs, targets = batch`" in str(
        advice("Linear", ["tuple(float32[4, 10, 64], int64[4, 10])"], in_features=64))
    assert "4 input channels" in str(advice("Conv1d", ["float32[4, 7, 16]"], in_channels=4))
    assert "takes 4-D input" in str(advice("Conv2d", ["float32[4, 7, 16]"], in_channels=4))
    assert "nn.LayerNorm(7)" in str(advice("LayerNorm", ["float32[4, 3, 7]"],
                                           normalized_shape=[8]))
    assert advice("Dropout", ["float32[4, 3, 7]"]) is None
    after = ModuleTrace(kind="after", module_class="Model", inputs=["float32[4, 8]"],
                        output="float32[4, 2]")
    assert str(trace_advice(after)).startswith("The model returned float32[4, 2]")


def test_the_skeleton_declares_the_smoke_shapes_once_and_builds_from_them() -> None:
    import ast

    from chunkwise.prompts.paper2code import skeleton_source

    source = skeleton_source()
    tree = ast.parse(source)
    constants = {t.id for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
    assert {"BATCH_SIZE", "SEQ_LEN", "TOKEN_INPUTS", "VOCAB_SIZE", "INPUT_DIM",
            "NUM_CLASSES"} <= constants
    assert "nn.Embedding(VOCAB_SIZE, config.d_model)" in source
    assert "nn.Linear(INPUT_DIM, config.d_model)" in source
    assert "nn.Linear(config.d_model, NUM_CLASSES)" in source
    assert "torch.randint(0, VOCAB_SIZE, (batch_size, SEQ_LEN))" in source
    assert "inputs, targets = batch" in source
