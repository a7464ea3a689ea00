"""``cronofy-avail dev`` running in a child process, as a user starts it in terminal 1.

The test reads its output as it comes (``wait_for`` a line) and stops it with Ctrl-C (SIGINT).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.support.user_cli import SCRIPT, UserShell

WITHIN = 60.0


@dataclass
class DevRun:
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            line = (await self.process.stdout.readline()).decode("utf-8", "replace")
            async with self.changed:
                if line:
                    self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
            if not line:
                return

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for(self, pattern: str, within: float = WITHIN, *, start: int = 0) -> str:
        """The first line (from index ``start``) matching ``pattern``; fails at exit."""
        found = re.compile(pattern)
        try:
            async with asyncio.timeout(within), self.changed:
                while True:
                    for line in self.lines[start:]:
                        if found.search(line):
                            return line
                    if self.reader is not None and self.reader.done():
                        raise AssertionError(f"dev ended without {pattern!r}:\n{self.text}")
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} within {within}s:\n{self.text}") from None

    async def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(WITHIN):
            code = await self.process.wait()
            if self.reader is not None:
                await self.reader
        return code


async def start_dev(shell: UserShell, *argv: str) -> DevRun:
    return await start_command(shell, "dev", "--port", "0", "--receiver-port", "0", *argv)


async def start_command(shell: UserShell, *argv: str, **extra: str) -> DevRun:
    """``cronofy-avail ARGV`` left running (``serve``, ``worker``), its output read as it comes;
    ``extra``: variables exported for this process only."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *argv,
        cwd=shell.cwd,
        env=shell.environ(**extra),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    run = DevRun(process)
    run.reader = asyncio.create_task(run._read())
    return run


@contextlib.asynccontextmanager
async def running_dev(shell: UserShell, *argv: str) -> AsyncIterator[DevRun]:
    """``dev`` started and ``Ready.``; stopped with Ctrl-C afterwards (its exit code 0)."""
    run = await start_dev(shell, *argv)
    try:
        await run.wait_for(r"^Ready\.$")
        yield run
    finally:
        code = await run.stop()
    assert code == 0, run.text
    assert "Traceback" not in run.text
