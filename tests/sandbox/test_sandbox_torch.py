"""A real torch model trained for a few steps through the sandbox (needs the validate extra)."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from chunkwise.runtime.sandbox import run_sandboxed
from chunkwise.text.code_check import check_files

pytestmark = pytest.mark.skipif(
    find_spec("torch") is None, reason="torch is not installed: pip install 'chunkwise[validate]'"
)

MODEL = '''\
import torch
from torch import nn

from config import Config


class TinyTransformer(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 2 * cfg.dim, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers)
        self.head = nn.Linear(cfg.dim, cfg.classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))
'''

MAIN = '''\
import torch
from torch import nn

from config import Config
from model import TinyTransformer


def main() -> None:
    torch.manual_seed(0)
    cfg = Config()
    model = TinyTransformer(cfg)
    tokens = torch.randint(0, cfg.vocab, (cfg.batch, cfg.length))
    labels = torch.randint(0, cfg.classes, (cfg.batch,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(cfg.steps):
        loss = nn.functional.cross_entropy(model(tokens), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        accuracy = (model(tokens).argmax(-1) == labels).float().mean().item()
    print(f"first_loss={losses[0]:.4f} last_loss={losses[-1]:.4f} accuracy={accuracy:.2f}")
    print("threads", torch.get_num_threads())


if __name__ == "__main__":
    main()
'''

CONFIG = '''\
from dataclasses import dataclass


@dataclass
class Config:
    vocab: int = 50
    dim: int = 32
    heads: int = 4
    layers: int = 2
    classes: int = 3
    batch: int = 8
    length: int = 12
    steps: int = 8
'''


def test_a_torch_model_trains_in_the_sandbox() -> None:
    files = {"main.py": MAIN, "model.py": MODEL, "config.py": CONFIG}
    assert check_files(files).passed
    result = run_sandboxed(files, "main.py", timeout=300)
    assert result.ok, result.stderr_tail
    assert result.network_isolated
    values = dict(item.split("=") for item in result.stdout_tail.split()[:3])
    assert float(values["last_loss"]) < float(values["first_loss"])
    assert "threads 1" in result.stdout_tail  # the thread cap reached torch


def test_a_torch_allocation_beyond_the_limit_is_a_memory_failure() -> None:
    source = "import torch\nxs = []\nwhile True:\n    xs.append(torch.ones(64 << 20))\n"
    result = run_sandboxed({"main.py": source}, "main.py", timeout=300, memory_mb=1024)
    assert result.killed_reason == "memory"
    assert result.error_line is not None and "1024 MB" in result.error_line
