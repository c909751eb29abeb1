"""`--layout repo` with a scripted model: the plan, config files, one file per step with the
files before it in context, the tree under --out, and the smoke run of its entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chunkwise.cli import main
from chunkwise.nodes.paper2code.config_files import (
    config_values,
    parse_value,
    render_config_module,
    render_config_yaml,
)
from chunkwise.nodes.paper2code.repo import normalize_plan
from chunkwise.state.paper2code import Hyperparameter, PlannedFile, RepoPlan
from tests.paper2code.conftest import Runner
from tests.paper2code.support import REPO_FILES, fenced, repo_model

pytestmark = pytest.mark.timeout(300)

TREE = ["config.yaml", "config.py", "model.py", "data.py", "train.py", "main.py", "README.md"]


def test_the_repository_is_planned_written_in_order_and_runs(
    run_paper: Runner, example_paper: Path
) -> None:
    model = repo_model()
    outcome = run_paper(example_paper, model, layout="repo", validate=True)
    result = outcome.values["result"]
    assert result["success"], result.get("error")
    assert result["layout"] == "repo" and result["code"] == ""
    assert [f["path"] for f in result["files"]] == TREE
    lines = {f["path"]: f["lines"] for f in result["files"]}
    assert lines["model.py"] == len(REPO_FILES["model.py"].splitlines())
    check = result["validation"]
    assert check["passed"] and check["smoke"]["ok"] and check["repairs"] == 0

    writes = model.calls_for("write_file")
    assert [c.last.split("Write ", 1)[1].split(":")[0] for c in writes[:-1]] == TREE[2:6]
    train_prompt = writes[2].last
    assert "### model.py" in train_prompt and "### data.py" in train_prompt
    assert "### config.py (outline)" in train_prompt and "d_model: int = 256" in train_prompt
    assert "def load_config(path: str | Path=CONFIG_FILE, **overrides: Any) -> Config" in (
        train_prompt)
    assert "- model.py: The gated mixer." in train_prompt
    assert "Notes on part 1." in train_prompt
    assert "main.py is the entry point" in writes[3].last
    assert "main.py is the entry point" not in train_prompt
    # texts live in the blob store: state holds keys only
    assert "class Model" not in json.dumps(outcome.values["draft_files"])


def test_a_traceback_in_a_module_repairs_that_module(
    run_paper: Runner, example_paper: Path
) -> None:
    broken = dict(REPO_FILES)
    broken["model.py"] = REPO_FILES["model.py"].replace(
        "        return math.exp", "        raise ValueError('bad shape')\n        return math.exp"
    )
    model = repo_model(broken, repair_code=lambda c: fenced(REPO_FILES["model.py"]))
    outcome = run_paper(example_paper, model, layout="repo", validate=True)
    check = outcome.values["result"]["validation"]
    assert check["passed"] and check["repairs"] == 1
    assert check["history"][0]["error"] == "ValueError: bad shape"
    (repair,) = model.calls_for("repair_code")
    assert "model.py fails when it runs" in repair.last
    assert 'File "model.py", line 11, in loss' in repair.last
    assert "The repository's other files:" in repair.last and "### train.py" in repair.last


def test_cli_writes_the_tree_and_its_config_reads_back(
    tmp_path: Path, example_paper: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("chunkwise.commands.common.MODEL_OVERRIDE", repo_model())
    out = tmp_path / "repo"
    code = main(["paper2code", str(example_paper), "--layout", "repo", "--out", str(out),
                 "--validate", "--json", str(tmp_path / "r.json"), "--quiet",
                 "--checkpoint-db", str(tmp_path / "r.sqlite")])
    assert code == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "code: runs"
    assert f"wrote 7 files to {out}" in err[-2]
    assert sorted(p.name for p in out.iterdir()) == sorted(TREE)
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load((out / "config.yaml").read_text()) == {
        "d_model": 256, "learning_rate": 3e-4, "dropout": 0.1, "batch_size": 32,
    }
    ran = subprocess.run([sys.executable, "main.py"], cwd=out, capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0 and "step 2: loss" in ran.stdout, ran.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert [f["path"] for f in result["files"]] == TREE


def test_repo_layout_needs_a_folder(tmp_path: Path, example_paper: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paper2code", str(example_paper), "--layout", "repo", "--quiet",
                 "--checkpoint-db", str(tmp_path / "r.sqlite")]) == 2
    assert "--layout repo writes a folder: give it with --out DIR" in capsys.readouterr().err


def test_the_api_returns_the_texts(tmp_path: Path, example_paper: Path) -> None:
    from chunkwise.api.paper2code import ChunkedPyTorchGenerator

    model = repo_model()
    result = ChunkedPyTorchGenerator(chunk_model=model, code_model=model, layout="repo",
                                     checkpoint_db=str(tmp_path / "r.sqlite"),
                                     ).generate_code_for_paper(path=str(example_paper))
    assert result["success"], result.get("error")
    texts = {f["path"]: f["text"] for f in result["files"]}
    assert texts["model.py"] == REPO_FILES["model.py"]
    assert texts["README.md"].startswith("# Gated mixer")


def test_a_plan_is_normalized_to_top_level_modules_with_main_last() -> None:
    plan = RepoPlan(files=[
        PlannedFile(path="main.py", purpose="entry  point", kind="entry"),
        PlannedFile(path="src/models/transformer.py", purpose="the model", kind="model"),
        PlannedFile(path="config.py", purpose="ours", kind="other"),
        PlannedFile(path="README.md", purpose="docs", kind="other"),
        PlannedFile(path="transformer.py", purpose="twice", kind="model"),
        PlannedFile(path="my-utils.py", purpose="not a module name", kind="other"),
        PlannedFile(path="train.py", purpose="", kind="train"),
    ], hyperparameters=[])
    normal = normalize_plan(plan)
    assert [(f.path, f.purpose) for f in normal.files] == [
        ("transformer.py", "the model"), ("train.py", "(no purpose given)"),
        ("main.py", "entry point"),
    ]
    empty = normalize_plan(RepoPlan(files=[], hyperparameters=[]))
    assert [f.path for f in empty.files] == ["model.py", "data.py", "train.py", "evaluate.py",
                                             "main.py"]


@pytest.mark.parametrize(("raw", "value"), [
    ("512", 512), ("1e-9", 1e-9), ("0.1", 0.1), ("4,000", 4000), ("true", True),
    ("adam (beta 0.9)", "adam (beta 0.9)"), ("`64`", 64),
])
def test_hyperparameter_values_parse(raw: str, value: object) -> None:
    assert parse_value(raw) == value and type(parse_value(raw)) is type(value)


def test_config_files_round_trip(tmp_path: Path) -> None:
    params = [Hyperparameter(name="d model", value="512", description="width # of the model"),
              Hyperparameter(name="eps", value="1e-9"), Hyperparameter(name="class", value="x"),
              Hyperparameter(name="optimizer", value='adam "beta"  # 0.9'),
              Hyperparameter(name="D_Model", value="7")]
    values = config_values(params)
    assert [v[0] for v in values] == ["d_model", "eps", "class_", "optimizer", "batch_size",
                                      "learning_rate"]
    (tmp_path / "config.yaml").write_text(render_config_yaml("A paper", values))
    (tmp_path / "config.py").write_text(render_config_module(values))
    probe = ("from config import load_config\nc = load_config(batch_size=4)\n"
             "print(repr((c.d_model, c.eps, c.class_, c.optimizer, c.batch_size)))\n")
    ran = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == repr((512, 1e-9, "x", 'adam "beta"  # 0.9', 4))
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["eps"] == 1e-9
