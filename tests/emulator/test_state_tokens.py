"""The tokens resource: client credentials, access tokens expiring, refresh tokens (rotated or
not), authorization codes. HTTP-level OAuth flows are ``test_oauth.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state import AccountRecord, EmulatorState
from cronofy_avail.emulator.state.shared import StateContext
from cronofy_avail.emulator.state.tokens import Tokens
from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error, first_account, new_state


def _refresh(state: EmulatorState, refresh_token: str) -> dict[str, object]:
    return state.token_request(
        {
            "client_id": state.client_id,
            "client_secret": state.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
        None,
    )


def test_an_access_token_lives_its_ttl_on_the_clock(clock: FakeClock) -> None:
    state, _ = new_state(clock, access_token_ttl=60)
    created = state.create_account()
    assert created.expires_in == 60
    account, token = state.authenticate(created.access_token)
    assert account.account_id == created.account_id
    assert token.expires_at == clock.now + timedelta(seconds=60)
    clock.advance(seconds=59)
    state.authenticate(created.access_token)
    clock.advance(seconds=1)
    error = api_error(lambda: state.authenticate(created.access_token))
    assert error.status == 401
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="Cronofy", error="invalid_token"'
    assert api_error(lambda: state.authenticate(None)).status == 401
    assert api_error(lambda: state.authenticate("nonsense")).status == 401


def test_expire_tokens_expires_one_accounts_or_all(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    a, b = state.create_account(), state.create_account()
    assert state.expire_tokens(a.account_id) == 1
    assert state.expire_tokens(a.account_id) == 0  # already expired
    assert api_error(lambda: state.authenticate(a.access_token)).status == 401
    state.authenticate(b.access_token)
    assert state.expire_tokens() == 1
    assert api_error(lambda: state.authenticate(b.access_token)).status == 401


def test_a_token_of_a_forgotten_account_is_refused(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account()
    del state.accounts[created.account_id]
    assert api_error(lambda: state.authenticate(created.access_token)).status == 401


def test_refresh_keeps_the_refresh_token_unless_rotation_is_on(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account()
    answer = _refresh(state, created.refresh_token)
    assert answer["refresh_token"] == created.refresh_token
    assert answer["access_token"] != created.access_token
    assert answer["expires_in"] == 3600
    assert answer["token_type"] == "bearer"
    # The house-rule switch, as the control API's settings flip it at run time.
    state.rotate_refresh_tokens = True
    rotated = _refresh(state, created.refresh_token)
    assert rotated["refresh_token"] != created.refresh_token
    error = api_error(lambda: _refresh(state, created.refresh_token))
    assert (error.status, error.body) == (400, {"error": "invalid_grant"})
    _refresh(state, str(rotated["refresh_token"]))


def test_revoked_refresh_tokens_are_an_invalid_grant(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    a, b = state.create_account(), state.create_account()
    assert state.revoke_refresh_tokens(a.account_id) == 1
    assert state.revoke_refresh_tokens(a.account_id) == 0
    assert api_error(lambda: _refresh(state, a.refresh_token)).body == {"error": "invalid_grant"}
    _refresh(state, b.refresh_token)
    assert state.revoke_refresh_tokens() == 1


def test_token_requests_check_the_client_and_the_grant(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account()
    no_grant = api_error(lambda: state.token_request({}, None))
    assert (no_grant.status, no_grant.body) == (400, {"error": "invalid_request"})
    bad_client = api_error(
        lambda: state.token_request(
            {"grant_type": "refresh_token", "refresh_token": created.refresh_token},
            (state.client_id, "wrong"),
        )
    )
    assert (bad_client.status, bad_client.body) == (401, {"error": "invalid_client"})
    # HTTP Basic credentials count as the client's.
    basic = (state.client_id, state.client_secret)
    answer = state.token_request(
        {"grant_type": "refresh_token", "refresh_token": created.refresh_token}, basic
    )
    assert answer["scope"] == state.accounts[created.account_id].scope
    unsupported = api_error(lambda: state.token_request({"grant_type": "password"}, basic))
    assert unsupported.body == {"error": "unsupported_grant_type"}


def test_an_authorization_code_is_used_once_with_its_redirect_uri(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account = first_account(state, email="ada@example.com")
    basic = (state.client_id, state.client_secret)
    code = state.authorization_code(account, "http://app/callback")
    assert state.codes[code] == (account.account_id, "http://app/callback")
    body = {"grant_type": "authorization_code", "code": code}
    mismatch = api_error(
        lambda: state.token_request({**body, "redirect_uri": "http://elsewhere"}, basic)
    )
    assert mismatch.body == {"error": "invalid_grant"}
    assert code not in state.codes  # a wrong redirect_uri spends the code too
    code = state.authorization_code(account, "http://app/callback")
    answer = state.token_request(
        {**body, "code": code, "redirect_uri": "http://app/callback"}, basic
    )
    profile = next(iter(account.profiles.values()))
    assert answer["account_id"] == answer["sub"] == account.account_id
    assert answer["linking_profile"] == {
        "provider_name": "google",
        "profile_id": profile.profile_id,
        "profile_name": "ada@example.com",
    }
    again = api_error(
        lambda: state.token_request(
            {**body, "code": code, "redirect_uri": "http://app/callback"}, basic
        )
    )
    assert again.body == {"error": "invalid_grant"}


def test_client_secrets_rotate_newest_first_and_retire() -> None:
    tokens = Tokens(
        StateContext(EmulatorConfig(), lambda: datetime(2026, 11, 24, tzinfo=UTC)),
        client_id="emu_given",
        client_secret="CRN_first",
    )
    assert (tokens.client_id, tokens.client_secret) == ("emu_given", "CRN_first")
    new = tokens.rotate_client_secret()
    assert tokens.client_secrets == [new, "CRN_first"]
    assert tokens.is_client_secret("CRN_first")
    assert tokens.is_client_secret(new)
    assert not tokens.is_client_secret(None)
    assert not tokens.is_client_secret("")
    tokens.retire_previous_secrets()
    assert tokens.client_secrets == [new]
    assert not tokens.is_client_secret("CRN_first")
    newest = tokens.rotate_client_secret(keep_previous=False)
    assert tokens.client_secrets == [newest]


def test_reset_forgets_tokens_and_codes_but_not_the_client(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    account: AccountRecord = first_account(state)
    state.authorization_code(account, "http://app/callback")
    secret, client_id = state.client_secret, state.client_id
    state.access_token_ttl = 10
    state.reset()
    assert (state.access_tokens, state.refresh_tokens, state.codes) == ({}, {}, {})
    assert (state.client_secret, state.client_id) == (secret, client_id)
    assert state.access_token_ttl == 10  # settings stay
    assert state.tokens.access_token_ttl == 10


def test_the_token_kind_follows_the_account(clock: FakeClock) -> None:
    state, _ = new_state(clock)
    created = state.create_account(token_kind="personal")
    assert state.authenticate(created.access_token)[1].kind == "personal"


def test_token_records_never_show_their_value() -> None:
    from datetime import UTC, datetime

    from cronofy_avail.emulator.state.records import AccessToken, RefreshToken

    access = AccessToken("tok_secret_access_value", "acc_1", datetime(2030, 1, 1, tzinfo=UTC))
    refresh = RefreshToken("tok_secret_refresh_value", "acc_1")
    assert "secret" not in repr(access)
    assert "acc_1" in repr(access)
    assert "secret" not in repr(refresh)
