"""Transposing around a channels-first layer's calls, and putting back a contract layer."""

from __future__ import annotations

import ast
import textwrap

from chunkwise.prompts.paper2code import skeleton_source
from chunkwise.text.code_contract import restore_contract_layers
from chunkwise.text.code_layout import transpose_layer_calls

MIXER = textwrap.dedent("""\
    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.conv = nn.Conv1d(d, d, 3, padding=1)
            self.layers = nn.ModuleList([nn.Conv1d(d, d, 3, padding=1), nn.ReLU()])

        def forward(self, x, mask=None):
            y = self.conv(x + 1, mask=None)
            z = self.conv(x)
            return self.layers[0](y) + self.layers[1](z) + self.other.conv(x)


    class Other(nn.Module):
        def forward(self, x):
            return self.conv(x)
""")


def test_every_call_of_the_layer_in_its_class_is_transposed_and_nothing_else() -> None:
    fixed, done = transpose_layer_calls(MIXER, "Block", "conv")
    assert done == [
        "self.conv(x + 1, mask=None) -> self.conv((x + 1).transpose(1, 2), mask=None)"
        ".transpose(1, 2)",
        "self.conv(x) -> self.conv(x.transpose(1, 2)).transpose(1, 2)",
    ]
    ast.parse(fixed)
    assert "self.other.conv(x)" in fixed  # another object's layer
    assert fixed.endswith("        return self.conv(x)\n")  # another class


def test_an_indexed_container_element_is_matched_by_its_index() -> None:
    fixed, done = transpose_layer_calls(MIXER, "Block", "layers.0")
    assert done == ["self.layers[0](y) -> self.layers[0](y.transpose(1, 2)).transpose(1, 2)"]
    assert "self.layers[1](z)" in fixed


def test_nothing_changes_when_the_layer_or_class_is_not_found() -> None:
    assert transpose_layer_calls(MIXER, "Block", "missing") == (MIXER, [])
    assert transpose_layer_calls(MIXER, "Nowhere", "conv") == (MIXER, [])
    assert transpose_layer_calls("def broken(:\n", "Block", "conv") == ("def broken(:\n", [])


DROPPED_HEAD = textwrap.dedent("""\
    import torch.nn as nn

    TOKEN_INPUTS, VOCAB_SIZE, INPUT_DIM, NUM_CLASSES = False, 100, 3, 4


    class Model(nn.Module):
        def __init__(self, config: Config):
            super().__init__()
            self.embed = nn.Linear(INPUT_DIM, config.d_model)
            self.mix = nn.Linear(config.d_model, config.d_model)

        def forward(self, inputs):
            x = self.mix(self.embed(inputs))
            return self.head(x.mean(dim=1))
""")


def test_a_contract_layer_read_but_never_created_is_put_back_from_the_skeleton() -> None:
    fixed, done = restore_contract_layers(DROPPED_HEAD, skeleton_source())
    assert done == ["Model.head created as the skeleton does"]
    init = fixed[: fixed.index("    def forward")]
    assert init.rstrip().endswith(
        "        self.head = nn.Linear(config.d_model, NUM_CLASSES)  # last layer")
    assert "self.embed = nn.Linear(INPUT_DIM, config.d_model)\n" in init  # kept, not re-added
    assert fixed.count("self.embed =") == 1


def test_a_dropped_first_layer_comes_back_with_its_whole_branch() -> None:
    source = DROPPED_HEAD.replace(
        "        self.embed = nn.Linear(INPUT_DIM, config.d_model)\n",
        "").replace("x = self.mix", "self.head = nn.Identity()\n        x = self.mix")
    fixed, done = restore_contract_layers(source, skeleton_source())
    assert done == ["Model.embed created as the skeleton does"]
    assert "        if TOKEN_INPUTS:\n            self.embed = nn.Embedding(" in fixed
    ast.parse(fixed)


def test_a_class_with_another_base_or_all_layers_created_is_left_alone() -> None:
    head = "        self.head = nn.Linear(config.d_model, 4)\n"
    complete = DROPPED_HEAD.replace("        self.mix =", head + "        self.mix =")
    assert restore_contract_layers(complete, skeleton_source()) == (complete, [])
    derived = DROPPED_HEAD.replace("class Model(nn.Module)", "class Model(Base)")
    assert restore_contract_layers(derived, skeleton_source()) == (derived, [])


def test_a_layer_is_not_put_back_when_the_file_lacks_a_name_it_needs() -> None:
    no_classes = DROPPED_HEAD.replace(", NUM_CLASSES = False, 100, 3, 4", " = False, 100, 3")
    assert restore_contract_layers(no_classes, skeleton_source()) == (no_classes, [])
    no_config = DROPPED_HEAD.replace("config: Config", "d_model")
    assert restore_contract_layers(no_config, skeleton_source()) == (no_config, [])


STACKS = textwrap.dedent("""\
    class Model(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.mix = nn.Sequential(nn.Conv1d(d, d, 7, padding=3), nn.ReLU(), nn.Dropout(0.1))
            self.proj = nn.Sequential(nn.Conv1d(d, d, 1), nn.LayerNorm(d))

        def forward(self, x):
            return self.proj(self.mix(x))
""")


def test_a_sequential_of_channels_first_layers_is_transposed_around_as_a_whole() -> None:
    fixed, done = transpose_layer_calls(STACKS, "Model", "mix.0")
    assert done == ["self.mix(x) -> self.mix(x.transpose(1, 2)).transpose(1, 2)"]
    assert "self.proj(self.mix(x.transpose(1, 2)).transpose(1, 2))" in fixed


def test_a_sequential_holding_a_channels_last_layer_is_left_alone() -> None:
    assert transpose_layer_calls(STACKS, "Model", "proj.0") == (STACKS, [])
