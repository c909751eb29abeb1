"""Outlines of generated files, traceback excerpts and frames, token-bounded prefixes."""

from __future__ import annotations

import textwrap

from chunkwise.text.code_outline import (
    generated_frames,
    has_main_guard,
    outline,
    traceback_excerpt,
)
from chunkwise.text.tokens import count_tokens, head_tokens

SOURCE = textwrap.dedent('''\
    import torch
    from torch import nn

    VOCAB = 100
    cache = build_cache()


    @dataclass
    class Config:
        d_model: int = 64
        heads: int = 4

        def scaled(self, factor: float) -> "Config":
            """A copy with every size times factor."""
            return self


    class Model(nn.Module):
        def __init__(self, config: Config) -> None:
            super().__init__()
            self.proj = nn.Linear(config.d_model, VOCAB)

        def forward(self, x):
            return self.proj(x)


    def train_step(model, batch, *, lr=1e-3) -> float:
        """One step."""
        return 0.0


    if __name__ == "__main__":
        train_step(Model(Config()), None)
    ''')


def test_outline_keeps_names_and_signatures_not_bodies() -> None:
    assert outline(SOURCE).splitlines() == [
        "import torch",
        "from torch import nn",
        "VOCAB = 100",
        "@dataclass",
        "class Config:",
        "    d_model: int = 64",
        "    heads: int = 4",
        "    def scaled(self, factor: float) -> 'Config': ...  # A copy with every size times "
        "factor.",
        "class Model(nn.Module):",
        "    def __init__(self, config: Config) -> None: ...",
        "    def forward(self, x): ...",
        "def train_step(model, batch, *, lr=0.001) -> float: ...  # One step.",
    ]


def test_outline_of_a_file_that_does_not_parse_is_the_file() -> None:
    assert outline("def broken(:\n") == "def broken(:\n"


def test_main_guard() -> None:
    assert has_main_guard(SOURCE)
    assert has_main_guard("if '__main__' == __name__:\n    pass\n")
    assert not has_main_guard("def f():\n    if __name__ == '__main__':\n        pass\n")
    assert not has_main_guard("print('x')\n") and not has_main_guard("if (:\n")


STDERR = textwrap.dedent('''\
    Traceback (most recent call last):
      File "/tmp/chunkwise-sandbox-x1/main.py", line 9, in <module>
        main()
      File "/tmp/chunkwise-sandbox-x1/pkg/model.py", line 4, in forward
        return self.proj(x)
      File "/venv/lib/python3.11/site-packages/torch/nn/modules/module.py", line 1, in _call
        return forward_call(*args)
    RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x8 and 16x2)
    ''')


def test_generated_frames_name_the_generated_files_outermost_first() -> None:
    assert generated_frames(STDERR, ["main.py", "model.py", "pkg/model.py"]) == [
        ("main.py", 9), ("pkg/model.py", 4),
    ]
    assert generated_frames("no traceback here", ["main.py"]) == []


def test_traceback_excerpt_keeps_the_last_traceback_and_its_end() -> None:
    two = "Traceback (most recent call last):\n  old\nValueError: first\n" + STDERR
    excerpt = traceback_excerpt(two)
    assert excerpt.startswith("Traceback") and "first" not in excerpt
    assert excerpt.endswith("(4x8 and 16x2)")
    # torch's module-call frame is left out: the generated frame is the last before the error
    assert "module.py" not in excerpt and "forward_call" not in excerpt
    short = traceback_excerpt(STDERR, max_lines=3)
    assert short.splitlines() == ["...", "    return self.proj(x)",
                                  "RuntimeError: mat1 and mat2 shapes cannot be multiplied "
                                  "(4x8 and 16x2)"]
    assert len(traceback_excerpt(STDERR, max_chars=40)) == 43


def test_head_tokens_cuts_at_a_token_boundary() -> None:
    text = "The mixer gates token features with a learned sigmoid. " * 50
    cut = head_tokens(text, 30)
    assert text.startswith(cut) and count_tokens(cut) <= 30 < count_tokens(text)
    assert head_tokens("short", 30) == "short"
