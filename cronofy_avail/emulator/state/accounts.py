"""Accounts and their profiles: creating an account (its primary calendar and first tokens
come with it), the user connecting, disconnecting or locking a profile, and the identity
views (``/v1/profiles``, ``/v1/userinfo``, ``/v1/account``, the control API's summary)."""

from __future__ import annotations

from collections.abc import Sequence

from cronofy_avail.emulator.state.calendars import Calendars, calendar_json
from cronofy_avail.emulator.state.records import (
    AccountRecord,
    EmulatorAccount,
    Json,
    ProfileRecord,
)
from cronofy_avail.emulator.state.shared import StateContext, random_hex
from cronofy_avail.emulator.state.tokens import Tokens
from cronofy_avail.emulator.validation import ApiError, Errors, zone

DEFAULT_SCOPES = (
    "read_account",
    "list_calendars",
    "read_events",
    "create_event",
    "delete_event",
    "read_free_busy",
    "create_calendar",
    "change_participation_status",
)


def profile_json(profile: ProfileRecord, base_url: str) -> Json:
    out: Json = {
        "provider_name": profile.provider_name,
        "provider_service": profile.provider_service,
        "profile_id": profile.profile_id,
        "profile_name": profile.profile_name,
        "profile_connected": profile.connected,
        "profile_initial_sync_required": False,
    }
    if not profile.connected:
        out["profile_relink_url"] = f"{base_url}/oauth/relink/{profile.profile_id}"
    return out


class Accounts:
    """The accounts' records and profiles. An account's calendars are :class:`Calendars`'
    and its tokens :class:`Tokens`': creating an account asks both."""

    def __init__(self, ctx: StateContext, calendars: Calendars, tokens: Tokens) -> None:
        self.ctx = ctx
        self.calendars = calendars
        self.tokens = tokens
        self.reset()

    def reset(self) -> None:
        self._profile_owner: dict[str, str] = {}
        self._account_counter = 0

    def create_account(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        tzid: str = "Europe/London",
        scope: str | Sequence[str] | None = None,
        provider_name: str = "google",
        provider_service: str | None = None,
        calendars: Sequence[str] = (),
        token_kind: str = "application",  # noqa: S107 - a token kind
        can_create_calendars: bool = True,
        allows_duplicate_calendar_names: bool = False,
        client_id: str | None = None,
    ) -> EmulatorAccount:
        """A connected account of the application ``client_id`` (``None``: the default one)."""
        errors = Errors()
        zone(errors, "tzid", tzid, required=True)
        if token_kind not in ("application", "personal"):
            errors.invalid("token_kind", "token_kind must be application or personal")
        if client_id is None:
            client_id = self.tokens.default_application.client_id
        elif client_id not in self.tokens.applications:
            errors.invalid("client_id", "client_id is not an application of this emulator")
        errors.raise_if_any()
        self._account_counter += 1
        account_id = f"acc_{random_hex(12)}"
        email = email or f"user{self._account_counter}.{account_id[-6:]}@example.com"
        scopes: tuple[str, ...]
        if scope is None:
            scopes = DEFAULT_SCOPES
        elif isinstance(scope, str):
            scopes = tuple(scope.split())
        else:
            scopes = tuple(scope)
        account = AccountRecord(
            account_id=account_id,
            email=email,
            name=name or email.split("@")[0].replace(".", " ").title(),
            tzid=tzid,
            scopes=scopes,
            token_kind=token_kind,
            client_id=client_id,
        )
        profile = ProfileRecord(
            profile_id=f"pro_{random_hex(8)}",
            account_id=account_id,
            provider_name=provider_name,
            provider_service=provider_service
            or {"google": "gsuite", "live_connect": "outlook_com"}.get(
                provider_name, provider_name
            ),
            profile_name=email,
            can_create_calendars=can_create_calendars,
            allows_duplicate_names=allows_duplicate_calendar_names,
        )
        account.profiles[profile.profile_id] = profile
        self._profile_owner[profile.profile_id] = account_id
        self.ctx.accounts[account_id] = account
        primary = self.calendars.add(account, profile, email, primary=True)
        ids = [primary.calendar_id]
        for extra in calendars:
            ids.append(self.calendars.add(account, profile, extra).calendar_id)
        access, refresh = self.tokens.issue_tokens(account)
        return EmulatorAccount(
            account_id=account_id,
            sub=account_id,
            email=email,
            name=account.name,
            profile_id=profile.profile_id,
            calendar_id=primary.calendar_id,
            calendar_ids=tuple(ids),
            access_token=access.token,
            refresh_token=refresh.token,
            expires_in=self.tokens.access_token_ttl,
            scope=account.scope,
            tzid=tzid,
        )

    def account(self, account_id: str) -> AccountRecord:
        try:
            return self.ctx.accounts[account_id]
        except KeyError:
            raise ApiError(404, reason="no such account") from None

    def profile(self, profile_id: str) -> tuple[AccountRecord, ProfileRecord]:
        """A profile and its account; 404 when unknown."""
        account = self.ctx.owner(self._profile_owner, profile_id, "profile")
        return account, account.profiles[profile_id]

    def set_profile(
        self,
        profile_id: str,
        *,
        connected: bool | None = None,
        locked: bool | None = None,
        base_url: str = "",
    ) -> Json:
        account, profile = self.profile(profile_id)
        was_connected = profile.connected
        if connected is not None:
            profile.connected = connected
        if locked is not None:
            profile.locked = locked
        observer = self.ctx.observer
        if was_connected and not profile.connected and observer is not None:
            observer.profile_disconnected(account.account_id, profile_id)
        return profile_json(profile, base_url)

    def add_calendar(self, profile_id: str, name: str, *, color: str | None = None) -> Json:
        """Control API: the user creates a calendar in their calendar app (no checks)."""
        account, profile = self.profile(profile_id)
        return calendar_json(account, self.calendars.add(account, profile, name, color=color))

    # ------------------------------------------------------------------ identity views

    def profiles(self, account: AccountRecord, base_url: str) -> Json:
        return {"profiles": [profile_json(p, base_url) for p in account.profiles.values()]}

    def userinfo(self, account: AccountRecord, base_url: str) -> Json:
        profiles = []
        for profile in account.profiles.values():
            entry = profile_json(profile, base_url)
            entry["profile_calendars"] = [
                calendar_json(account, c)
                for c in account.calendars.values()
                if c.profile_id == profile.profile_id
            ]
            profiles.append(entry)
        return {
            "sub": account.account_id,
            "email": account.email,
            "name": account.name,
            "zoneinfo": account.tzid,
            "cronofy.type": "account",
            "cronofy.data": {
                "authorization": {"scope": account.scope, "status": "active"},
                "profiles": profiles,
                # No conferencing service is ever connected in the emulator.
                "conferencing_profiles": [],
            },
        }

    def account_json(self, account: AccountRecord) -> Json:
        return {
            "account": {
                "account_id": account.account_id,
                "email": account.email,
                "name": account.name,
                "scope": account.scope,
                "default_tzid": account.tzid,
            }
        }

    def account_summary(self, account: AccountRecord) -> Json:
        return {
            "account_id": account.account_id,
            "sub": account.account_id,
            "email": account.email,
            "name": account.name,
            "tzid": account.tzid,
            "scope": account.scope,
            "token_kind": account.token_kind,
            "client_id": account.client_id,
            "profiles": [profile_json(p, "") for p in account.profiles.values()],
            "calendars": [calendar_json(account, c) for c in account.calendars.values()],
            "events": len(account.events),
            "available_periods": len(account.periods),
            "channels": sum(c.active for c in account.channels.values()),
        }
