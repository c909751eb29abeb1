"""Keep credentials out of messages, logs and results.

`redact` replaces the values of known secret variables, of any variable whose name ends in
`_KEY`, `_TOKEN`, `_SECRET` or `_PASSWORD` (8 characters or more), and anything shaped like a
real credential, with `***`. Every error line the seam produces goes through it. Shapes, so
that model names and ordinary words survive (`rk-2024-preview`, `either-or-fallback`):
vendor key prefixes with a digit in the key (`sk-...`, `sk-ant-...`, `sk-or-...`, `gsk_...`,
`ghp_...`, `hf_...`, `xai-...`, `AIza...`), AWS access key ids (`AKIA...`/`ASIA...`),
`Bearer <token>`, labelled values (`api_key=`, `Authorization:`, `x-api-key:`), credentials in
URL queries (`?key=`, `&token=`, `X-Amz-Signature=`), and long random-looking tokens (32+
characters with a run of 16+ mixing upper case, lower case and digits at random).

`RedactingFilter` does the same for log records: at DEBUG level botocore logs the signed
request, session token included, and HTTP clients log headers. `protect_sdk_loggers` (called
by the factory whenever it builds a model) puts the filter on the SDKs' own loggers, where it
costs nothing unless their debug logging is on; `install_log_redaction` puts it on a logger's
handlers for anything else.
"""

from __future__ import annotations

import itertools
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
    r"\bsk-(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{12,}"  # OpenAI, Anthropic sk-ant-, OpenRouter sk-or-
    r"|\b(?:gsk|ghp|gho|ghu|ghs|ghr|glpat|hf)_[A-Za-z0-9_-]{16,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bxai-[A-Za-z0-9]{20,}|\bAIza[0-9A-Za-z_-]{30,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{12,}"
    r"|(?P<bearer>\b(?i:bearer)\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?P<label>(?i:(?:api[_-]?key|x-api-key|authorization|x-amz-security-token)[\"']?\s*[:=]"
    r"\s*[\"']?)(?:(?i:bearer|basic)\s+)?)(?=[^\s\"',}]*\d)[^\s\"',}]{10,}"
    r"|(?P<query>[?&](?i:key|api[_-]?key|token|access[_-]?token|auth|sig|signature|password"
    r"|secret|x-amz-signature|x-amz-security-token|x-amz-credential)=)[^&\s\"'#]+"
)
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/=_-])")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_DIGITS = re.compile(r"\d+")


def _kind(ch: str) -> int:
    return 0 if ch.islower() else 1 if ch.isupper() else 2


def _random_looking(token: str) -> bool:
    """Letters and digits mixed the way random keys mix them: all three kinds, the kind
    changing between neighbours at least 40% of the time, capitals not mostly starting words
    (CamelCase) and digits in more than one place. Identifiers and model names
    (`InvalidSignatureException2024`, `meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8`)
    fail it; about 96% of random 32-40 character keys pass."""
    chars = _NOT_ALNUM.sub("", token)
    if len(chars) < 24:
        return False
    kinds = [_kind(ch) for ch in chars]
    if len(set(kinds)) < 3:
        return False
    switches = sum(a != b for a, b in itertools.pairwise(kinds)) / (len(chars) - 1)
    capitals = [i for i, ch in enumerate(chars[:-1]) if ch.isupper()]
    camel = sum(chars[i + 1].islower() for i in capitals) / max(1, len(capitals))
    return switches >= 0.4 and camel < 0.75 and len(_DIGITS.findall(chars)) >= 2


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
    text = _KEY_LIKE.sub(_mask, text)
    return _LONG_TOKEN.sub(lambda m: "***" if _random_looking(m.group(0)) else m.group(0), text)


def _mask(match: re.Match[str]) -> str:
    """`***`, keeping a label before the secret (`Bearer `, `api_key=`, `?key=`)."""
    return (match.group("bearer") or match.group("label") or match.group("query") or "") + "***"


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
