"""Where runs are kept by default: `$CHUNKWISE_HOME` (default `~/.chunkwise`)."""

from __future__ import annotations

import os
from pathlib import Path


def chunkwise_home() -> Path:
    return Path(os.environ.get("CHUNKWISE_HOME") or "~/.chunkwise").expanduser()


def default_checkpoint_db() -> str:
    """`$CHUNKWISE_HOME/runs.sqlite`: the CLI's and the drop-in APIs' checkpoint database."""
    return str(chunkwise_home() / "runs.sqlite")


def is_postgres(location: str) -> bool:
    return location.startswith(("postgres://", "postgresql://"))


def blob_location_for(checkpoint_db: str) -> str:
    """Blobs sit beside the checkpoints: `runs.sqlite` -> `runs.blobs.sqlite`; same Postgres DB."""
    if checkpoint_db == ":memory:" or is_postgres(checkpoint_db):
        return checkpoint_db
    path = Path(checkpoint_db).expanduser()
    return str(path.with_name(path.stem + ".blobs" + (path.suffix or ".sqlite")))
