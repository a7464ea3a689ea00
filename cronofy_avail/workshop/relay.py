"""Relay boxes on the workshop emulator, for receivers it cannot reach (conference Wi-Fi).

An attendee's webhook receiver runs in their own kernel, behind NAT or a client-isolating
access point. Instead of a callback URL pointing at the laptop, the channel's callback points
at the attendee's *relay box* on the emulator:
``{emulator}/_emulator/relay/{relay_id}/notifications/{key}``. The emulator delivers to it over
HTTP exactly as it delivers anywhere (signed, retried on failure); the box holds the raw body
and headers, and the attendee's kernel long-polls them and feeds each one to its local
receiver, which verifies it like any other delivery (:mod:`.pump`).

Each box belongs to one attendee:

* ``POST /_emulator/relay/{relay_id}/notifications/{key}``: 202 held. The box takes only
  notifications signed for its owner's application (401 otherwise), only that path (404), and
  only while it has room (503 with ``Retry-After`` when the box or the whole relay is full:
  the emulator retries as it retries any failing callback, so nothing is lost while the
  attendee's kernel catches up); 413 over 64 KiB. Each box has room of its own, never shared.
* ``GET /_emulator/relay/{relay_id}?after=N&wait=S`` with ``Authorization: Bearer
  <attendee token>``: acknowledges what the owner has seen up to N, answers the next
  ``deliveries`` (at most :attr:`RelayLimits.max_poll_bytes`), waiting up to S ≤ 30 s for one.
  Anyone else gets 404, as for a box that does not exist.

The instructor's views list boxes by their counters only, never by id.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cronofy_avail.core.signatures import SIGNATURE_HEADER
from cronofy_avail.emulator.http import bearer
from cronofy_avail.emulator.validation import ApiError, unprocessable

RELAY_PATH = "/_emulator/relay"
MAX_BODY = 64 * 1024
MAX_WAIT = 30.0
NOTIFICATION_TAIL = re.compile(r"/notifications/[A-Za-z0-9_\-]{1,128}")
"""The only path a box takes after its id: a receiver's callback (``webhook_server``)."""
_KEPT_HEADERS = ("Content-Type", SIGNATURE_HEADER, "User-Agent")

Verifier = Callable[[bytes, str | None], bool]
"""Whether a body and its ``Cronofy-HMAC-SHA256`` header were signed for the box's owner."""


@dataclass(frozen=True, slots=True)
class RelayLimits:
    """How much the relay may hold: the emulator's memory stays bounded whatever a room
    sends (a box whose kernel sleeps fills up; the emulator then retries, it does not drop)."""

    max_boxes: int = 200
    max_held: int = 1000
    """Deliveries held per box."""
    max_box_bytes: int = 512 * 1024
    """Each box's own room (a notification is about 300 bytes). Rooms are not shared: an
    attendee who fills theirs (they hold their application's secret, so they can sign
    anything for it) takes nothing from anyone else's, and the relay holds at most
    ``max_boxes * max_box_bytes`` (100 MiB)."""
    max_poll_bytes: int = 256 * 1024
    """Bytes of bodies in one poll's answer (at least one delivery is always answered)."""
    retry_after: int = 5
    """Seconds in ``Retry-After`` when a box is full."""


class RelayFull(Exception):
    """No box can be opened: the relay holds :attr:`RelayLimits.max_boxes`."""


@dataclass(frozen=True, slots=True)
class HeldDelivery:
    seq: int
    path: str
    """What followed the box in the URL: ``/notifications/{callback_key}``."""
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "path": self.path,
            "headers": self.headers,
            "body_base64": base64.b64encode(self.body).decode("ascii"),
        }


@dataclass(slots=True)
class RelayBox:
    relay_id: str
    label: str
    token_digest: bytes
    """SHA-256 of the owner's token (the token itself is not kept)."""
    verify: Verifier | None = None
    held: deque[HeldDelivery] = field(default_factory=deque)
    held_bytes: int = 0
    next_seq: int = 1
    received: int = 0
    acknowledged: int = 0
    refused: int = 0
    """Deliveries answered 503 because the box or the relay was full (the emulator retries)."""
    last_poll: float | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def owned_by(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token_digest(token or ""), self.token_digest)

    def summary(self, now: float) -> dict[str, Any]:
        # No relay id: the views that show this are the instructor's, projected to the room.
        return {
            "label": self.label,
            "held": len(self.held),
            "held_bytes": self.held_bytes,
            "received": self.received,
            "acknowledged": self.acknowledged,
            "refused": self.refused,
            "seconds_since_poll": None if self.last_poll is None else round(now - self.last_poll),
        }


def token_digest(token: str) -> bytes:
    """SHA-256 of a token as the client sent it (a header's undecodable bytes included)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class Relay:
    """Every relay box of one emulator (in memory, bounded by :class:`RelayLimits`)."""

    def __init__(
        self, limits: RelayLimits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or RelayLimits()
        self.boxes: dict[str, RelayBox] = {}
        self.held_bytes = 0
        self._clock = clock
        self._closed = False

    def open(
        self, owner_token: str, *, label: str = "", verify: Verifier | None = None
    ) -> RelayBox:
        """A box for the holder of ``owner_token``; ``verify`` checks each delivery's
        signature (the owner's application). :class:`RelayFull` past ``max_boxes``."""
        if len(self.boxes) >= self.limits.max_boxes:
            raise RelayFull(f"the relay holds {len(self.boxes)} boxes")
        box = RelayBox(
            relay_id=f"rly_{secrets.token_urlsafe(16)}",
            label=label,
            token_digest=token_digest(owner_token),
            verify=verify,
        )
        self.boxes[box.relay_id] = box
        return box

    def hold(self, relay_id: str, path: str, headers: dict[str, str], body: bytes) -> HeldDelivery:
        """Keep a delivery for the box's owner; :class:`ApiError` 404 (no such box or path),
        401 (not signed for the owner) or 503 (full)."""
        box = self._box(relay_id)
        if not NOTIFICATION_TAIL.fullmatch(path):
            raise ApiError(404, reason="a relay box takes notifications only")
        if box.verify is not None and not box.verify(body, headers.get(SIGNATURE_HEADER)):
            raise ApiError(401, reason="not signed for this box's application")
        size = len(body)
        limits = self.limits
        if len(box.held) >= limits.max_held or box.held_bytes + size > limits.max_box_bytes:
            box.refused += 1
            raise ApiError(
                503,
                {"error": "relay box full: its kernel has not collected what it holds"},
                headers={"Retry-After": str(limits.retry_after)},
                reason="relay box full",
            )
        delivery = HeldDelivery(box.next_seq, path, headers, body)
        box.next_seq += 1
        box.received += 1
        box.held.append(delivery)
        box.held_bytes += size
        self.held_bytes += size
        self._wake(box)
        return delivery

    def acknowledge(self, box: RelayBox, after: int) -> None:
        while box.held and box.held[0].seq <= after:
            done = box.held.popleft()
            box.held_bytes -= len(done.body)
            self.held_bytes -= len(done.body)
            box.acknowledged += 1

    async def fetch(
        self, relay_id: str, token: str | None, after: int, wait: float
    ) -> list[HeldDelivery]:
        """For the box's owner: acknowledge up to ``after``, then return what is held beyond
        it (bounded by ``max_poll_bytes``), waiting up to ``wait`` seconds for something."""
        box = self.boxes.get(relay_id)
        if box is None or not box.owned_by(token):
            raise ApiError(404, reason="no such relay box")
        box.last_poll = self._clock()
        self.acknowledge(box, after)
        if not box.held and wait > 0 and not self._closed:
            changed = box.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=wait)
            box.last_poll = self._clock()
        answer: list[HeldDelivery] = []
        size = 0
        for delivery in box.held:
            if delivery.seq <= after:
                continue
            if answer and size + len(delivery.body) > self.limits.max_poll_bytes:
                break
            answer.append(delivery)
            size += len(delivery.body)
        return answer

    def close(self) -> None:
        """Wake every waiting poll (the emulator is stopping)."""
        self._closed = True
        for box in self.boxes.values():
            box.changed.set()

    def summaries(self) -> dict[str, dict[str, Any]]:
        """Each box's counters, by relay id (for the instructor's views, which never show
        the id)."""
        now = self._clock()
        return {relay_id: box.summary(now) for relay_id, box in self.boxes.items()}

    def _box(self, relay_id: str) -> RelayBox:
        box = self.boxes.get(relay_id)
        if box is None:
            raise ApiError(404, reason="no such relay box")
        return box

    @staticmethod
    def _wake(box: RelayBox) -> None:
        box.changed.set()
        box.changed = asyncio.Event()


RELAY: web.AppKey[Relay] = web.AppKey("cronofy_workshop_relay", Relay)


async def receive(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.Response(status=413)
    body = await request.read()  # read in time by the emulator (body_in_time)
    if len(body) > MAX_BODY:
        return web.Response(status=413)
    headers = {k: request.headers[k] for k in _KEPT_HEADERS if k in request.headers}
    tail = "/" + request.match_info["tail"].lstrip("/")
    request.app[RELAY].hold(request.match_info["relay_id"], tail, headers, body)
    return web.Response(status=202)


def _poll_numbers(request: web.Request) -> tuple[int, float]:
    errors: dict[str, str] = {}
    values: dict[str, float] = {}
    for name in ("after", "wait"):
        raw = request.query.get(name)
        try:
            values[name] = float(raw) if raw is not None else 0.0
        except ValueError:
            errors[name] = "must be a number"
            continue
        if not math.isfinite(values[name]) or values[name] < 0:
            errors[name] = "must be a finite number, 0 or more"
    if errors:
        field_name, message = next(iter(errors.items()))
        raise unprocessable(field_name, "errors.invalid", message)
    return int(values["after"]), min(values["wait"], MAX_WAIT)


async def poll(request: web.Request) -> web.Response:
    after, wait = _poll_numbers(request)
    relay = request.app[RELAY]
    token = bearer(request)
    held = await relay.fetch(request.match_info["relay_id"], token, after, wait)
    return web.json_response({"deliveries": [d.json() for d in held]})


async def list_boxes(request: web.Request) -> web.Response:
    """The instructor's view: counters only."""
    relay = request.app[RELAY]
    return web.json_response(
        {"relays": list(relay.summaries().values()), "held_bytes": relay.held_bytes}
    )


def add_relay_routes(app: web.Application, relay: Relay) -> Relay:
    """Serve ``relay`` on the emulator's ``app`` (before it starts)."""
    app[RELAY] = relay
    app.router.add_get(RELAY_PATH, list_boxes)
    app.router.add_get(RELAY_PATH + "/{relay_id}", poll)
    app.router.add_post(RELAY_PATH + "/{relay_id}/{tail:.*}", receive)

    async def on_shutdown(_: web.Application) -> None:
        relay.close()

    app.on_shutdown.append(on_shutdown)
    return relay
