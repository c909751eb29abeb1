"""The package's layers, checked: nothing imports upward and nothing reaches around a layer.

`commands/`, `api/` -> `graphs/` -> `nodes/` -> `{prompts/, state/}` -> `{models/, runtime/,
text/}` -> `errors`. `runtime/` (blobs, progress, checkpoints, the runner) sits below `models/`
so the model seam may use the blob store and progress events; `text/` has no LangChain.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chunkwise"
BOTTOM = {"errors"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "text": BOTTOM,
    "runtime": BOTTOM,
    "models": BOTTOM | {"runtime", "text"},
    "state": BOTTOM | {"models", "runtime", "text"},
    "prompts": BOTTOM | {"state", "models", "text"},
    "nodes": BOTTOM | {"prompts", "state", "models", "runtime", "text"},
    "graphs": BOTTOM | {"nodes", "state", "runtime"},
    "api": BOTTOM | {"graphs", "state", "prompts", "models", "runtime", "text"},
    "commands": BOTTOM | {"graphs", "state", "prompts", "models", "runtime", "text"},
    "cli": BOTTOM | {"commands", "__init__"},
    "__init__": set(),
}


def _imports(path: Path) -> set[str]:
    """First-level chunkwise packages a module imports (`chunkwise` alone is `__init__`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "chunkwise":
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else relative[0].removesuffix(".py")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    layer = _layer(path)
    assert layer in ALLOWED, f"{layer}: a new top-level module needs a place in the layers"
    upward = _imports(path) - ALLOWED[layer] - {layer}
    assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)} from {layer}/"


def test_text_has_no_langchain() -> None:
    for path in (PACKAGE / "text").rglob("*.py"):
        source = path.read_text("utf-8")
        assert "langchain" not in source and "langgraph" not in source, path
