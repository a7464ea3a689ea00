"""Step 3's live feed: its lines (deliveries, syncs, warnings), how many are kept, and the
logging handler that turns a wizard's background warnings into lines of its own feed."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from cronofy_avail.runtime.store import Delivery, Store
from cronofy_avail.runtime.sync import SyncResult

if TYPE_CHECKING:
    from cronofy_avail.notebook.models import WizardModel

FEED_LIMIT = 200
"""Feed lines kept (step 3 shows the last :data:`FEED_SHOWN` of them)."""

FEED_SHOWN = 40


@dataclass
class FeedItem:
    """One line of step 3's live feed: a delivery or a sync."""

    kind: str
    text: str
    detail: list[str] = field(default_factory=list)


class FeedOwner(Protocol):
    """What :class:`_FeedLog` feeds: a wizard."""

    def _logged(self, record: logging.LogRecord) -> None: ...


def add_to_feed(feed: list[FeedItem], item: FeedItem) -> None:
    """A feed line; only the last :data:`FEED_LIMIT` are kept."""
    feed.append(item)
    del feed[:-FEED_LIMIT]


async def new_deliveries(store: Store, user_id: str, seen: int) -> tuple[list[FeedItem], int]:
    """The feed lines of ``user_id``'s deliveries after the one numbered ``seen``, oldest
    first, and the number of the last one."""
    items = []
    for d in reversed(await store.list_deliveries()):
        if (d.delivery_id or 0) <= seen or d.user_id != user_id:
            continue
        seen = max(seen, d.delivery_id or 0)
        items.append(FeedItem("delivery", _delivery_text(d)))
    return items, seen


def sync_item(result: SyncResult, tzid: str) -> FeedItem:
    """A sync as a feed line, with the plan it carried out (in ``tzid``) under it."""
    kind = "dry run" if result.dry_run else result.kind
    item = FeedItem(
        "sync",
        f"sync ({kind}): {result.events_read} event(s) read, {result.upserts} upsert(s), "
        f"{result.deletes} delete(s), {result.skips} skip(s)"
        + ("" if result.ok else f": FAILED ({result.state}: {result.error})"),
    )
    if result.plan is not None:
        item.detail = result.plan.explain(ZoneInfo(tzid)).splitlines()
    return item


_WIZARD: contextvars.ContextVar[FeedOwner | None] = contextvars.ContextVar(
    "cronofy_avail_wizard", default=None
)
"""The wizard whose work runs in this context (set for its connect, inherited by every task
and server it starts)."""

LOGGERS = ("cronofy_avail", "webhook_server")
"""The loggers whose warnings a wizard shows in its feed (the library's own: they have a
``NullHandler``, so nothing reaches Python's last-resort handler, i.e. ``sys.stderr``, which in
a kernel prints into the output of the cell that started the background work)."""


class _FeedLog(logging.Handler):
    """Warnings logged by a wizard's background work, as lines of that wizard's feed."""

    def __init__(self, wizard: FeedOwner) -> None:
        super().__init__(logging.WARNING)
        self.wizard = wizard

    def emit(self, record: logging.LogRecord) -> None:
        if _WIZARD.get() is not self.wizard:
            return  # another wizard's work, or a cell's own
        try:
            self.wizard._logged(record)
        except Exception:
            self.handleError(record)

    @classmethod
    def attach(cls, wizard: FeedOwner) -> Callable[[], None]:
        """Start feeding ``wizard``; returns the detacher."""
        handler = cls(wizard)
        loggers = [logging.getLogger(name) for name in LOGGERS]
        for logger in loggers:
            logger.addHandler(handler)

        def detach() -> None:
            for logger in loggers:
                logger.removeHandler(handler)

        return detach


class FeedsLines:
    """Step 3's feed on the wizard (a mixin of
    :class:`~cronofy_avail.notebook.controller.WizardController`): lines kept in the sync
    step's model, bounded, and the warnings of the wizard's background work as lines."""

    if TYPE_CHECKING:
        model: WizardModel
        _loop: asyncio.AbstractEventLoop | None

        def _secret_values(self) -> list[str]: ...
        def _changed(self) -> None: ...

    @property
    def feed(self) -> list[FeedItem]:
        """Step 3's feed: the last :data:`FEED_LIMIT` lines."""
        feed: list[FeedItem] = self.model.sync.feed
        return feed

    def add_to_feed(self, item: FeedItem) -> None:
        """A feed line; only the last :data:`FEED_LIMIT` are kept."""
        add_to_feed(self.model.sync.feed, item)
        self.model.sync.fed += 1

    def _logged(self, record: logging.LogRecord) -> None:
        """A warning of this wizard's background work (a retry, a refused delivery): a feed
        line, masked, drawn on the next turn of the loop (never inside the logging call, which
        may come from another thread)."""
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        for secret in self._secret_values():
            text = text.replace(secret, "…")
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._log_line, FeedItem("log", " ".join(text.split())))

    def _log_line(self, item: FeedItem) -> None:
        self.add_to_feed(item)
        self._changed()


def _delivery_text(d: Delivery) -> str:
    try:
        body = json.loads(d.body)
    except ValueError:
        body = {}
    since = body.get("notification", {}).get("changes_since") if isinstance(body, dict) else None
    signed = "signature ok" if d.verified else "signature NOT verified"
    extra = f", changes_since {since}" if since else ""
    return (
        f"{d.received_at:%H:%M:%S} {d.notification_type or 'notification'}{extra}, "
        f"{signed}, {d.outcome}"
    )


__all__ = [
    "FEED_LIMIT",
    "FEED_SHOWN",
    "LOGGERS",
    "FeedItem",
    "FeedsLines",
    "add_to_feed",
    "new_deliveries",
    "sync_item",
]
