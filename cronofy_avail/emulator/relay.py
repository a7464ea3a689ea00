"""A relay for receivers the emulator cannot reach (a workshop on conference Wi-Fi).

An attendee's webhook receiver runs in their own kernel, behind NAT or a client-isolating
access point. Instead of a callback URL pointing at the laptop, the channel's callback points
at a *relay box* on the emulator: ``{emulator}/_emulator/relay/{relay_id}/notifications/{key}``.
The emulator delivers to it over HTTP exactly as it delivers anywhere (signed, retried on
failure); the relay holds the raw body and headers, and the attendee's kernel long-polls them
(``GET /_emulator/relay/{relay_id}?after=N&wait=S``) and feeds each one to its local receiver,
which verifies it like any other delivery (:mod:`webhook_server.relay`).

Held deliveries stay until the pump acknowledges them with ``after``: a kernel that was asleep
gets the backlog when it wakes (bounded: the oldest are dropped past ``max_held``).

* ``POST /_emulator/relay`` (``{"label"}``): 201 ``relay_id``, ``url``;
* ``POST /_emulator/relay/{relay_id}/{tail}``: 202 held; 404 unknown box; 413 over 64 KiB;
* ``GET /_emulator/relay/{relay_id}?after=N&wait=S``: acknowledges up to N, answers the
  ``deliveries`` with ``seq`` > N (waiting up to S ≤ 30 s for one) and ``dropped``;
* ``GET /_emulator/relay``: every box (label, held, received, seconds since the last poll).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cronofy_avail.core.signatures import SIGNATURE_HEADER
from cronofy_avail.emulator.validation import ApiError, unprocessable

RELAY_PATH = "/_emulator/relay"
MAX_BODY = 64 * 1024
MAX_WAIT = 30.0
_KEPT_HEADERS = ("Content-Type", SIGNATURE_HEADER, "User-Agent")


@dataclass(frozen=True, slots=True)
class HeldDelivery:
    seq: int
    path: str
    """What followed the box in the URL, e.g. ``/notifications/{callback_key}``."""
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
    held: deque[HeldDelivery] = field(default_factory=deque)
    next_seq: int = 1
    received: int = 0
    acknowledged: int = 0
    dropped: int = 0
    last_poll: float | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def summary(self, now: float) -> dict[str, Any]:
        # No relay id: whoever knows it can read the box (the page and listings are public).
        return {
            "label": self.label,
            "held": len(self.held),
            "received": self.received,
            "acknowledged": self.acknowledged,
            "dropped": self.dropped,
            "seconds_since_poll": None if self.last_poll is None else round(now - self.last_poll),
        }


class Relay:
    """Every relay box of one emulator (in memory)."""

    def __init__(self, *, max_held: int = 1000, clock: Any = time.monotonic) -> None:
        self.max_held = max_held
        self.boxes: dict[str, RelayBox] = {}
        self._clock = clock
        self._closed = False

    def open(self, label: str = "") -> RelayBox:
        box = RelayBox(relay_id=f"rly_{secrets.token_urlsafe(16)}", label=label)
        self.boxes[box.relay_id] = box
        return box

    def hold(self, relay_id: str, path: str, headers: dict[str, str], body: bytes) -> HeldDelivery:
        box = self._box(relay_id)
        delivery = HeldDelivery(box.next_seq, path, headers, body)
        box.next_seq += 1
        box.received += 1
        box.held.append(delivery)
        while len(box.held) > self.max_held:
            box.held.popleft()
            box.dropped += 1
        self._wake(box)
        return delivery

    def acknowledge(self, box: RelayBox, after: int) -> None:
        while box.held and box.held[0].seq <= after:
            box.held.popleft()
            box.acknowledged += 1

    async def fetch(self, relay_id: str, after: int, wait: float) -> list[HeldDelivery]:
        """Acknowledge up to ``after``, then return what is held beyond it, waiting up to
        ``wait`` seconds for something to arrive."""
        box = self._box(relay_id)
        box.last_poll = self._clock()
        self.acknowledge(box, after)
        if not box.held and wait > 0 and not self._closed:
            changed = box.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=wait)
            box.last_poll = self._clock()
        return [d for d in box.held if d.seq > after]

    def close(self) -> None:
        """Wake every waiting poll (the emulator is stopping)."""
        self._closed = True
        for box in self.boxes.values():
            box.changed.set()

    def summaries(self) -> dict[str, dict[str, Any]]:
        """Each box's counters, by relay id (for the emulator's own pages, which never show
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


RELAY: web.AppKey[Relay] = web.AppKey("cronofy_emulator_relay", Relay)


def relay_of(app: web.Application) -> Relay:
    return app[RELAY]


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


async def open_box(request: web.Request) -> web.Response:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise unprocessable("body", "errors.invalid", "the body is not valid JSON") from None
    label = str(body.get("label", "")) if isinstance(body, dict) else ""
    box = request.app[RELAY].open(label[:80])
    url = f"{_origin(request)}{RELAY_PATH}/{box.relay_id}"
    return web.json_response({"relay_id": box.relay_id, "url": url}, status=201)


async def receive(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.Response(status=413)
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return web.Response(status=413)
    headers = {k: request.headers[k] for k in _KEPT_HEADERS if k in request.headers}
    tail = "/" + request.match_info["tail"].lstrip("/")
    request.app[RELAY].hold(request.match_info["relay_id"], tail, headers, body)
    return web.Response(status=202)


async def poll(request: web.Request) -> web.Response:
    errors: dict[str, str] = {}
    values: dict[str, float] = {}
    for name, default in (("after", 0.0), ("wait", 0.0)):
        raw = request.query.get(name)
        try:
            values[name] = float(raw) if raw is not None else default
        except ValueError:
            errors[name] = "must be a number"
            continue
        if not math.isfinite(values[name]) or values[name] < 0:
            errors[name] = "must be a finite number, 0 or more"
    if errors:
        field_name, message = next(iter(errors.items()))
        raise unprocessable(field_name, "errors.invalid", message)
    relay = request.app[RELAY]
    wait = min(max(values["wait"], 0.0), MAX_WAIT)
    held = await relay.fetch(request.match_info["relay_id"], int(values["after"]), wait)
    box = relay.boxes[request.match_info["relay_id"]]
    return web.json_response({"deliveries": [d.json() for d in held], "dropped": box.dropped})


async def list_boxes(request: web.Request) -> web.Response:
    return web.json_response({"relays": list(request.app[RELAY].summaries().values())})


def add_relay_routes(app: web.Application, relay: Relay | None = None) -> Relay:
    """Serve the relay on ``app`` (before it starts); returns it."""
    relay = relay or Relay()
    app[RELAY] = relay
    app.router.add_post(RELAY_PATH, open_box)
    app.router.add_get(RELAY_PATH, list_boxes)
    app.router.add_get(RELAY_PATH + "/{relay_id}", poll)
    app.router.add_post(RELAY_PATH + "/{relay_id}/{tail:.*}", receive)

    async def on_shutdown(_: web.Application) -> None:
        relay.close()

    app.on_shutdown.append(on_shutdown)
    return relay
