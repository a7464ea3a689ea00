"""What the receiver never lets out: secrets in diagnostics and callback keys in logs.

:func:`redact` copies a mapping with every secret value replaced (status, diagnostics);
:class:`RedactingLogFilter` masks callback keys in aiohttp's own log records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import ClientPayloadError
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

REDACTED = "**REDACTED**"
SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "client_secrets",
        "admin_token",
        "credentials",
        "callback_key",
        "authorization",
    }
)


def redact(data: Any, keys: Iterable[str] = SECRET_KEYS) -> Any:
    """A copy of ``data`` with the values of secret keys replaced (diagnostics, status)."""
    wanted = {k.lower() for k in keys}
    if isinstance(data, Mapping):
        return {
            k: (REDACTED if str(k).lower() in wanted and v is not None else redact(v, wanted))
            for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact(v, wanted) for v in data]
    return data


def shorten_signature(value: str) -> str:
    """Enough of each signature value to tell them apart in a log, not to reuse."""
    return ",".join(v.strip()[:8] + "…" for v in value.split(",") if v.strip())


_CALLBACK_PATH = re.compile(r"(/notifications/)([^/\s?#\"']{1,4})[^/\s?#\"']*")
_AIOHTTP_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.internal")


def mask_callback_keys(text: str) -> str:
    """Callback keys in URLs cut to their first four characters (logs, errors)."""
    return _CALLBACK_PATH.sub(lambda m: f"{m.group(1)}{m.group(2)}…", text)


def _client_caused(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, HttpProcessingError | RequestPayloadError | ClientPayloadError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class RedactingLogFilter(logging.Filter):
    """Installed on aiohttp's own loggers: masks callback keys in access and error records,
    renders tracebacks as masked text, and reports a malformed request (a client's fault,
    such as a body that is not the gzip it claims) as a one-line warning, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = mask_callback_keys(record.getMessage())
        except Exception:  # a broken record must not break logging
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if record.exc_info and _client_caused(exc):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            message = f"{message}: malformed request from the client ({type(exc).__name__})"
        elif record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            message = f"{message}\n{mask_callback_keys(trace)}"
        record.exc_info, record.exc_text = None, None
        record.msg, record.args = message, None
        return True


def install_log_filter() -> None:
    """Put :class:`RedactingLogFilter` on aiohttp's loggers once (idempotent)."""
    for name in _AIOHTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingLogFilter) for f in logger.filters):
            logger.addFilter(RedactingLogFilter())
