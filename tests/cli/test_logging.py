"""Commands running at once in threads of one process leave the loggers as they found them."""

from __future__ import annotations

import io
import logging

from cronofy_avail.cli.commands import LOGGERS, _logging_to
from cronofy_avail.cli.common import writer


def test_overlapping_commands_restore_the_loggers_settings() -> None:
    before = [(logging.getLogger(n).level, logging.getLogger(n).propagate) for n in LOGGERS]
    first = _logging_to(writer(io.StringIO()), logging.ERROR)
    second = _logging_to(writer(io.StringIO()), logging.WARNING)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first ends while the second still runs
    assert not logging.getLogger(LOGGERS[0]).propagate
    second.__exit__(None, None, None)
    after = [(logging.getLogger(n).level, logging.getLogger(n).propagate) for n in LOGGERS]
    assert after == before
