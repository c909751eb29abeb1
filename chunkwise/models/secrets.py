"""Keep credentials out of messages, logs and results.

`redact` replaces the values of known secret variables, of any variable whose name ends in
`_KEY`, `_TOKEN`, `_SECRET` or `_PASSWORD` (8 characters or more), and anything shaped like an
API key, with `***`. Every error line the seam produces goes through it.

`RedactingFilter` does the same for log records: at DEBUG level botocore logs the signed
request, session token included, and HTTP clients log headers. `protect_sdk_loggers` (called
by the factory whenever it builds a model) puts the filter on the SDKs' own loggers, where it
costs nothing unless their debug logging is on; `install_log_redaction` puts it on a logger's
handlers for anything else.
"""

from __future__ import annotations

import logging
import os
import re

SECRET_ENV_VARS = (
    "LLM_API_KEY",
    "OPENAI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_BEARER_TOKEN_BEDROCK",
    "ANTHROPIC_API_KEY",
    "OPENROUTER_API_KEY",
)
_SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_API_KEY", "_ACCESS_KEY_ID")
_MIN_GENERIC = 8  # shorter values of generic *_KEY variables are too likely to be plain words
_KEY_LIKE = re.compile(
    r"\b(?:sk|rk|pk|or|sk-or|sk-ant|gsk|xai)-[A-Za-z0-9_*\-]{6,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{12,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{6,}"
    r"|(?i:(?:api[_-]?key|x-api-key|authorization|x-amz-security-token)[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?i:bearer|basic)\s+)?(?=[^\s\"',}]*\d)[^\s\"',}]{10,}"
)


def _secret_values() -> list[str]:
    values = []
    for name, value in os.environ.items():
        if not value:
            continue
        known = name in SECRET_ENV_VARS and len(value) >= 4
        if known or (name.upper().endswith(_SECRET_SUFFIXES) and len(value) >= _MIN_GENERIC):
            values.append(value)
    return sorted(set(values), key=len, reverse=True)  # longest first: no partial leftovers


def redact(text: str) -> str:
    """Replace any configured secret, and anything shaped like an API key, with ***."""
    for value in _secret_values():
        if value in text:
            text = text.replace(value, "***")
    return _KEY_LIKE.sub(_mask, text)


def _mask(match: re.Match[str]) -> str:
    found = match.group(0)
    lowered = found.lower()
    for label in ("api_key", "api-key", "apikey", "x-api-key", "authorization",
                  "x-amz-security-token"):
        if lowered.startswith(label):
            head = re.match(r"^[^:=]*[:=]\s*[\"']?", found)
            return (head.group(0) if head else "") + "***"
    if lowered.startswith("bearer"):
        return found.split()[0] + " ***"
    return "***"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with `redact` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


SDK_LOGGER_PREFIXES = (
    "botocore", "boto3", "urllib3", "openai", "httpx", "httpcore", "langchain_aws",
    "langchain_openai", "langchain", "langsmith",
)
_SDK_FILTER = RedactingFilter()


def protect_sdk_loggers(prefixes: tuple[str, ...] = SDK_LOGGER_PREFIXES) -> None:
    """Put one `RedactingFilter` on every existing logger of the SDKs (idempotent).

    A logger's filters see the records created on that logger, before any handler (and before
    propagation to the root), so a host's own logging setup never receives the raw text.
    """
    manager = logging.Logger.manager
    names = [n for n in list(manager.loggerDict) if n.split(".")[0] in prefixes]
    for name in [*prefixes, *names]:
        logger = logging.getLogger(name)
        if _SDK_FILTER not in logger.filters:
            logger.addFilter(_SDK_FILTER)


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one `RedactingFilter` to every handler of `logger` (default: the root logger)."""
    target = logger or logging.getLogger()
    flt = RedactingFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
