"""``POST /oauth/token`` (refresh, code exchange, rotation, errors) and ``/oauth/authorize``."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from cronofy_avail.client.api import CronofyClient, OAuthTokens
from cronofy_avail.core.errors import ReauthorizationRequiredError
from cronofy_avail.emulator import Emulator, EmulatorAccount
from tests.support.emulator import FAST, auth


def refresh_body(emu: Emulator, token: str) -> dict[str, str]:
    return {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": token,
    }


async def test_refresh_json_and_form(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}/oauth/token"
    async with http.post(url, json=refresh_body(emu, account.refresh_token)) as r:
        assert r.status == 200
        first = await r.json()
    assert first["token_type"] == "bearer"
    assert first["expires_in"] == 3600
    assert first["refresh_token"] == account.refresh_token  # no rotation by default
    assert "read_events" in first["scope"].split()
    # Form-encoded, with an SDK's Authorization header.
    async with http.post(
        url, data=refresh_body(emu, account.refresh_token), headers=auth(account.access_token)
    ) as r:
        assert r.status == 200
        second = await r.json()
    assert second["access_token"] != first["access_token"]
    async with http.get(f"{emu.base_url}/v1/profiles", headers=auth(second["access_token"])) as r:
        assert r.status == 200
    # Unknown refresh token, bad client secret, unknown grant.
    async with http.post(url, json=refresh_body(emu, "unknown")) as r:
        assert (r.status, await r.json()) == (400, {"error": "invalid_grant"})
    bad = refresh_body(emu, account.refresh_token) | {"client_secret": "wrong"}
    async with http.post(url, json=bad) as r:
        assert (r.status, (await r.json())["error"]) == (401, "invalid_client")
    odd = refresh_body(emu, account.refresh_token) | {"grant_type": "password"}
    async with http.post(url, json=odd) as r:
        assert (r.status, (await r.json())["error"]) == (400, "unsupported_grant_type")


async def test_rotation_and_revocation() -> None:
    async with Emulator(rotate_refresh_tokens=True, access_token_ttl=120, **FAST) as emu:  # type: ignore[arg-type]
        acc = await emu.create_account()
        saved: list[OAuthTokens] = []
        async with emu.client(acc, on_tokens=saved.append) as client:
            emu.expire_tokens()
            await client.list_profiles()
            assert len(saved) == 1
            assert saved[0].refresh_token != acc.refresh_token
            assert client.tokens is not None
            assert client.tokens.expires_at is not None
        # The rotated-out refresh token is revoked.
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{emu.base_url}/oauth/token", json=refresh_body(emu, acc.refresh_token)
            ) as r,
        ):
            assert (r.status, await r.json()) == (400, {"error": "invalid_grant"})
        emu.state.revoke_refresh_tokens(acc.account_id)
        emu.expire_tokens()
        assert saved[0].refresh_token is not None
        async with CronofyClient(
            access_token=saved[0].access_token,
            refresh_token=saved[0].refresh_token,
            client_id=emu.client_id,
            client_secret=emu.client_secret,
            api_base_url=emu.base_url,
        ) as client:
            with pytest.raises(ReauthorizationRequiredError):
                await client.list_profiles()


async def test_code_exchange_via_authorize_page(emu: Emulator, http: aiohttp.ClientSession) -> None:
    redirect = "http://127.0.0.1:9/callback"
    async with CronofyClient(
        client_id=emu.client_id, client_secret=emu.client_secret, api_base_url=emu.base_url
    ) as client:
        url = client.authorization_url(redirect, state="s1", login_hint="new@example.com")
        async with http.get(url, allow_redirects=False) as r:
            assert r.status == 302
            location = URL(r.headers["Location"])
        assert str(location.with_query(None)) == redirect
        assert location.query["state"] == "s1"
        tokens = await client.exchange_code(location.query["code"], redirect)
        assert tokens.sub is not None
        assert tokens.sub.startswith("acc_")
        assert tokens.linking_profile is not None
        assert (await client.userinfo()).email == "new@example.com"
        # The default scopes cover what the four steps call, account() included.
        assert (await client.account()).account_id == tokens.account_id
        # A code works once.
        async with http.post(
            f"{emu.base_url}/oauth/token",
            json={
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "grant_type": "authorization_code",
                "code": location.query["code"],
                "redirect_uri": redirect,
            },
        ) as r:
            assert (r.status, await r.json()) == (400, {"error": "invalid_grant"})
    async with http.get(
        f"{emu.base_url}/oauth/authorize",
        params={"client_id": "x", "redirect_uri": redirect},
        allow_redirects=False,
    ) as r:
        assert r.status == 400


async def test_code_from_control_api_needs_matching_redirect(
    emu: Emulator, account: EmulatorAccount, http: aiohttp.ClientSession
) -> None:
    code = emu.state.authorization_code(emu.state.accounts[account.account_id], "http://a/cb")
    body = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://other/cb",
    }
    async with http.post(f"{emu.base_url}/oauth/token", json=body) as r:
        assert (r.status, await r.json()) == (400, {"error": "invalid_grant"})
