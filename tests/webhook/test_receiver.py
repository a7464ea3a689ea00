"""The webhook receiver's handling of bad input, admin guard and plugin lifecycle.

No Cronofy is needed here: none of these paths may reach it. Each test asserts that nothing
was recorded and no sync was requested, not only the status code.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.store import (
    Delivery,
    MemoryStore,
    StoredCredentials,
    UserRecord,
    UserState,
)
from tests.support.webhook import (
    ACCESS,
    OLD_SECRET,
    REFRESH,
    SECRET,
    Harness,
    assert_untouched,
    body,
    build,
)
from webhook_server import async_setup, manifest


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    store = MemoryStore()
    user = UserRecord(
        user_id="u1",
        credentials=StoredCredentials(ACCESS, REFRESH),
        calendar_id="cal_sub",
        channel_id="chn_1",
        state=UserState.IDLE,
    )
    await store.save_user(user)
    app = web.Application()

    async def host_route(request: web.Request) -> web.Response:
        return web.Response(text="host")

    app.router.add_get("/host", host_route)
    config = build(store)
    handle = await async_setup(app, config)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield Harness(client, store, config.coordinator, handle, user)
    await client.close()
    await handle.async_unload()


async def post(h: Harness, data: bytes, headers: dict[str, str], key: str | None = None) -> int:
    resp = await h.client.post(h.url(key), data=data, headers=headers)
    text = await resp.text()
    assert "Traceback" not in text
    return resp.status


async def test_bad_signature_is_401_and_touches_nothing(h: Harness) -> None:
    data = body()
    assert await post(h, data, {SIGNATURE_HEADER: sign(data, "wrong-secret")}) == 401
    assert await post(h, data, {}) == 401
    assert await post(h, data, {SIGNATURE_HEADER: "not base64 !!"}) == 401
    assert await post(h, data + b" ", {SIGNATURE_HEADER: sign(data, SECRET)}) == 401
    await assert_untouched(h)
    assert h.handle.rejected == {
        "signature_mismatch": 2,
        "missing_signature": 1,
        "malformed_signature": 1,
    }


async def test_unknown_key_is_404_whether_or_not_signed(h: Harness) -> None:
    data = body()
    signed = {SIGNATURE_HEADER: sign(data, SECRET)}
    r1 = await h.client.post(h.url("nope"), data=data, headers=signed)
    r2 = await h.client.post(h.url("nope"), data=data, headers={})
    assert (r1.status, r2.status) == (404, 404)
    assert await r1.text() == await r2.text()  # no hint which check failed
    await assert_untouched(h)


async def test_oversized_body_is_413_before_any_hashing(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webhook_server.plugin as plugin

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("verify() must not run on an oversized body")

    monkeypatch.setattr(plugin, "verify", no_hashing)
    data = b'{"notification": {"type": "change"}, "pad": "' + b"x" * 2000 + b'"}'
    assert await post(h, data, {SIGNATURE_HEADER: sign(data, SECRET)}) == 413

    # Without a Content-Length (chunked), the cap still holds while reading.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 400

    resp = await h.client.post(h.url(), data=chunks(), headers={SIGNATURE_HEADER: "x"})
    assert resp.status == 413
    await assert_untouched(h)


async def test_malformed_json_is_400_and_touches_nothing(h: Harness) -> None:
    for data in (b"{not json", b"[1, 2]", b'{"channel": {}}', b'{"notification": {}}'):
        assert await post(h, data, {SIGNATURE_HEADER: sign(data, SECRET)}) == 400
    await assert_untouched(h)
    assert h.handle.rejected["malformed"] == 4


async def test_verification_is_acknowledged_and_logged_without_a_sync(h: Harness) -> None:
    data = body("verification")
    assert await post(h, data, {SIGNATURE_HEADER: sign(data, SECRET)}) == 202
    log = await h.store.list_deliveries()
    assert [(d.notification_type, d.outcome, d.verified) for d in log] == [
        ("verification", "verified", True)
    ]
    assert sum(h.coordinator.stats.requests.values()) == 0


async def test_unknown_type_is_accepted_and_ignored(h: Harness) -> None:
    data = body("something_cronofy_adds_in_2027", extra_field=1)
    assert await post(h, data, {SIGNATURE_HEADER: sign(data, OLD_SECRET)}) == 202
    log = await h.store.list_deliveries()
    assert [d.outcome for d in log] == ["ignored"]
    assert sum(h.coordinator.stats.requests.values()) == 0


async def test_profile_disconnected_marks_the_user(h: Harness) -> None:
    data = body("profile_disconnected")
    assert await post(h, data, {SIGNATURE_HEADER: sign(data, SECRET)}) == 202
    user = await h.store.get_user("u1")
    assert user is not None
    assert user.state == UserState.DISCONNECTED
    assert sum(h.coordinator.stats.requests.values()) == 0


async def test_rotation_header_with_both_secrets_is_accepted(h: Harness) -> None:
    data = body("verification")
    header = sign(data, [OLD_SECRET, SECRET])
    assert "," in header
    assert await post(h, data, {SIGNATURE_HEADER: header}) == 202


async def test_delivery_log_shortens_signature_and_hides_callback_key(h: Harness) -> None:
    data = json.dumps(
        {
            "notification": {"type": "verification"},
            "channel": {"channel_id": "chn_1", "callback_url": "https://x" + h.url()},
        }
    ).encode()
    header = sign(data, SECRET)
    assert await post(h, data, {SIGNATURE_HEADER: header}) == 202
    (delivery,) = await h.store.list_deliveries()
    logged = json.dumps(delivery.headers) + delivery.body
    assert header not in logged
    assert header[:8] in logged
    assert h.user.callback_key not in logged


async def test_admin_views_answer_loopback_only_and_redact(h: Harness) -> None:
    resp = await h.client.get("/cronofy/status")
    assert resp.status == 200
    text = await resp.text()
    for secret in (ACCESS, REFRESH, SECRET, OLD_SECRET, h.user.callback_key):
        assert secret not in text
    status = json.loads(text)
    assert status["users"][0]["user_id"] == "u1"
    forwarded = await h.client.get("/cronofy/status", headers={"X-Forwarded-For": "8.8.8.8"})
    assert forwarded.status == 403
    diag = await h.handle.async_get_diagnostics()
    dumped = json.dumps(diag)
    for secret in (ACCESS, REFRESH, SECRET, OLD_SECRET, h.user.callback_key):
        assert secret not in dumped
    assert diag["config"]["client_secrets"] == "**REDACTED**"
    health = await h.client.get("/cronofy/health", headers={"X-Forwarded-For": "8.8.8.8"})
    assert health.status == 200


async def test_admin_token_is_required_when_configured() -> None:
    store = MemoryStore()
    app = web.Application()
    handle = await async_setup(app, build(store, admin_token="adm-SECRET"))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/cronofy/status")).status == 403
        ok = await client.get("/cronofy/status", headers={"Authorization": "Bearer adm-SECRET"})
        assert ok.status == 200
        diag = await client.get(
            "/cronofy/diagnostics", headers={"Authorization": "Bearer adm-SECRET"}
        )
        assert "adm-SECRET" not in await diag.text()
    await handle.async_unload()


async def test_replay_of_unknown_delivery_is_404(h: Harness) -> None:
    resp = await h.client.post("/cronofy/deliveries/999/replay")
    assert resp.status == 404


async def test_handler_error_is_500_without_traceback_or_secret(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(h.store, "add_delivery", boom)
    monkeypatch.setattr(h.store, "accept_delivery", boom)
    data = body()
    with caplog.at_level(logging.DEBUG):
        resp = await h.client.post(
            h.url(), data=data, headers={SIGNATURE_HEADER: sign(data, SECRET)}
        )
    assert resp.status == 500
    text = await resp.text()
    assert "disk on fire" not in text
    assert "Traceback" not in text
    assert caplog.records
    for record in caplog.records:
        message = record.getMessage()
        for secret in (ACCESS, REFRESH, SECRET, OLD_SECRET):
            assert secret not in message
        # The key is in the URL, so a host's access log shows it; our own records never do.
        if record.name.startswith(("webhook_server", "cronofy_avail")):
            assert h.user.callback_key not in message


async def test_unload_leaves_the_host_app_clean(h: Harness) -> None:
    await h.handle.async_unload()
    assert not h.handle.loaded
    resp = await h.client.post(h.url(), data=body(), headers={})
    assert resp.status == 404
    assert (await h.client.get("/cronofy/health")).status == 404
    assert (await h.client.get("/host")).status == 200
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in tasks if "cronofy" in repr(t.get_coro()).lower()]


async def test_setup_twice_on_one_prefix_is_refused_and_unload_then_setup_works() -> None:
    store = MemoryStore()
    app = web.Application()
    handle = await async_setup(app, build(store))
    with pytest.raises(ValueError, match="already set up"):
        await async_setup(app, build(store))
    await handle.async_unload()
    assert not [k for k in app if "webhooks" in repr(k)]
    handle2 = await async_setup(app, build(store))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/cronofy/health")).status == 200
    await handle2.async_unload()


async def test_setup_after_the_host_started_is_a_clear_error() -> None:
    app = web.Application()
    async with TestClient(TestServer(app)):
        with pytest.raises(RuntimeError, match="before the host application starts"):
            await async_setup(app, build(MemoryStore()))


def test_manifest_names_domain_version_and_requirements() -> None:
    data = manifest()
    assert data["domain"] == "cronofy_avail"
    assert data["version"] == "0.1.0"
    assert any(r.startswith("cronofy-avail") for r in data["requirements"])


async def test_standalone_server_binds_port_zero_and_reports_it() -> None:
    from webhook_server import WebhookServer

    async with WebhookServer(build(MemoryStore()), port=0) as server:
        assert server.url is not None
        assert server.port > 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{server.url}/health") as resp,
        ):
            assert resp.status == 200


async def test_delivery_listeners_hear_each_logged_delivery_once_after_it_is_stored(
    h: Harness,
) -> None:
    """A listener (the CLI's announcer, a metric) hears every delivery the receiver logs,
    once, with its user and id, once it is in the store; a refused request is not logged and
    not heard; a listener that fails never fails the delivery."""
    heard: list[tuple[int, str | None, str | None, bool]] = []

    async def listen(delivery: Delivery, delivery_id: int) -> None:
        stored = {d.delivery_id for d in await h.store.list_deliveries()}
        heard.append(
            (delivery_id, delivery.user_id, delivery.notification_type, delivery_id in stored)
        )

    async def broken(delivery: Delivery, delivery_id: int) -> None:
        raise RuntimeError("a listener that fails")

    remove = h.handle.add_delivery_listener(listen)
    h.handle.add_delivery_listener(broken)
    change, verification = body(), body("verification")
    assert await post(h, change, {SIGNATURE_HEADER: sign(change, SECRET)}) == 202
    assert await post(h, verification, {SIGNATURE_HEADER: sign(verification, SECRET)}) == 202
    assert await post(h, change, {SIGNATURE_HEADER: sign(change, "wrong-secret")}) == 401
    assert await post(h, change, {SIGNATURE_HEADER: sign(change, SECRET)}, key="nope") == 404
    ids = sorted(d.delivery_id for d in await h.store.list_deliveries() if d.delivery_id)
    assert heard == [(ids[0], "u1", "change", True), (ids[1], "u1", "verification", True)]
    remove()
    remove()  # removing twice is no error
    assert await post(h, change, {SIGNATURE_HEADER: sign(change, SECRET)}) == 202
    assert len(heard) == 2
