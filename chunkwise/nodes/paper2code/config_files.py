"""`config.yaml` and the `config.py` that reads it, written from the plan's hyperparameters.

Both are rendered here rather than asked of the model: the YAML is always valid, and the smoke
run needs no YAML library (the generated code may import only torch, numpy and the standard
library), because `config.py` reads the flat `name: value` lines with `json` alone. Values are
rendered as JSON scalars, which YAML reads the same way (floats always carry a `.` before an
exponent, as YAML 1.1 readers require).
"""

from __future__ import annotations

import json
import keyword
import re

from chunkwise.state.paper2code import Hyperparameter

Scalar = int | float | bool | str

# Fields the smoke run and a training loop always need; added when the notes name none.
_GENERIC: tuple[tuple[str, Scalar, str], ...] = (
    ("batch_size", 32, "not given in the notes: a common default"),
    ("learning_rate", 1e-3, "not given in the notes: a common default"),
)
MAX_HYPERPARAMETERS = 40
_NUMBER = re.compile(r"^[+-]?(\d[\d,_]*\.?\d*|\.\d+)(e[+-]?\d+)?$", re.IGNORECASE)


def identifier(name: str) -> str:
    """A Python identifier for a hyperparameter's name ("Learning rate" -> learning_rate)."""
    text = re.sub(r"\W+", "_", name.strip().lower()).strip("_")
    if not text:
        return ""
    if text[0].isdigit():
        text = "p_" + text
    return text + "_" if keyword.iskeyword(text) else text


def parse_value(raw: str) -> Scalar:
    """512 -> int, 1e-4 / 0.1 -> float, true/false -> bool, anything else stays text."""
    text = raw.strip().strip("`")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _NUMBER.match(text):
        plain = text.replace(",", "").replace("_", "")
        try:
            return int(plain)
        except ValueError:
            return float(plain)
    return text


def config_values(params: list[Hyperparameter]) -> list[tuple[str, Scalar, str]]:
    """(identifier, value, description) once per name, plus the generic fields if missing."""
    seen: dict[str, tuple[str, Scalar, str]] = {}
    for param in params[:MAX_HYPERPARAMETERS]:
        name = identifier(param.name)
        if name and name not in seen:
            seen[name] = (name, parse_value(param.value), " ".join(param.description.split()))
    for name, value, why in _GENERIC:
        seen.setdefault(name, (name, value, why))
    return list(seen.values())


def _scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        if exponent and "." not in mantissa:
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def render_config_yaml(title: str, values: list[tuple[str, Scalar, str]]) -> str:
    lines = [f"# Hyperparameters of {' '.join(title.split()) or 'the paper'}, from its notes.",
             "# Read by config.py (flat `name: value` lines); edit values here."]
    for name, value, why in values:
        lines.append(f"{name}: {_scalar(value)}" + (f"  # {why}" if why else ""))
    return "\n".join(lines) + "\n"


_CONFIG_PY = '''"""The paper's hyperparameters, read from config.yaml (flat `name: value` lines)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

CONFIG_FILE = Path(__file__).with_name("config.yaml")


@dataclass
class Config:
{fields}


def _value(raw: str) -> Any:
    text = raw.strip()
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except ValueError:
        return text.split("#", 1)[0].strip()


def load_config(path: str | Path = CONFIG_FILE, **overrides: Any) -> Config:
    """The values in `path` (a missing file or key keeps the default), then `overrides`."""
    known = {{f.name for f in fields(Config)}}
    values: dict[str, Any] = {{}}
    target = Path(path)
    if target.exists():
        for line in target.read_text(encoding="utf-8").splitlines():
            key, sep, raw = line.partition(":")
            if sep and key.strip() in known and not key.lstrip().startswith("#"):
                values[key.strip()] = _value(raw)
    return replace(Config(**values), **overrides)
'''


def render_config_module(values: list[tuple[str, Scalar, str]]) -> str:
    lines = []
    for name, value, why in values:
        kind = type(value).__name__
        comment = f"  # {why}" if why else ""
        lines.append(f"    {name}: {kind} = {value!r}{comment}")
    return _CONFIG_PY.format(fields="\n".join(lines) or "    pass")
