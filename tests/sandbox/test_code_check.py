"""Static check of generated code: syntax, allowed imports, undefined names; nothing executes."""

from __future__ import annotations

import pytest
from pyflakes import messages

from chunkwise.text.code_check import (
    BLOCKING_PYFLAKES,
    CodeCheck,
    check_code,
    check_files,
    local_module_names,
)

CLEAN = '''\
import argparse
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from config import Config


class Model(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.linear = nn.Linear(cfg.dim, cfg.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * math.sqrt(1.0)


@dataclass
class Options:
    steps: int = 2


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    print(Model(Config()), Options(), np.zeros(1), parser)
'''


def blocking_kinds(result: CodeCheck) -> list[str]:
    return [f.kind for f in result.findings if f.blocking]


def test_clean_code_passes_with_stdlib_torch_numpy_and_a_sibling_module() -> None:
    result = check_code(CLEAN, path="model.py", local_modules={"config"})
    assert result.passed, [f.render() for f in result.findings]
    assert result.findings == ()


def test_code_that_does_not_parse_reports_line_and_column() -> None:
    source = "import torch\n\ndef train(model:\n    return model\n"
    result = check_code(source, path="model.py")
    assert not result.passed
    (finding,) = result.findings  # nothing else is reported for a file that does not compile
    assert finding.kind == "syntax" and finding.blocking
    assert finding.line == 3 and finding.col > 0
    assert finding.message.startswith("SyntaxError: ")
    assert finding.render().startswith("model.py:3:")


def test_compiler_errors_that_the_parser_accepts_count_as_syntax() -> None:
    result = check_code("def f():\n    pass\nreturn 1\n")
    assert [(f.kind, f.line) for f in result.findings] == [("syntax", 3)]
    assert "outside function" in result.findings[0].message


def test_undefined_names_block() -> None:
    source = (
        "class Config:\n    lr = 0.1\n\n"
        "def evaluate(model):\n    return model(config.lr), epoch\n"
    )
    result = check_code(source)
    assert not result.passed
    undefined = [f for f in result.findings if f.kind == "undefined-name"]
    assert {f.message for f in undefined} == {"undefined name 'config'", "undefined name 'epoch'"}
    assert all(f.blocking and f.line == 5 and f.check == "UndefinedName" for f in undefined)


def test_undefined_local_blocks() -> None:
    source = "x = 1\ndef f():\n    x += 1\n    print(x)\n    x = 2\n"
    result = check_code(source)
    assert "undefined-name" in blocking_kinds(result)


@pytest.mark.parametrize("module", ["requests", "torchvision", "transformers", "pandas.io"])
def test_a_module_that_is_not_allowed_is_flagged(module: str) -> None:
    result = check_code(f"import {module}\nprint({module.split('.')[0]})\n")
    assert not result.passed
    (finding,) = [f for f in result.findings if f.kind == "import"]
    assert finding.blocking and finding.line == 1
    assert repr(module) in finding.message


def test_from_import_of_a_disallowed_package_is_flagged() -> None:
    result = check_code("from sklearn.metrics import f1_score\nprint(f1_score)\n")
    assert blocking_kinds(result) == ["import"]


def test_a_sibling_is_allowed_only_when_it_was_generated() -> None:
    source = "from data import make_batches\nprint(make_batches)\n"
    assert check_code(source, local_modules={"data"}).passed
    assert blocking_kinds(check_code(source)) == ["import"]


def test_a_guarded_optional_import_is_reported_but_does_not_block() -> None:
    source = (
        "try:\n    import matplotlib.pyplot as plt\nexcept ImportError:\n    plt = None\n"
        "print(plt)\n"
    )
    result = check_code(source)
    assert result.passed
    (finding,) = [f for f in result.findings if f.kind == "import"]
    assert not finding.blocking and "informational" in finding.message


def test_an_import_guarded_by_an_unrelated_handler_still_blocks() -> None:
    source = "try:\n    import requests\nexcept KeyError:\n    requests = None\nprint(requests)\n"
    assert blocking_kinds(check_code(source)) == ["import"]


def test_unused_imports_are_informational() -> None:
    result = check_code("import os\nimport torch\n")
    assert result.passed
    assert [f.check for f in result.findings] == ["UnusedImport", "UnusedImport"]
    assert not any(f.blocking for f in result.findings)


@pytest.mark.parametrize(
    ("source", "check"),
    [
        ("print('%s and %s' % (1,))\n", "PercentFormatPositionalCountMismatch"),
        ("print('{} {}'.format(1))\n", "StringDotFormatMissingArgument"),
        ("raise NotImplemented\n", "RaiseNotImplemented"),
        ("from torch.nn import *\nprint(Linear)\n", "ImportStarUsage"),
    ],
)
def test_pyflakes_messages_for_code_that_raises_when_run_block(source: str, check: str) -> None:
    result = check_code(source)
    assert not result.passed
    assert check in {f.check for f in result.findings if f.blocking}


def test_style_warnings_do_not_block() -> None:
    result = check_code("x = 1\nprint(f'plain', x is 'a', {1: 1, 1: 2})\n")
    assert result.passed
    assert {f.check for f in result.findings} >= {"FStringMissingPlaceholders", "IsLiteral"}


def test_local_module_names_come_from_python_paths() -> None:
    names = local_module_names(
        ["model.py", "pkg/__init__.py", "pkg/layers.py", "tools/io.py", "config.yaml"]
    )
    assert names == {"model", "pkg", "pkg.layers", "tools", "tools.io"}


def test_repository_layout_checks_every_python_file_against_the_others() -> None:
    files = {
        "main.py": "from model import Net\nfrom pkg.layers import Block\nprint(Net, Block)\n",
        "model.py": "import torch\nfrom pkg import layers\nNet = torch.nn.Linear\nprint(layers)\n",
        "pkg/__init__.py": "",
        "pkg/layers.py": "from .blocks import Block\nfrom . import blocks\nprint(blocks)\n",
        "pkg/blocks.py": "Block = object\n",
        "config.yaml": "lr: 0.1\n",
        "README.md": "# not python",
    }
    result = check_files(files)
    assert result.passed, [f.render() for f in result.findings]

    broken = {**files, "main.py": "import pkg.missing\nfrom .model import Net\nprint(pkg, Net)\n"}
    problems = [(f.path, f.line) for f in check_files(broken).findings if f.blocking]
    assert problems == [("main.py", 1), ("main.py", 2)]
    messages = " ".join(f.message for f in check_files(broken).findings)
    assert "'pkg.missing' is not among the generated files" in messages
    assert "top-level file" in messages


def test_a_relative_import_above_the_tree_blocks() -> None:
    files = {"pkg/__init__.py": "", "pkg/a.py": "from .. import b\nprint(b)\n"}
    (finding,) = [f for f in check_files(files).findings if f.blocking]
    assert finding.path == "pkg/a.py" and finding.kind == "import"


def test_result_is_plain_data_for_the_run_result() -> None:
    dumped = check_code("print(x)\n", path="m.py").model_dump()
    assert dumped["passed"] is False
    assert dumped["findings"][0] == {
        "path": "m.py", "kind": "undefined-name", "line": 1, "col": 7,
        "message": "undefined name 'x'", "blocking": True, "check": "UndefinedName",
    }
    assert CodeCheck.model_validate(dumped) == check_code("print(x)\n", path="m.py")


def test_every_blocking_message_name_is_a_pyflakes_message() -> None:
    """A misspelt name in the table would silently never block."""
    known = {name for name in dir(messages) if isinstance(getattr(messages, name), type)}
    assert known >= BLOCKING_PYFLAKES
