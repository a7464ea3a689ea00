"""Library log records on a command's error stream: masked, one line each, a flood counted.

Every command that runs the toolkit's servers (the ``run_parsed`` commands, ``emulator`` and
``workshop``) sends the records of :data:`LOGGERS` here instead of Python's last-resort
handler on the raw stderr: secrets masked (:class:`~cronofy_avail.cli.common.MaskingWriter`),
one line per record unless ``--debug``, and warnings of one kind beyond a burst counted and
summarised (:class:`~webhook_server.throttle.WarningThrottle`): a room of laptops sending
malformed requests, or a process out of file descriptors, must not write 281 MB of
tracebacks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Iterator

from cronofy_avail.cli.common import MaskingWriter
from webhook_server.throttle import WarningThrottle


class LogToOutput(logging.Handler):
    """Library log records, masked, on the command's error stream (instead of Python's
    last-resort handler on the raw stderr)."""

    def __init__(self, stream: MaskingWriter, level: int) -> None:
        super().__init__(level)
        self.stream = stream
        self.throttle = WarningThrottle()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            note = ""
            if self.level > logging.DEBUG and record.levelno >= logging.WARNING:
                # A kind is where the record comes from and its message's template, so one
                # flood (asyncio's accept error, aiohttp's bad request) is counted as one.
                admitted = self.throttle.admit(f"{record.name}: {str(record.msg)[:60]}")
                if admitted is None:
                    return
                note = admitted.note
            line = f"log: {record.levelname.lower()}: {record.getMessage()}{note}"
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None:
                # The cause on the same line (a record without it says nothing); the whole
                # traceback only with --debug.
                line += f" (cause: {type(exc).__name__}: {exc})"
            if self.level > logging.DEBUG:
                # One line a record, whatever the message holds (procrastinate's error texts
                # and asyncio's are indented paragraphs).
                line = " ".join(line.split())
            elif exc is not None:
                line += "\n" + "".join(traceback.format_exception(exc)).rstrip()
            self.stream.write(line + "\n")
        except Exception:  # never let logging break a command
            self.handleError(record)


# aiohttp too: its own error records (masked by webhook_server's filter) go through the same
# masked stream instead of Python's last-resort handler; so do the job queue's, the PostgreSQL
# driver's (a cluster's worker and receivers) and asyncio's (a task's unretrieved error), one
# line each, not a traceback.
LOGGERS = ("cronofy_avail", "webhook_server", "aiohttp", "procrastinate", "psycopg", "asyncio")
QUIETER = {"psycopg": logging.ERROR}
"""Loggers shown from a higher level unless ``--debug``: the pool's warning on each attempt to
reconnect while the database is away says nothing the worker's own warning does not."""


_LOGGING_LOCK = threading.Lock()
_logging_depth = 0
_logging_saved: list[tuple[logging.Logger, int, bool]] = []


@contextlib.contextmanager
def logging_to(stream: MaskingWriter, level: int) -> Iterator[None]:
    """Send the package's log records to ``stream`` while a command runs.

    Commands may run at once in threads of one process (a notebook, the soak's CLI races):
    the loggers' own settings are saved by the first and restored by the last, never by one
    command over another's (which left ``propagate`` off for good).
    """
    global _logging_depth
    handler = LogToOutput(stream, level)
    with _LOGGING_LOCK:
        if _logging_depth == 0:
            _logging_saved[:] = [
                (lg, lg.level, lg.propagate) for lg in map(logging.getLogger, LOGGERS)
            ]
        _logging_depth += 1
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            logger.setLevel(level if level <= logging.DEBUG else max(level, QUIETER.get(name, 0)))
            logger.propagate = False
    try:
        yield
    finally:
        with _LOGGING_LOCK:
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(handler)
            _logging_depth -= 1
            if _logging_depth == 0:
                for logger, level_before, propagate in _logging_saved:
                    logger.setLevel(level_before)
                    logger.propagate = propagate
                _logging_saved.clear()
