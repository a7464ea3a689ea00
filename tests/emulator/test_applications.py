"""Several applications in one emulator (a workshop gives each attendee their own): tokens,
authorization, availability and notification signatures are per application, over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from yarl import URL

from cronofy_avail.core.signatures import SignatureVerificationError, verify, verify_notification
from cronofy_avail.emulator import Emulator, EmulatorAccount
from cronofy_avail.emulator.state import Application
from cronofy_avail.emulator.validation import ApiError
from tests.support.emulator import WAIT, Receiver, auth

DAY = [{"start": "2026-11-25T08:00:00Z", "end": "2026-11-25T18:00:00Z"}]


def refresh(app: Application, account: EmulatorAccount) -> dict[str, str]:
    return {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": account.refresh_token,
    }


def availability(*subs: str) -> dict[str, Any]:
    return {
        "participants": [{"members": [{"sub": s} for s in subs], "required": "all"}],
        "required_duration": {"minutes": 60},
        "query_periods": DAY,
    }


async def post(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.post(url, **kwargs) as r:
        return r.status, await r.json()


async def test_applications_have_their_own_credentials(emu: Emulator) -> None:
    a, b = emu.create_application("ada"), emu.create_application()
    assert a.client_id.startswith("emu_")
    assert a.client_secret.startswith("CRN_")
    assert len({emu.client_id, a.client_id, b.client_id}) == 3
    assert len({emu.client_secret, a.client_secret, b.client_secret}) == 3
    assert list(emu.state.applications) == [emu.client_id, a.client_id, b.client_id]
    assert a.name == "ada"
    assert a.client_secret not in repr(a)
    # The default application is still the emulator's.
    assert emu.state.default_application.client_id == emu.client_id
    with pytest.raises(ApiError) as unknown:
        emu.state.create_account(client_id="emu_nobody")
    assert unknown.value.status == 422
    assert unknown.value.body is not None
    assert set(unknown.value.body["errors"]) == {"client_id"}


async def test_tokens_are_refreshed_only_by_their_application(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    a, b = emu.create_application(), emu.create_application()
    of_a = await emu.create_account(client_id=a.client_id)
    of_b = await emu.create_account(client_id=b.client_id)
    of_default = await emu.create_account()
    url = f"{emu.base_url}/oauth/token"
    assert (await post(http, url, json=refresh(a, of_b))) == (400, {"error": "invalid_grant"})
    assert (await post(http, url, json=refresh(b, of_a))) == (400, {"error": "invalid_grant"})
    default = emu.state.default_application
    assert (await post(http, url, json=refresh(default, of_a)))[0] == 400
    assert (await post(http, url, json=refresh(a, of_default)))[0] == 400
    # A's client id with B's secret is no client at all.
    mixed = refresh(a, of_a) | {"client_secret": b.client_secret}
    assert (await post(http, url, json=mixed)) == (401, {"error": "invalid_client"})
    status, answer = await post(http, url, json=refresh(b, of_b))
    assert status == 200
    async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(answer["access_token"])) as r:
        assert r.status == 200
    # emu.client() hands an account its own application's credentials.
    async with emu.client(of_a) as client:
        await client.refresh_access_token()
        assert (await client.userinfo()).sub == of_a.sub
    # Rotating one application's secret leaves the others alone.
    old = a.client_secret
    emu.state.default_application.rotate_secret(keep_previous=False)
    assert a.client_secrets == [old]
    assert (await post(http, url, json=refresh(a, of_a)))[0] == 200


async def test_authorization_is_per_application(emu: Emulator, http: aiohttp.ClientSession) -> None:
    a, b = emu.create_application(), emu.create_application()
    of_a = await emu.create_account(client_id=a.client_id, email="ada@example.com")
    redirect = "http://127.0.0.1:9/callback"

    async def authorize(app: Application) -> str:
        async with http.get(
            f"{emu.base_url}/oauth/authorize",
            params={"client_id": app.client_id, "redirect_uri": redirect},
            allow_redirects=False,
        ) as r:
            assert r.status == 302
            return URL(r.headers["Location"]).query["code"]

    async def exchange(app: Application, code: str) -> tuple[int, Any]:
        body = {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
        }
        return await post(http, f"{emu.base_url}/oauth/token", json=body)

    # Ada authorizes B too: a new authorization (account) of B's, not A's account linked to B.
    async with http.get(
        f"{emu.base_url}/oauth/authorize",
        params={"client_id": b.client_id, "redirect_uri": redirect, "login_hint": of_a.email},
        allow_redirects=False,
    ) as r:
        code = URL(r.headers["Location"]).query["code"]
    status, answer = await exchange(b, code)
    assert status == 200
    assert answer["account_id"] != of_a.account_id
    assert emu.state.accounts[answer["account_id"]].client_id == b.client_id
    assert emu.state.accounts[of_a.account_id].client_id == a.client_id
    # A code is exchanged only by the application it was issued to.
    assert (await exchange(a, await authorize(b))) == (400, {"error": "invalid_grant"})
    status, answer = await exchange(a, await authorize(a))
    assert status == 200
    assert emu.state.accounts[answer["account_id"]].client_id == a.client_id


async def test_availability_consults_only_the_applications_accounts(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    a, b = emu.create_application(), emu.create_application()
    of_a = await emu.create_account(client_id=a.client_id)
    of_b = await emu.create_account(client_id=b.client_id)
    url = f"{emu.base_url}/v1/availability"
    status, answer = await post(
        http, url, json=availability(of_a.sub), headers=auth(a.client_secret)
    )
    assert status == 200
    assert answer["available_periods"]

    async def refused(bearer: str) -> list[str]:
        body = availability(of_a.sub, of_b.sub)
        status, answer = await post(http, url, json=body, headers=auth(bearer))
        assert status == 422
        return [e["description"] for e in answer["errors"]["participants"]]

    # B's sub is as unknown to A (its secret or its account's token) as a sub nobody has.
    assert await refused(a.client_secret) == [f"{of_b.sub} is not an authorized account"]
    assert await refused(of_a.access_token) == [f"{of_b.sub} is not an authorized account"]
    assert len(await refused(emu.client_secret)) == 2  # the default application knows neither
    status, _ = await post(http, url, json=availability(of_b.sub), headers=auth(b.client_secret))
    assert status == 200


async def test_notifications_are_signed_with_their_applications_secrets(
    emu: Emulator, receiver: Receiver
) -> None:
    a, b = emu.create_application(), emu.create_application()
    b.rotate_secret()  # B signs with both of its active secrets
    for app in (a, b):
        account = await emu.create_account(client_id=app.client_id)
        async with emu.client(account) as client:
            await client.create_channel(receiver.url)
        async with asyncio.timeout(WAIT):
            await emu.wait_notifications()  # A's verification first, then B's
    from_a, from_b = receiver.received
    verify_notification(from_a.body, from_a.headers, a.client_secret)
    for secret in b.client_secrets:
        verify_notification(from_b.body, from_b.headers, secret)
    for body, headers, others in (
        (from_a.body, from_a.headers, [b.client_secret, emu.client_secret]),
        (from_b.body, from_b.headers, [a.client_secret, emu.client_secret]),
    ):
        with pytest.raises(SignatureVerificationError):
            verify(body, headers["Cronofy-HMAC-SHA256"], others)


async def test_control_api_creates_accounts_of_an_application(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    app = emu.create_application()
    url = f"{emu.base_url}/_emulator/accounts"
    status, created = await post(http, url, json={"client_id": app.client_id})
    assert status == 201
    async with http.get(f"{url}/{created['account_id']}") as r:
        assert (await r.json())["client_id"] == app.client_id
    status, answer = await post(http, url, json={"client_id": "emu_nobody"})
    assert status == 422
    assert set(answer["errors"]) == {"client_id"}
    status, created = await post(http, url, json={})
    async with http.get(f"{url}/{created['account_id']}") as r:
        assert (await r.json())["client_id"] == emu.client_id
