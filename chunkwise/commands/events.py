"""`--json-events PATH`: every progress event as one JSON object a line, for scripts.

The events are the ones the progress bar renders (`runtime.progress.ProgressEvent`); `-` writes
them to stdout (give `--out`/`--output` then, so stdout carries events only). Each line is
written and flushed whole, so a reader following the file never sees half an event.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import IO, Any

from chunkwise.errors import ConfigError


class JsonEventWriter:
    """Appends events to a file (or stdout) as JSON lines; safe from parallel branches."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._own = path != "-"
        try:
            if self._own:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._out: IO[str] = open(path, "a", encoding="utf-8") if self._own else sys.stdout  # noqa: SIM115
        except OSError as exc:
            raise ConfigError(f"--json-events {path}: cannot write ({exc.strerror})") from None

    def __call__(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, default=str)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def close(self) -> None:
        if self._own:
            self._out.close()
