"""Commands running at once in threads of one process leave the loggers as they found them."""

from __future__ import annotations

import io
import logging

from cronofy_avail.cli.common import writer
from cronofy_avail.cli.logs import LOGGERS, logging_to


def test_overlapping_commands_restore_the_loggers_settings() -> None:
    before = [(logging.getLogger(n).level, logging.getLogger(n).propagate) for n in LOGGERS]
    first = logging_to(writer(io.StringIO()), logging.ERROR)
    second = logging_to(writer(io.StringIO()), logging.WARNING)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first ends while the second still runs
    assert not logging.getLogger(LOGGERS[0]).propagate
    second.__exit__(None, None, None)
    after = [(logging.getLogger(n).level, logging.getLogger(n).propagate) for n in LOGGERS]
    assert after == before


def test_a_flood_of_one_warning_is_counted_not_repeated() -> None:
    """A room of laptops sending malformed requests (or a process out of file descriptors)
    used to write a line and a traceback per record; now a burst, then counted."""
    out = io.StringIO()
    logger = logging.getLogger("asyncio")  # where the accept loop reports EMFILE
    with logging_to(writer(out), logging.WARNING):
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            for _ in range(1000):
                logger.exception("socket.accept() out of system resource: %s", "fd 7")
        logging.getLogger("cronofy_avail.test").warning("something else")
    lines = out.getvalue().splitlines()
    assert len(lines) == 6, lines  # five of the flood, then the other one
    assert all("Traceback" not in line for line in lines), lines
    assert "Too many open files" in lines[0]
    assert "counted" in lines[4]
    assert lines[5] == "log: warning: something else"
