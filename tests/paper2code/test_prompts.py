"""The code and repair prompts: what a small model needs to write code that runs."""

from __future__ import annotations

from langchain_core.messages import BaseMessage

from chunkwise.prompts.paper2code import (
    code_messages,
    code_prompt_overhead,
    file_messages,
    repair_hints,
    repair_messages,
)
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
