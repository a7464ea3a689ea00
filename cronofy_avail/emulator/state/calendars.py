"""Calendars: the ones an account is created with, the ones the application creates
(``POST /v1/calendars``) and the ones the user adds or deletes in their calendar app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cronofy_avail.emulator.state.records import (
    AccountRecord,
    CalendarRecord,
    Json,
    ProfileRecord,
)
from cronofy_avail.emulator.state.shared import StateContext, random_hex, require_scope
from cronofy_avail.emulator.validation import ApiError, Errors, unprocessable


def new_calendar_id() -> str:
    # Calendar ids may contain ``@``, ``-`` and ``_``: always emit all three.
    return f"cal_{random_hex(6)}@{random_hex(2)}-{random_hex(3)}_{random_hex(2)}"


def calendar_json(account: AccountRecord, calendar: CalendarRecord) -> Json:
    profile = account.profiles[calendar.profile_id]
    out: Json = {
        "provider_name": profile.provider_name,
        "profile_id": profile.profile_id,
        "profile_name": profile.profile_name,
        "calendar_id": calendar.calendar_id,
        "calendar_name": calendar.name,
        "calendar_readonly": calendar.readonly,
        "calendar_deleted": calendar.deleted,
        "calendar_primary": calendar.primary,
        "calendar_integrated_conferencing_available": False,
        "calendar_attachments_available": False,
        "calendar_attendee_permissions": ["none"],
        "permission_level": "sandbox" if calendar.readonly else "unrestricted",
    }
    if calendar.color:
        out["calendar_color"] = calendar.color
    return out


def _is_color(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 7 or not value.startswith("#"):
        return False
    return all(ch in "0123456789abcdefABCDEF" for ch in value[1:])


class Calendars:
    """Every account's calendars, and which account owns each calendar id."""

    def __init__(self, ctx: StateContext) -> None:
        self.ctx = ctx
        self.reset()

    def reset(self) -> None:
        self._owner: dict[str, str] = {}

    def add(
        self,
        account: AccountRecord,
        profile: ProfileRecord,
        name: str,
        *,
        primary: bool = False,
        color: str | None = None,
    ) -> CalendarRecord:
        calendar = CalendarRecord(
            calendar_id=new_calendar_id(),
            profile_id=profile.profile_id,
            account_id=account.account_id,
            name=name,
            primary=primary,
            color=color,
        )
        account.calendars[calendar.calendar_id] = calendar
        self._owner[calendar.calendar_id] = account.account_id
        return calendar

    def list_calendars(self, account: AccountRecord) -> Json:
        return {"calendars": [calendar_json(account, c) for c in account.calendars.values()]}

    def create_calendar(self, account: AccountRecord, body: Mapping[str, Any]) -> Json:
        require_scope(account, "create_calendar")
        errors = Errors()
        profile_id = body.get("profile_id")
        name = body.get("name")
        color = body.get("color")
        profile = None
        if not profile_id:
            errors.required("profile_id")
        else:
            profile = account.profiles.get(str(profile_id))
            if profile is None:
                errors.invalid("profile_id", "profile_id is not a profile of this account")
        if not name:
            errors.required("name")
        elif not isinstance(name, str):
            errors.invalid("name", "name must be a string")
        if color is not None and not _is_color(color):
            errors.invalid("color", "color must be a hex color such as #49BED8")
        errors.raise_if_any()
        assert profile is not None
        assert isinstance(name, str)
        if profile.locked:
            raise ApiError(423, reason="profile locked")
        if not profile.connected:
            raise unprocessable(
                "profile_id", "errors.profile_disconnected", "the profile is disconnected"
            )
        if not profile.can_create_calendars:
            raise unprocessable(
                "profile_id",
                "errors.calendar_creation_not_supported",
                f"{profile.provider_name} profiles cannot create calendars",
            )
        if not profile.allows_duplicate_names and any(
            c.name == name and c.profile_id == profile.profile_id and not c.deleted
            for c in account.calendars.values()
        ):
            raise unprocessable(
                "name",
                "errors.duplicate_calendar_name",
                "A calendar with this name already exists in this profile",
            )
        calendar = self.add(account, profile, name, color=color)
        return {"calendar": calendar_json(account, calendar)}

    def own_calendar(self, account: AccountRecord, calendar_id: str) -> CalendarRecord:
        calendar = account.calendars.get(calendar_id)
        if calendar is None or calendar.deleted:
            raise ApiError(404, reason="no such calendar")
        return calendar

    def calendar_account(self, calendar_id: str) -> AccountRecord:
        """The account owning ``calendar_id`` (deleted calendars too); 404 when unknown."""
        return self.ctx.owner(self._owner, calendar_id, "calendar")

    def delete_calendar(self, calendar_id: str) -> Json:
        """Control API: the user deletes a calendar in their calendar app.

        It stays listed with ``calendar_deleted: true``; its events leave every read."""
        account = self.calendar_account(calendar_id)
        calendar = account.calendars[calendar_id]
        if not calendar.deleted:
            calendar.deleted = True
            self.ctx.calendar_changed(account, calendar_id, managed=False, at=self.ctx.clock())
        return calendar_json(account, calendar)
