"""Known imports added without a model call; config fields checked without running."""

from __future__ import annotations

import textwrap

import pytest

from chunkwise.text.code_check import check_code
from chunkwise.text.code_fixes import add_known_imports, config_findings


def test_known_imports_go_after_the_docstring_and_imports() -> None:
    source = textwrap.dedent('''\
        """Doc."""
        from __future__ import annotations
        import torch


        @dataclass
        class Config:
            width: int = F.relu(torch.ones(1)).shape[0]
        ''')
    fixed, added = add_known_imports(source, ["dataclass", "F", "mystery"])
    assert added == ["from dataclasses import dataclass", "import torch.nn.functional as F"]
    assert fixed.splitlines()[:5] == [
        '"""Doc."""', "from __future__ import annotations", "import torch",
        "from dataclasses import dataclass", "import torch.nn.functional as F",
    ]
    assert check_code(fixed).passed
    assert add_known_imports(source, ["mystery"]) == (source, [])
    assert add_known_imports("x = (\n", ["math"]) == ("x = (\n", [])
    bare, _ = add_known_imports("print(math.pi)", ["math"])
    assert bare == "import math\nprint(math.pi)"


CODE = textwrap.dedent('''\
    from dataclasses import dataclass


    @dataclass
    class Config:
        d_model: int = 64
        layers: int = 2

        def tiny(self) -> "Config":
            return self


    class Model:
        def __init__(self, config: Config) -> None:
            self.config = config
            self.config.cache = {}
            self.width = config.d_model * config.num_classes

        def forward(self, x):
            return x * self.config.vocab_size + len(self.config.cache) + self.config.layers


    if __name__ == "__main__":
        cfg = Config(d_model=8, dropout=0.1).tiny()
        print(cfg.num_classes, Model(cfg).forward(1))
    ''')


def test_undeclared_config_fields_are_found_once_per_file() -> None:
    found = [(f.line, f.message.split(" (")[0]) for f in config_findings({"main.py": CODE})]
    assert found == [
        (17, "Config has no field 'num_classes'"),
        (20, "Config has no field 'vocab_size'"),
        (24, "Config has no field 'dropout'"),
    ]
    finding = config_findings({"main.py": CODE})[0]
    assert finding.blocking and finding.kind == "attribute"
    assert finding.message.endswith("(its fields: d_model, layers, tiny)")


def test_the_config_may_live_in_another_file_and_load_config_is_checked() -> None:
    files = {
        "config.py": "from dataclasses import dataclass\n\n@dataclass\nclass Config:\n"
                     "    width: int = 4\n",
        "main.py": "from config import load_config\ncfg = load_config(width=2, depth=3)\n",
        "notes.md": "config.anything",
    }
    (finding,) = config_findings(files)
    assert (finding.path, finding.line) == ("main.py", 2) and "'depth'" in finding.message


def test_no_opinion_without_exactly_one_plain_config_dataclass() -> None:
    two = CODE + "\n@dataclass\nclass TrainConfig:\n    steps: int = 3\n"
    derived = CODE.replace("class Config:", "class Config(Base):")
    assert config_findings({"main.py": two}) == []
    assert config_findings({"main.py": derived}) == []
    assert config_findings({"main.py": "config.x = 1\nprint(config.y)\n"}) == []
    assert config_findings({"main.py": "def broken(:\n"}) == []


def test_missing_fields_are_declared_with_the_passed_value_or_a_placeholder() -> None:
    from chunkwise.text.code_fixes import add_config_fields, config_gap, placeholder

    gap = config_gap({"main.py": CODE})
    assert gap is not None and gap.class_name == "Config" and gap.path == "main.py"
    assert [(f.name, f.passed) for f in gap.missing] == [
        ("num_classes", None), ("vocab_size", None), ("dropout", 0.1),
    ]
    values = {f.name: placeholder(f.name) if f.passed is None else f.passed for f in gap.missing}
    fixed, added = add_config_fields(CODE, "Config", values)
    assert added == ["num_classes: int = 4", "vocab_size: int = 100", "dropout: float = 0.1"]
    lines = fixed.splitlines()
    assert lines[10:13] == [
        f"    {line}  # added by chunkwise: the code uses it; set the paper's value"
        for line in added
    ]
    assert config_findings({"main.py": fixed}) == [] and check_code(fixed).passed
    assert add_config_fields(CODE, "Missing", values) == (CODE, [])


@pytest.mark.parametrize(("name", "value"), [
    ("num_classes", 4), ("vocab_size", 100), ("d_model", 32), ("max_seq_len", 16),
    ("num_layers", 2), ("n_heads", 4), ("dropout_rate", 0.1), ("learning_rate", 0.1),
    ("use_bias", False), ("device", "cpu"), ("something", 4),
])
def test_placeholders_follow_the_name(name: str, value: object) -> None:
    from chunkwise.text.code_fixes import placeholder

    assert placeholder(name) == value and type(placeholder(name)) is type(value)


def test_a_looping_block_is_kept_once_with_a_note() -> None:
    from chunkwise.text.code_fixes import collapse_repeats

    looped = "layers = nn.Sequential(\n" + "    nn.Linear(8, 8),\n    nn.ReLU(),\n" * 30
    collapsed, dropped = collapse_repeats(looped)
    assert dropped == 58
    assert collapsed.splitlines() == [
        "layers = nn.Sequential(", "    nn.Linear(8, 8),", "    nn.ReLU(),",
        "    # [chunkwise: the 2 line(s) above were repeated 29 more times here: the output "
        "looped]",
    ]
    assert collapse_repeats(CODE) == (CODE, 0)
    three = "x = 1\n" * 3
    assert collapse_repeats(three) == (three, 0)


def test_skeleton_placeholders_are_filled_or_reported() -> None:
    from chunkwise.text.code_fixes import drop_placeholder_calls, placeholder_findings

    source = textwrap.dedent('''\
        config = Config(...)  # tiny sizes
        model = Model(Config(...), name="é")
        view = x[..., 0]
        keep = Config(..., 2)


        def forward(self, inputs):
            """The model."""
            ...


        def stub():
            return ...
        ''')
    fixed, done = drop_placeholder_calls(source)
    assert done == ["Config(...) -> Config()", "Config(...) -> Config()"]
    assert fixed.splitlines()[:4] == [
        "config = Config()  # tiny sizes", 'model = Model(Config(), name="é")',
        "view = x[..., 0]", "keep = Config(..., 2)",
    ]
    (finding,) = placeholder_findings(fixed, "model.py")
    assert finding.render() == ("model.py:7:1: function 'forward' is not written: its body "
                                "is only `...`")
    assert finding.blocking and finding.kind == "placeholder"
    assert drop_placeholder_calls("def broken(:\n") == ("def broken(:\n", [])


def test_a_placeholder_left_among_other_statements_is_reported() -> None:
    from chunkwise.text.code_fixes import placeholder_findings

    source = textwrap.dedent('''\
        class Model:
            def __init__(self):
                self.embed = 1
                ...  # the paper's layers
                self.head = 2

            def forward(self, x):
                x = self.embed * x
                if x:
                    ...
                return x

            def done(self):
                return x[..., 0]
        ''')
    found = placeholder_findings(source, "main.py")
    assert [f.render() for f in found] == [
        "main.py:4:9: function '__init__' still has a `...` placeholder: write the code it "
        "stands for",
        "main.py:10:13: function 'forward' still has a `...` placeholder: write the code it "
        "stands for",
    ]
    assert all(f.blocking for f in found)
