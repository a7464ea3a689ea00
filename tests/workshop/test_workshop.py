"""The workshop: the relay, the pump on the receiving side, attendees joining one emulator
over real HTTP, the instructor's page and faults, and thirty attendees at once. (What an
outsider or another attendee cannot do: test_boundaries.py.)"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.runtime.store import MemoryStore, UserRecord
from cronofy_avail.workshop import RelayPump, WorkshopAttendee, WorkshopError, WorkshopServer
from cronofy_avail.workshop.classroom import JOIN_PATH
from cronofy_avail.workshop.page import WORKSHOP_PATH
from cronofy_avail.workshop.relay import HeldDelivery
from tests.support.wait import until
from tests.support.workshop import start_workshop
from webhook_server import WebhookConfig, WebhookServer

FAST = EmulatorConfig(debounce=0.05, retry_initial_delay=0.05, rate_limit_enabled=False)


@pytest.fixture
async def workshop() -> AsyncIterator[WorkshopServer]:
    async with WorkshopServer(config=FAST) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass(frozen=True)
class Box:
    """A joined attendee's relay box: its URL, the token that polls it, the secret that signs
    notifications for it."""

    url: str
    token: str
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def signed(self, body: bytes) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(body, [self.secret]), "Content-Type": "application/json"}


async def _open_box(http: aiohttp.ClientSession, workshop: WorkshopServer, name: str = "t") -> Box:
    body = {"name": name, "code": workshop.join_code}
    async with http.post(workshop.base_url + JOIN_PATH, json=body) as r:
        assert r.status == 201
        data = await r.json()
    return Box(data["relay_url"], data["attendee_token"], data["client_secret"])


# --------------------------------------------------------------------------- the relay


async def test_relay_holds_raw_bytes_until_acknowledged(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    box = await _open_box(http, workshop)
    body = b'{"notification":{"type":"verification"}, "odd spacing": true}'
    headers = {**box.signed(body), "X-Other": "no"}
    async with http.post(box.url + "/notifications/KEY", data=body, headers=headers) as r:
        assert r.status == 202
    async with http.get(box.url, params={"after": "0"}, headers=box.auth) as r:
        held = (await r.json())["deliveries"]
    assert len(held) == 1
    assert held[0]["path"] == "/notifications/KEY"
    assert base64.b64decode(held[0]["body_base64"]) == body
    assert held[0]["headers"][SIGNATURE_HEADER] == headers[SIGNATURE_HEADER]
    assert "X-Other" not in held[0]["headers"]
    # Unacknowledged: still there; acknowledged with after=seq: gone.
    async with http.get(box.url, params={"after": "0"}, headers=box.auth) as r:
        assert len((await r.json())["deliveries"]) == 1
    async with http.get(box.url, params={"after": str(held[0]["seq"])}, headers=box.auth) as r:
        assert (await r.json())["deliveries"] == []
    assert workshop.relay.held_bytes == 0


async def test_relay_long_poll_wakes_on_a_delivery(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    box = await _open_box(http, workshop)

    async def poll() -> Any:
        params = {"after": "0", "wait": "30"}
        async with http.get(box.url, params=params, headers=box.auth) as r:
            return await r.json()

    waiting = asyncio.create_task(poll())
    relay = workshop.relay
    box_id = box.url.rsplit("/", 1)[1]
    await until(lambda: relay.boxes[box_id].last_poll is not None, within=10, what="the poll")
    async with http.post(box.url + "/notifications/K", data=b"{}", headers=box.signed(b"{}")) as r:
        assert r.status == 202
    async with asyncio.timeout(10):
        answer = await waiting
    assert len(answer["deliveries"]) == 1


async def test_relay_refuses_unknown_boxes_large_bodies_and_bad_numbers(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    base = workshop.base_url
    async with http.post(f"{base}/_emulator/relay/rly_nope/notifications/K", data=b"{}") as r:
        assert r.status == 404
    box = await _open_box(http, workshop)
    async with http.post(box.url + "/notifications/K", data=b"x" * (64 * 1024 + 1)) as r:
        assert r.status == 413
    async with http.get(box.url, params={"after": "soon"}, headers=box.auth) as r:
        assert r.status == 422
        assert "after" in (await r.json())["errors"]
    # Numbers that are not finite (or negative) are refused too, never a 500.
    for name, value in [("after", "inf"), ("after", "nan"), ("after", "1e400"), ("wait", "nan")]:
        async with http.get(box.url, params={name: value}, headers=box.auth) as r:
            assert r.status == 422, (name, value)
            assert name in (await r.json())["errors"]
    async with http.get(box.url, params={"after": "-1"}, headers=box.auth) as r:
        assert r.status == 422


async def test_a_join_takes_a_printable_name_and_a_real_time_zone(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    """Only text a page can render is a name: a lone surrogate used to be accepted and then
    broke every refresh of the instructor page (500) until a restart."""
    join = f"{workshop.base_url}{JOIN_PATH}"
    code = workshop.join_code
    for body in (
        {"name": "\ud800"},
        {"name": 5},
        {"name": {"a": 1}},
        {"name": "  "},
        {"name": "bell\u0007"},
        {"name": "Ada", "tzid": ""},
        {"name": "Ada", "tzid": "Mars/Base"},
        {"name": "Ada", "tzid": 3},
    ):
        data = json.dumps(
            {**body, "code": code}
        )  # ensure_ascii: a lone surrogate travels as \ud800
        async with http.post(join, data=data, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 422, body
    body = {"name": "Ada Lovelace", "tzid": "Europe/Paris", "code": code}
    async with http.post(join, json=body) as r:
        assert r.status == 201
    async with http.get(f"{workshop.base_url}/_emulator/workshop") as r:
        assert r.status == 200
        assert "Ada Lovelace" in await r.text()


# --------------------------------------------------------------------------- the pump


async def _receiver(secret: str) -> tuple[WebhookServer, MemoryStore, UserRecord]:
    from cronofy_avail.runtime.coordinator import SyncCoordinator
    from cronofy_avail.runtime.sync import SyncEngine

    store = MemoryStore()
    user = UserRecord(user_id="u1")
    await store.save_user(user)

    def no_client(_: UserRecord) -> Any:
        raise AssertionError("no sync expected")

    coordinator = SyncCoordinator(store, SyncEngine(store), no_client, schedule_every=None)
    server = WebhookServer(
        WebhookConfig(store=store, coordinator=coordinator, client_secrets=[secret])
    )
    await server.start()
    return server, store, user


async def test_pump_feeds_held_deliveries_through_the_receivers_verification(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    box = await _open_box(http, workshop)
    server, store, user = await _receiver(box.secret)
    try:
        body = b'{"notification":{"type":"verification"}}'
        async with http.post(
            f"{box.url}/notifications/{user.callback_key}", data=body, headers=box.signed(body)
        ) as r:
            assert r.status == 202
        # The box takes nothing else: not another application's signature, not another path.
        bad = {SIGNATURE_HEADER: sign(body, ["not-the-secret"])}
        async with http.post(
            f"{box.url}/notifications/{user.callback_key}", data=body, headers=bad
        ) as r:
            assert r.status == 401
        async with http.post(
            f"{box.url}/deliveries/1/replay", data=body, headers=box.signed(body)
        ) as r:
            assert r.status == 404
        # Had something else got in, the pump acknowledges it but never sends it on to the
        # receiver's other routes (its admin views).
        held = workshop.relay.boxes[box.url.rsplit("/", 1)[1]]
        held.held.append(HeldDelivery(held.next_seq, "/deliveries/1/replay", {}, b""))
        held.next_seq += 1
        assert server.url is not None
        pump = RelayPump(box.url, server.url, token=box.token, session=http)
        assert await pump.pump_once() == 2
        assert pump.stats.statuses == {202: 1}
        assert pump.stats.skipped == 1
        deliveries = await store.list_deliveries()
        assert [(d.notification_type, d.outcome) for d in deliveries] == [
            ("verification", "verified")
        ]
        # All acknowledged: nothing comes back.
        assert await pump.pump_once() == 0
    finally:
        await server.stop()


async def test_pump_keeps_deliveries_held_while_the_receiver_is_down(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    box = await _open_box(http, workshop)
    server, store, user = await _receiver(box.secret)
    assert server.url is not None
    url, port = server.url, server.port
    await server.stop()  # the laptop is asleep
    body = b'{"notification":{"type":"verification"}}'
    async with http.post(
        f"{box.url}/notifications/{user.callback_key}", data=body, headers=box.signed(body)
    ) as r:
        assert r.status == 202
    pump = RelayPump(box.url, url, token=box.token, session=http)
    assert await pump.pump_once() == 0
    assert pump.stats.last_error is not None
    assert "unreachable" in pump.stats.last_error
    assert pump.after == 0

    from cronofy_avail.runtime.coordinator import SyncCoordinator
    from cronofy_avail.runtime.sync import SyncEngine

    back = WebhookServer(
        WebhookConfig(
            store=store,
            coordinator=SyncCoordinator(store, SyncEngine(store), lambda u: None),  # type: ignore[arg-type,return-value]
            client_secrets=[box.secret],
        ),
        port=port,
    )
    await back.start()
    try:
        assert await pump.pump_once() == 1
        assert [d.outcome for d in await store.list_deliveries()] == ["verified"]
    finally:
        await back.stop()


# --------------------------------------------------------------------------- attendees


_TOMORROW = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
"""Midnight UTC after the day this module was imported: one day for every call of
``_tomorrow``, so a test that runs across midnight names the same day at its end."""


def _tomorrow(hour: int) -> datetime:
    return _TOMORROW.replace(hour=hour)


async def _notebook_01_flow(url: str, name: str, *, relay: bool = True) -> dict[str, Any]:
    """What an attendee does in notebook 01: join (``url`` with the code), steps 1 and 2,
    play the user, step 4."""
    attendee = await WorkshopAttendee.join(url, name, relay=relay)
    async with attendee:
        await attendee.onboard()
        morning = await attendee.add_availability(_tomorrow(9), _tomorrow(12))
        later = await attendee.add_availability(_tomorrow(14), _tomorrow(15))
        gone = await attendee.add_availability(_tomorrow(16), _tomorrow(17))
        await attendee.move(later, _tomorrow(15), _tomorrow(16))
        await attendee.delete(gone)
        await attendee.wait_in_sync({morning, later})
        known = await attendee.known_periods()
        managed = await attendee.query(_tomorrow(0), _tomorrow(0) + timedelta(days=1))
        unmanaged = await attendee.query(
            _tomorrow(0), _tomorrow(0) + timedelta(days=1), managed=False
        )
        return {
            "name": name,
            "periods": sorted((k.start.hour, k.end.hour) for k in known.values()),
            "managed": len(managed.results),
            "unmanaged": len(unmanaged.results),
            "pump": attendee.pump.stats.forwarded if attendee.pump else None,
        }


async def _status(http: aiohttp.ClientSession, base: str) -> Any:
    async with http.get(f"{base}{WORKSHOP_PATH}/status") as r:
        assert r.status == 200
        return await r.json()


@pytest.mark.parametrize("relay", [True, False], ids=["relay", "direct"])
async def test_an_attendee_runs_the_four_steps_and_the_instructor_sees_it(
    workshop: WorkshopServer, http: aiohttp.ClientSession, relay: bool
) -> None:
    result = await _notebook_01_flow(workshop.attendee_url, "Ada Lovelace", relay=relay)
    local_hours = {(9, 12), (15, 16)}
    assert len(result["periods"]) == 2
    assert {(s, e) for s, e in result["periods"]} == local_hours
    assert 0 < result["managed"] < result["unmanaged"]
    if relay:
        assert result["pump"] >= 2  # verification + at least one change, all via the relay

    status = await _status(http, workshop.base_url)
    (ada,) = status["attendees"]
    assert ada["name"] == "Ada Lovelace"
    assert ada["step"] == 4
    assert ada["in_sync"] is True
    assert ada["periods_in_sync"] == ada["periods_expected"] == 2
    assert ada["deliveries_ok"] >= 2
    assert ada["deliveries_failed"] == 0
    assert ada["syncs"] >= 2
    assert (ada["relay"]["received"] > 0) is relay
    # A relay id is not listed, even to the instructor (the page is projected).
    relay_ids = list(workshop.relay.boxes)
    async with http.get(workshop.base_url + "/_emulator/relay") as r:
        listing = await r.text()
    for relay_id in relay_ids:
        assert relay_id not in json.dumps(status)
        assert relay_id not in listing

    # The page shows the attendee and never a credential.
    async with http.get(workshop.base_url + WORKSHOP_PATH) as r:
        page = await r.text()
    assert "Ada Lovelace" in page
    assert "4 availability" in page
    state = workshop.emulator.state
    account = state.accounts[ada["account_id"]]
    secrets = [workshop.emulator.client_secret, *(t.token for t in state.access_tokens.values())]
    secrets += [t.token for t in state.refresh_tokens.values()]
    secrets += state.applications[account.client_id].client_secrets
    for secret in secrets + relay_ids:
        assert secret not in page
        assert secret not in json.dumps(status)
    assert account.name == "Ada Lovelace"

    # The page tells attendees the URL (with the join code) the workshop chose, not the one
    # it was opened at.
    assert workshop.attendee_url == f"{workshop.base_url}/?code={workshop.join_code}"
    assert f"<code>{workshop.attendee_url}</code>" in page
    assert f"<code>{workshop.join_code}</code>" in page


async def test_attendees_are_isolated(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    a = await WorkshopAttendee.join(workshop.attendee_url, "A")
    b = await WorkshopAttendee.join(workshop.attendee_url, "B")
    async with a, b:
        assert a.account.account_id != b.account.account_id
        await a.onboard()
        await b.onboard()
        uid = await a.add_availability(_tomorrow(9), _tomorrow(10))
        await a.wait_in_sync({uid})
        await b.wait_in_sync(set())
        assert await b.client.list_available_periods() == []


async def test_join_explains_a_wrong_url(http: aiohttp.ClientSession) -> None:
    with pytest.raises(WorkshopError, match="cannot reach the workshop"):
        await WorkshopAttendee.join("http://127.0.0.1:9", "Ada")


async def test_a_fault_for_everyone_from_the_instructor(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    base = workshop.base_url
    async with http.post(f"{base}{WORKSHOP_PATH}/fault", json={"kind": "429_burst"}) as r:
        assert r.status == 200
        (rule,) = (await r.json())["faults"]
    assert rule["rate_limit_count"] >= 3
    assert rule["retry_after"] == 1.0
    # The page's button is a form post that comes back to the page.
    async with http.post(
        f"{base}{WORKSHOP_PATH}/fault", data={"kind": "clear"}, allow_redirects=False
    ) as r:
        assert r.status == 303
    assert workshop.emulator.faults.rules == []
    async with http.post(f"{base}{WORKSHOP_PATH}/fault", json={"kind": "meteor"}) as r:
        assert r.status == 422

    # A 429 burst is survived: the client honours Retry-After and the attendee converges.
    async with http.post(f"{base}{WORKSHOP_PATH}/fault", json={"kind": "429_burst"}) as r:
        assert r.status == 200
    result = await _notebook_01_flow(workshop.attendee_url, "Grace")
    assert len(result["periods"]) == 2
    assert workshop.emulator.faults.rules[0].hits > 0


@pytest.mark.slow
async def test_thirty_attendees_at_once_all_finish(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    names = [f"attendee {i:02d}" for i in range(30)]
    async with asyncio.timeout(240):
        results = await asyncio.gather(
            *(_notebook_01_flow(workshop.attendee_url, n) for n in names)
        )
    assert [r["name"] for r in results] == names
    assert all(len(r["periods"]) == 2 for r in results)
    assert all(0 < r["managed"] < r["unmanaged"] for r in results)
    status = await _status(http, workshop.base_url)
    assert status["count"] == 30
    assert status["at_step"] == {"4": 30}
    assert status["in_sync"] == 30


# --------------------------------------------------------------------------- the command


def test_the_workshop_command_prints_the_url_attendees_paste(tmp_path: Path) -> None:
    process = start_workshop(tmp_path)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        banner = "".join(process.stdout.readline() for _ in range(5))
        base = f"http://127.0.0.1:{info['port']}"
        assert info["attendee_url"] == f"{base}/?code={info['join_code']}"
        assert info["instructor_url"] == base + WORKSHOP_PATH
        assert f"Attendees paste:   {info['attendee_url']}" in banner
        assert f"Join code:         {info['join_code']}" in banner

        async def join() -> str:
            attendee = await WorkshopAttendee.join(info["attendee_url"], "Ada")
            async with attendee:
                await attendee.onboard()
                return attendee.calendar_id

        assert asyncio.run(join())
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


async def test_the_page_shows_an_attendee_out_of_sync_until_their_kernel_wakes(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    attendee = await WorkshopAttendee.join(workshop.attendee_url, "Sleepy")
    async with attendee:
        await attendee.onboard()
        assert attendee.pump is not None
        await attendee.pump.stop()  # the laptop sleeps: nobody polls the relay
        uid = await attendee.add_availability(_tomorrow(9), _tomorrow(10))
        await workshop.emulator.wait_notifications()  # delivered to the relay, which answered 202

        status = await _status(http, workshop.base_url)
        assert status["in_sync"] == 0
        (me,) = status["attendees"]
        assert me["in_sync"] is False
        assert (me["periods_in_sync"], me["periods_expected"]) == (0, 1)
        assert me["relay"]["held"] >= 1
        assert me["deliveries_failed"] == 0  # the relay took it: Cronofy's side is fine
        async with http.get(workshop.base_url + WORKSHOP_PATH) as r:
            assert "0/1 (not in sync)" in await r.text()

        await attendee.pump.start()  # wakes up: the backlog is fed to the receiver
        await attendee.wait_in_sync({uid})
        (me,) = (await _status(http, workshop.base_url))["attendees"]
        assert me["in_sync"] is True
        assert me["relay"]["held"] == 0


def test_the_attendee_url_and_fault_sizes() -> None:
    from cronofy_avail.workshop.classroom import fault_rules
    from cronofy_avail.workshop.server import public_base_url

    assert public_base_url("127.0.0.1", 8181, None) == "http://127.0.0.1:8181"
    room = "http://room.example:80"
    assert public_base_url("0.0.0.0", 8181, room + "/") == room  # noqa: S104
    assert public_base_url("0.0.0.0", 8181, None).startswith("http://")  # noqa: S104
    (burst,) = fault_rules("429_burst", 30)
    assert burst.rate_limit_count == 90
    assert burst.retry_after == 1.0
    assert fault_rules("clear", 30) == []


async def test_an_attendee_who_only_joined_is_neither_in_sync_nor_out(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    attendee = await WorkshopAttendee.join(workshop.attendee_url, "Late")
    async with attendee:
        status = await _status(http, workshop.base_url)
    (late,) = status["attendees"]
    assert late["step"] == 0
    assert late["in_sync"] is None
    assert status["in_sync"] == 0


async def test_the_page_says_which_fault_is_in_force_and_drops_a_used_up_burst(
    workshop: WorkshopServer, http: aiohttp.ClientSession
) -> None:
    """For a projector: which fault, for how long, how much of a burst is left; a burst that
    changed all it was sized for leaves the page (it used to stay listed as "/v1 hits=9")."""
    now = [500.0]
    workshop.classroom.clock = lambda: now[0]
    attendee = await WorkshopAttendee.join(workshop.attendee_url, "Ada")
    async with attendee:
        base = workshop.base_url
        async with http.post(f"{base}{WORKSHOP_PATH}/fault", json={"kind": "429_burst"}) as r:
            assert r.status == 200
        async with http.post(f"{base}{WORKSHOP_PATH}/fault", json={"kind": "slow"}) as r:
            assert r.status == 200
        now[0] += 125
        async with http.get(f"{base}{WORKSHOP_PATH}", params={"part": "main"}) as r:
            live = await r.text()
        assert "429 burst: 3 of 3 left, for 2 min 5 s" in live
        assert "slow: +800 ms on every call, for 2 min 5 s" in live
        assert "<html" not in live  # only the live part
        bearer = {"Authorization": f"Bearer {attendee.account.access_token}"}
        statuses = []
        for _ in range(3):
            async with http.get(f"{base}/v1/calendars", headers=bearer) as r:
                statuses.append(r.status)
        assert statuses == [429, 429, 429]
        status = await _status(http, base)
        assert [f["kind"] for f in status["active"]] == ["slow"]
        assert [r["latency_ms"] for r in status["faults"]] == [800.0]  # the burst is gone
        async with http.get(f"{base}{WORKSHOP_PATH}") as r:
            page = await r.text()
        assert "429 burst" in page  # its button
        assert "429 burst:" not in page
        assert 'name="viewport"' in page
