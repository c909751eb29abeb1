"""A command's options as a command line to keep with its run, and that line run again.

`runs resume RUN_ID` reruns a run with the options it started with, so the runner keeps them
(`RunRecord.options`). They are kept as the command line itself (`{"argv": [...]}`), rebuilt
from the parsed flags that differ from their defaults: readable in `runs show`, and replayed
through the same parser, so an option added later cannot be misread. Paths are made absolute
(a resume may start elsewhere); the run id and checkpoint database are not kept (resume gives
its own: the database it reads, which for PostgreSQL holds a password); strings pass through
`redact` and a base URL loses any user:password part, so no key is stored.
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chunkwise.errors import ConfigError
from chunkwise.models.secrets import redact

# given on resume, or meaningless there
_NOT_KEPT = {"run", "command", "run_id", "batch_id", "checkpoint_db", "quiet", "help"}
_PATHS = {"input", "output", "out", "paper", "json_path", "report", "manual_plan_path",
          "papers_dir"}


def command_parser(path: list[str]) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The root parser holding only command `path` (e.g. ["batch", "rephrase"]), and the
    parser of that command itself."""
    root = argparse.ArgumentParser(prog="chunkwise")
    sub = root.add_subparsers(dest="command_name", required=True)
    try:
        module = importlib.import_module(f"chunkwise.commands.{path[0]}")
    except ModuleNotFoundError:
        raise ConfigError(f"unknown command {path[0]!r} in the run's options") from None
    module.add_parser(sub)
    parser: argparse.ArgumentParser = sub.choices[path[0]]
    for name in path[1:]:
        nested = next(
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        )
        parser = nested.choices[name]
    return root, parser


def _safe(dest: str, value: Any) -> str:
    text = str(value)
    if dest in _PATHS:
        return os.path.abspath(text)
    if dest == "base_url":
        parts = urlsplit(text)
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = host + (f":{parts.port}" if parts.port else "")
            text = urlunsplit(parts._replace(netloc=netloc))
    return redact(text)


def command_argv(args: argparse.Namespace) -> list[str]:
    """The command line that gives `args` again (flags left at their default are omitted)."""
    path = list(args.command)
    _, parser = command_parser(path)
    argv = list(path)
    for action in parser._actions:
        dest = action.dest
        if dest in _NOT_KEPT or dest == argparse.SUPPRESS:
            continue
        value = getattr(args, dest, action.default)
        if value is None or value == action.default:
            continue
        if not action.option_strings:
            argv.append(_safe(dest, value))
        elif action.nargs == 0:
            argv.append(action.option_strings[0])
        else:
            argv += [action.option_strings[0], _safe(dest, value)]
    return argv


def recorded_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"argv": command_argv(args)}


def replay(options: dict[str, Any] | None, extra: list[str]) -> argparse.Namespace:
    """Parse the kept command line again, with `extra` flags (run id, database) added."""
    argv = (options or {}).get("argv")
    if not isinstance(argv, list) or not argv:
        raise ConfigError("the run's options hold no command line; run the command again")
    root, _ = command_parser([str(argv[0])])
    return root.parse_args([str(a) for a in argv] + extra)
