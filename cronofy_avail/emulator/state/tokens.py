"""Tokens and OAuth: the applications and their client credentials, access and refresh tokens,
and authorization codes (``POST /oauth/token``, bearer authentication)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cronofy_avail.emulator.state.records import AccessToken, AccountRecord, Json, RefreshToken
from cronofy_avail.emulator.state.shared import StateContext, random_hex
from cronofy_avail.emulator.validation import ApiError


def new_client_secret() -> str:
    return f"CRN_{secrets.token_urlsafe(30)}"


@dataclass(slots=True)
class Application:
    """A Cronofy application: its client id and active client secrets, newest first (each
    one signs its accounts' notifications). Its accounts' tokens are issued to it alone."""

    client_id: str
    client_secrets: list[str] = field(repr=False)
    name: str = ""

    @property
    def client_secret(self) -> str:
        """The newest active client secret."""
        return self.client_secrets[0]

    def is_secret(self, token: str | None) -> bool:
        """Whether ``token`` is one of the active client secrets (constant-time comparison)."""
        return bool(token) and any(
            secrets.compare_digest(token or "", secret) for secret in self.client_secrets
        )

    def rotate_secret(self, *, keep_previous: bool = True) -> str:
        new = new_client_secret()
        self.client_secrets = [new, *self.client_secrets] if keep_previous else [new]
        return new

    def retire_previous_secrets(self) -> None:
        self.client_secrets = self.client_secrets[:1]


class Tokens:
    """The applications and the tokens each was given for its accounts.

    The first application is the *default* one: ``client_id``, ``client_secret(s)`` and the
    secret rotation here are its. ``access_token_ttl`` and ``rotate_refresh_tokens`` start from
    the config and may be changed at run time (the control API's settings)."""

    def __init__(
        self,
        ctx: StateContext,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.default_application = Application(
            client_id or f"emu_{random_hex(12)}", [client_secret or new_client_secret()]
        )
        self.applications: dict[str, Application] = {
            self.default_application.client_id: self.default_application
        }
        """Every application by client id (they outlive :meth:`reset`)."""
        self.access_token_ttl = ctx.config.access_token_ttl
        self.rotate_refresh_tokens = ctx.config.rotate_refresh_tokens
        self.reset()

    def reset(self) -> None:
        """Forget every token and code (the client credentials stay)."""
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, tuple[str, str]] = {}

    # ------------------------------------------------------------------ applications

    def create_application(self, name: str = "") -> Application:
        """A new application with random credentials."""
        application = Application(f"emu_{random_hex(12)}", [new_client_secret()], name)
        self.applications[application.client_id] = application
        return application

    def application_for_secret(self, token: str | None) -> Application | None:
        """The application ``token`` is an active client secret of, if any."""
        return next((a for a in self.applications.values() if a.is_secret(token)), None)

    # The default application's credentials.

    @property
    def client_id(self) -> str:
        return self.default_application.client_id

    @property
    def client_secrets(self) -> list[str]:
        """Active client secrets, newest first: notifications are signed with each."""
        return self.default_application.client_secrets

    @property
    def client_secret(self) -> str:
        """The newest active client secret."""
        return self.default_application.client_secret

    def is_client_secret(self, token: str | None) -> bool:
        return self.default_application.is_secret(token)

    def rotate_client_secret(self, *, keep_previous: bool = True) -> str:
        return self.default_application.rotate_secret(keep_previous=keep_previous)

    def retire_previous_secrets(self) -> None:
        self.default_application.retire_previous_secrets()

    # ------------------------------------------------------------------ access and refresh

    def issue_tokens(
        self, account: AccountRecord, *, refresh: RefreshToken | None = None
    ) -> tuple[AccessToken, RefreshToken]:
        access = AccessToken(
            token=secrets.token_urlsafe(32),
            account_id=account.account_id,
            expires_at=self.ctx.clock() + timedelta(seconds=self.access_token_ttl),
            kind=account.token_kind,
        )
        self.access_tokens[access.token] = access
        if refresh is None:
            refresh = RefreshToken(secrets.token_urlsafe(32), account.account_id)
            self.refresh_tokens[refresh.token] = refresh
        return access, refresh

    def authenticate(self, token: str | None) -> tuple[AccountRecord, AccessToken]:
        """The account behind a bearer token; 401 when unknown or expired."""
        record = self.access_tokens.get(token or "")
        if record is None or record.expires_at <= self.ctx.clock():
            raise ApiError(
                401,
                headers={"WWW-Authenticate": 'Bearer realm="Cronofy", error="invalid_token"'},
                reason="invalid token",
            )
        account = self.ctx.accounts.get(record.account_id)
        if account is None:
            raise ApiError(401, reason="account gone")
        return account, record

    def expire_tokens(self, account_id: str | None = None) -> int:
        """Expire access tokens (of one account or all): the next call answers 401."""
        count = 0
        past = self.ctx.clock() - timedelta(seconds=1)
        for token in self.access_tokens.values():
            if (account_id is None or token.account_id == account_id) and (token.expires_at > past):
                token.expires_at = past
                count += 1
        return count

    def revoke_refresh_tokens(self, account_id: str | None = None) -> int:
        count = 0
        for token in self.refresh_tokens.values():
            if (account_id is None or token.account_id == account_id) and not token.revoked:
                token.revoked = True
                count += 1
        return count

    # ------------------------------------------------------------------ oauth

    def authorization_code(self, account: AccountRecord, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = (account.account_id, redirect_uri)
        return code

    def token_request(self, body: Mapping[str, Any], basic: tuple[str, str] | None) -> Json:
        """``POST /oauth/token`` (refresh and code exchange). OAuth errors are 400/401."""
        accounts = self.ctx.accounts
        client_id = body.get("client_id") or (basic[0] if basic else None)
        client_secret = body.get("client_secret") or (basic[1] if basic else None)
        grant_type = body.get("grant_type")
        if not grant_type:
            raise ApiError(400, {"error": "invalid_request"}, reason="no grant_type")
        application = self.applications.get(str(client_id)) if client_id else None
        if application is None or not application.is_secret(
            str(client_secret) if client_secret else None
        ):
            raise ApiError(401, {"error": "invalid_client"}, reason="bad client credentials")
        issued_to = application.client_id

        def granted(account_id: str) -> bool:
            # A grant is issued to one application: another one's is as good as unknown.
            account = accounts.get(account_id)
            return account is not None and account.client_id == issued_to

        if grant_type == "refresh_token":
            raw = body.get("refresh_token")
            refresh = self.refresh_tokens.get(str(raw)) if raw else None
            if refresh is None or refresh.revoked or not granted(refresh.account_id):
                raise ApiError(400, {"error": "invalid_grant"}, reason="unknown refresh token")
            account = accounts[refresh.account_id]
            if self.rotate_refresh_tokens:
                refresh.revoked = True
                access, refresh = self.issue_tokens(account)
            else:
                access, refresh = self.issue_tokens(account, refresh=refresh)
            return self._token_json(account, access, refresh)
        if grant_type == "authorization_code":
            code = body.get("code")
            entry = self.codes.pop(str(code), None) if code else None
            if entry is None or not granted(entry[0]):
                raise ApiError(400, {"error": "invalid_grant"}, reason="unknown code")
            account_id, redirect_uri = entry
            if body.get("redirect_uri") != redirect_uri:
                raise ApiError(400, {"error": "invalid_grant"}, reason="redirect_uri mismatch")
            account = accounts[account_id]
            access, refresh = self.issue_tokens(account)
            answer = self._token_json(account, access, refresh)
            profile = next(iter(account.profiles.values()))
            answer.update(
                account_id=account_id,
                sub=account_id,
                linking_profile={
                    "provider_name": profile.provider_name,
                    "profile_id": profile.profile_id,
                    "profile_name": profile.profile_name,
                },
            )
            return answer
        raise ApiError(400, {"error": "unsupported_grant_type"}, reason="grant type")

    def _token_json(
        self, account: AccountRecord, access: AccessToken, refresh: RefreshToken
    ) -> Json:
        return {
            "token_type": "bearer",
            "access_token": access.token,
            "expires_in": self.access_token_ttl,
            "refresh_token": refresh.token,
            "scope": account.scope,
        }
