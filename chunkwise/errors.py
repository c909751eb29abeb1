"""Errors a user can act on.

`InputError` and `ConfigError` carry one line that names the file or setting and says what
to do; the CLI prints that line and exits 2 with no traceback. `RunFailed` means the run
itself did not succeed (exit 1); its checkpoint is kept so the same run id resumes it.
"""


class ChunkwiseError(Exception):
    """Base class for errors with a message meant for the user."""


# User errors are also `ValueError`s and a failed run a `RuntimeError`: LangGraph's default
# retry policy leaves both alone, and the LangGraph server shows their messages to a Studio user
# (it masks exceptions of other types as "An internal error occurred").


class InputError(ChunkwiseError, ValueError):
    """A document, plan or other input file cannot be used as given."""


class ConfigError(ChunkwiseError, ValueError):
    """A setting (flag, env variable, model spec, credential) is missing or invalid."""


class RunFailed(ChunkwiseError, RuntimeError):
    """The run finished without a usable result; its checkpoint is kept for resume."""
