"""Salvaging a file whose writer looped until cut off: cut after the loop's first block, close
the brackets, complete it from the skeleton."""

from __future__ import annotations

import ast

from chunkwise.prompts.paper2code import skeleton_source
from chunkwise.text.code_salvage import close_brackets, cut_loop, salvage_looped

HEAD = ("import torch\n\n\nclass Model(torch.nn.Module):\n    def __init__(self, config):\n"
        "        super().__init__()\n        self.layers = torch.nn.Sequential(\n"
        "            torch.nn.Linear(4, 8),\n")
PAIR = "            torch.nn.ReLU(),\n            torch.nn.Linear(8, 8),\n"
LOOPED = HEAD + PAIR * 30 + "            torch.nn.Re"


def test_the_loop_is_cut_after_its_first_block() -> None:
    cut = cut_loop(LOOPED)
    assert cut is not None
    head, line = cut
    assert head == HEAD + PAIR and line == 11


def test_a_loop_followed_by_more_code_is_not_a_cut_off_loop() -> None:
    assert cut_loop(HEAD + PAIR * 30 + "        )\n\n    def forward(self, x):\n"
                    "        return self.layers(x)\n") is None
    assert cut_loop("x = 1\ny = 2\n") is None


def test_open_brackets_are_closed_in_order() -> None:
    assert close_brackets("x = f([1, {2: (3,\n") == "x = f([1, {2: (3,\n)}])\n"
    assert close_brackets("x = 1\n") == "x = 1\n"


def test_brackets_cannot_be_closed_inside_a_string_or_when_they_do_not_nest() -> None:
    assert close_brackets('x = """\nsome text\n') is None
    assert close_brackets("x = (1]\n") is None


def test_a_looped_file_is_salvaged_and_completed_from_the_skeleton() -> None:
    salvaged = salvage_looped(LOOPED, skeleton_source())
    assert salvaged is not None
    source, what = salvaged
    tree = ast.parse(source)
    assert source.count("torch.nn.ReLU()") == 1
    names = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
    assert {"Model", "Config", "synthetic_batch", "train_step", "evaluate"} <= names
    model = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model")
    assert [n.name for n in model.body if isinstance(n, ast.FunctionDef)] == ["__init__",
                                                                              "forward"]
    assert 'if __name__ == "__main__":' in source
    assert "looped from line 11" in what and "synthetic_batch" in what


def test_without_a_skeleton_only_the_loop_is_cut() -> None:
    salvaged = salvage_looped(LOOPED)
    assert salvaged is not None
    assert salvaged[0] == HEAD + PAIR + "            )\n"
    assert "appended" not in salvaged[1]


def test_files_that_parse_or_did_not_loop_are_left_alone() -> None:
    assert salvage_looped(HEAD + PAIR * 30 + "        )\n", skeleton_source()) is None
    assert salvage_looped("def f(:\n    return 1\n", skeleton_source()) is None


COUNTING_HEAD = ("import torch.nn as nn\n\n\nclass Model(nn.Module):\n"
                 "    def __init__(self, config):\n        super().__init__()\n")
ORDINALS = ("second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth", "thirti-first")


def counting_block(n: int) -> str:
    return (f"        # {ORDINALS[n % len(ORDINALS)]} layer: takes the output of the one "
            f"before\n        self.conv{n} = nn.Conv1d(32, 32, kernel_size=3, padding=1)\n")


def test_a_loop_that_counts_is_cut_after_its_first_block() -> None:
    cut = counting_block(13)[:-20]  # the reply ends inside a block
    looped = COUNTING_HEAD + "".join(counting_block(n) for n in range(1, 13)) + cut
    salvaged = salvage_looped(looped, skeleton_source())
    assert salvaged is not None
    text, what = salvaged
    assert text.startswith(COUNTING_HEAD + counting_block(1) + "\n")
    assert "self.conv2" not in text and "def forward" in text
    assert what.startswith("the output looped from line 9 until cut off")


def test_a_short_count_or_one_that_ends_is_not_a_loop() -> None:
    few = COUNTING_HEAD + "".join(counting_block(n) for n in range(1, 6)) + counting_block(6)[:-20]
    assert salvage_looped(few, skeleton_source()) is None  # five blocks: maybe the paper's
    assert cut_loop(COUNTING_HEAD + "".join(counting_block(n) for n in range(1, 13))
                    + "\n    def forward(self, x):\n        return x\n", counting=True) is None
