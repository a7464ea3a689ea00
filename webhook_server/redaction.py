"""What the receiver never lets out: secrets in diagnostics and callback keys in logs, and
floods of warnings that clients cause.

:func:`redact` copies a mapping with every secret value replaced (status, diagnostics);
:class:`RedactingLogFilter` masks callback keys in aiohttp's own log records and counts its
malformed-request warnings with the receiver's :class:`WarningThrottle`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import ClientPayloadError
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from webhook_server.throttle import WarningThrottle

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


_throttles: list[WarningThrottle] = []
"""The throttles of the receivers set up in this process, the latest last."""
_FALLBACK = WarningThrottle()


def aiohttp_throttle() -> WarningThrottle:
    """Who counts aiohttp's malformed-request warnings: its loggers are process-wide, so the
    receiver set up last (or a process-wide one when none is)."""
    return _throttles[-1] if _throttles else _FALLBACK


def count_aiohttp_warnings_with(throttle: WarningThrottle) -> Callable[[], None]:
    """Make ``throttle`` count aiohttp's malformed-request warnings; returns the function
    that stops it (the previous one counts again)."""
    _throttles.append(throttle)

    def release() -> None:
        for i in range(len(_throttles) - 1, -1, -1):
            if _throttles[i] is throttle:
                del _throttles[i]
                return

    return release


class RedactingLogFilter(logging.Filter):
    """Installed on aiohttp's own loggers: masks callback keys in access and error records,
    renders tracebacks as masked text, and reports a malformed request (a client's fault,
    such as a body that is not the gzip it claims) as a one-line warning, not an error, and
    not one per request in a flood (:func:`aiohttp_throttle` counts them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = mask_callback_keys(record.getMessage())
        except Exception:  # a broken record must not break logging
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if record.exc_info and _client_caused(exc):
            name = type(exc).__name__
            message = f"{message}: malformed request from the client ({name})"
            if record.levelno >= logging.WARNING:  # a debug record (--debug) stays one
                admitted = aiohttp_throttle().admit(f"malformed request ({name})")
                if admitted is None:
                    return False
                record.levelno, record.levelname = logging.WARNING, "WARNING"
                message += admitted.note
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
