"""The wizard's background work: every button's coroutine runs as a task on the wizard's loop
(the kernel's), watched here, so that an error lands in its step's panel (never as a
traceback) and a re-connect or a shutdown can cancel what is left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Tasks:
    """The tasks the buttons started; ``failed(step, exc)`` and ``succeeded(step)`` say how
    each ended, ``loop()`` is the loop they all run on (``None``: not known yet)."""

    def __init__(
        self,
        loop: Callable[[], asyncio.AbstractEventLoop | None],
        failed: Callable[[str, BaseException], None],
        succeeded: Callable[[str], None],
    ) -> None:
        self.running: set[asyncio.Task[Any]] = set()
        self._loop = loop
        self._failed = failed
        self._succeeded = succeeded

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the wizard's event loop, now if already there.

        Widget handlers may run on another thread: JupyterLab 4.6 sends widget messages
        through ipykernel 7 subshells, each with its own thread and event loop. The servers,
        the aiohttp session and the widgets' comms all belong to the kernel's main loop, so
        every handler is handed over to it (thread-safe) instead of running where it landed.
        """
        loop = self._loop()
        if loop is None or loop.is_closed() or running_loop() is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def spawn(self, coro: Any, step: str) -> None:
        """Run ``coro`` on the wizard's loop; an error goes to ``failed(step, exc)``."""

        def start() -> None:
            task: asyncio.Task[Any] = asyncio.ensure_future(self._guard(coro, step))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
            # cancelled before it began (a Connect closing the old backend): never awaited
            task.add_done_callback(lambda t: coro.close() if t.cancelled() else None)

        self.call_soon(start)

    async def _guard(self, coro: Any, step: str) -> Any:
        try:
            result = await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(step, exc)
            return None
        self._succeeded(step)
        return result

    async def wait(self) -> None:
        """Wait for everything started, and what that started in turn."""
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)

    def cancel(self, spared: set[asyncio.Task[Any] | None]) -> None:
        """Cancel every task but the ``spared`` ones."""
        for task in list(self.running):
            if task not in spared:
                task.cancel()


__all__ = ["Tasks", "running_loop"]
