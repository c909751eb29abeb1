"""The `chunkwise` command: one subcommand per pipeline, `batch`, `runs` and `models`.

User errors (bad input, bad settings) print one line and exit 2; a run that fails exits 1 and
keeps its checkpoint; Ctrl-C exits 130 and says how to resume. No traceback for any of these.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from chunkwise import __version__
from chunkwise.errors import ChunkwiseError, ConfigError, InputError

# subcommand name -> module in chunkwise.commands exposing add_parser(subparsers) and run(args)
COMMANDS = ("paper2code", "rephrase", "generate", "batch", "runs", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chunkwise", description="LangGraph pipelines for documents too long for one call."
    )
    parser.add_argument("--version", action="version", version=f"chunkwise {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"chunkwise.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"chunkwise.commands.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (InputError, ConfigError) as exc:
        print(f"chunkwise: error: {exc}", file=sys.stderr)
        return 2
    except ChunkwiseError as exc:  # the run failed (a model call, too few parts done...)
        print(f"chunkwise: run failed: {exc}", file=sys.stderr)
        if run_id := getattr(args, "run_id", None):
            print(f"chunkwise: the checkpoint is kept: rerun with --run-id {run_id} to continue",
                  file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        run_id = getattr(args, "run_id", None)
        hint = f"; resume with --run-id {run_id}" if run_id else ""
        print(f"chunkwise: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
