"""``EmulatorControl``: a small typed async wrapper over the emulator's ``/_emulator`` API.

The demo, the notebooks and the tests use it to play the user (add, move, delete external
events, disconnect a profile) and the instructor (accounts, secrets, tokens, faults, logs)
against an emulator running anywhere, in-process or in another terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp

from cronofy_avail.emulator.state import EmulatorAccount, Json

_TIMEOUT = aiohttp.ClientTimeout(total=30)


class EmulatorControlError(Exception):
    """The control API refused a request; ``status`` and ``body`` say why."""

    def __init__(self, status: int, body: Any, method: str, path: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{method} {path} -> HTTP {status}: {body}")


@dataclass(frozen=True, slots=True)
class EmulatorInfo:
    base_url: str
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"EmulatorInfo(base_url={self.base_url!r}, client_id={self.client_id!r})"


def account_from_json(data: Json) -> EmulatorAccount:
    return EmulatorAccount(
        account_id=data["account_id"],
        sub=data["sub"],
        email=data["email"],
        name=data["name"],
        profile_id=data["profile_id"],
        calendar_id=data["calendar_id"],
        calendar_ids=tuple(data["calendar_ids"]),
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        expires_in=int(data["expires_in"]),
        scope=data["scope"],
        tzid=data["tzid"],
    )


class EmulatorControl:
    """``EmulatorControl("http://127.0.0.1:8181")``; pass ``session`` to share one (it is then
    left open), else one is created and closed by :meth:`close`. ``token`` is sent as a bearer
    token (a workshop attendee's, which opens their own account's routes)."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession | None = None,
        *,
        token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, body: Json | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
            self._owns_session = True
        url = f"{self.base_url}/_emulator{path}"
        async with self._session.request(
            method, url, json=body, headers=self._headers, allow_redirects=False, timeout=_TIMEOUT
        ) as response:
            raw = await response.read()
            try:
                data = json.loads(raw) if raw.strip() else None
            except ValueError:
                data = raw.decode("utf-8", "replace")
            if response.status >= 400:
                raise EmulatorControlError(response.status, data, method, path)
            return data

    # ------------------------------------------------------------------ application

    async def info(self) -> EmulatorInfo:
        data = await self._request("GET", "/info")
        return EmulatorInfo(data["base_url"], data["client_id"], data["client_secret"])

    async def settings(self) -> Json:
        result: Json = await self._request("GET", "/settings")
        return result

    async def update_settings(self, **settings: Any) -> Json:
        result: Json = await self._request("PUT", "/settings", settings)
        return result

    async def rotate_client_secret(self, *, keep_previous: bool = True) -> str:
        data = await self._request(
            "POST", "/client_secret/rotate", {"keep_previous": keep_previous}
        )
        return str(data["client_secret"])

    async def retire_previous_secrets(self) -> str:
        data = await self._request("POST", "/client_secret/retire", {})
        return str(data["client_secret"])

    async def reset(self) -> None:
        await self._request("POST", "/reset", {})

    # ------------------------------------------------------------------ accounts & tokens

    async def create_account(self, **fields: Any) -> EmulatorAccount:
        """Fields: ``email``, ``name``, ``tzid``, ``scope``, ``provider_name``, ``calendars``,
        ``token_kind``, ``can_create_calendars``, ``allows_duplicate_calendar_names``."""
        return account_from_json(await self._request("POST", "/accounts", fields))

    async def accounts(self) -> list[Json]:
        data = await self._request("GET", "/accounts")
        return list(data["accounts"])

    async def account(self, account_id: str) -> Json:
        result: Json = await self._request("GET", f"/accounts/{account_id}")
        return result

    async def new_tokens(self, account_id: str) -> Json:
        result: Json = await self._request("POST", f"/accounts/{account_id}/tokens", {})
        return result

    async def authorization_code(self, account_id: str, redirect_uri: str) -> str:
        data = await self._request(
            "POST", f"/accounts/{account_id}/authorization_code", {"redirect_uri": redirect_uri}
        )
        return str(data["code"])

    async def expire_tokens(self, account_id: str | None = None) -> int:
        body = {"account_id": account_id} if account_id else {}
        return int((await self._request("POST", "/tokens/expire", body))["expired"])

    async def revoke_refresh_tokens(self, account_id: str | None = None) -> int:
        body = {"account_id": account_id} if account_id else {}
        return int((await self._request("POST", "/tokens/revoke", body))["revoked"])

    # ------------------------------------------------------------------ profiles & calendars

    async def disconnect_profile(self, profile_id: str) -> Json:
        result: Json = await self._request("POST", f"/profiles/{profile_id}/disconnect", {})
        return result

    async def reconnect_profile(self, profile_id: str) -> Json:
        result: Json = await self._request("POST", f"/profiles/{profile_id}/reconnect", {})
        return result

    async def set_profile(
        self, profile_id: str, *, connected: bool | None = None, locked: bool | None = None
    ) -> Json:
        body: Json = {}
        if connected is not None:
            body["connected"] = connected
        if locked is not None:
            body["locked"] = locked
        result: Json = await self._request("PATCH", f"/profiles/{profile_id}", body)
        return result

    async def add_calendar(self, profile_id: str, name: str, *, color: str | None = None) -> Json:
        body: Json = {"name": name}
        if color is not None:
            body["color"] = color
        data = await self._request("POST", f"/profiles/{profile_id}/calendars", body)
        return dict(data["calendar"])

    async def delete_calendar(self, calendar_id: str) -> Json:
        """The user deletes a calendar: listed with ``calendar_deleted: true`` from now on."""
        data = await self._request("DELETE", f"/calendars/{calendar_id}")
        return dict(data["calendar"])

    # ------------------------------------------------------------------ external events

    async def add_events(self, calendar_id: str, spec: Json) -> list[Json]:
        data = await self._request("POST", f"/calendars/{calendar_id}/events", spec)
        return list(data["events"])

    async def add_event(self, calendar_id: str, **spec: Any) -> Json:
        """One external event: ``start``/``end`` (``"2026-11-24T09:00:00Z"``, ``"2026-11-24"``
        or ``{"time", "tzid"}``), ``summary``, ``status``, ``transparency``,
        ``participation_status``, ``event_uid``, ``recurrence`` (then see :meth:`add_events`)."""
        return (await self.add_events(calendar_id, spec))[0]

    async def update_event(self, event_uid: str, **spec: Any) -> Json:
        data = await self._request("PATCH", f"/events/{event_uid}", spec)
        return dict(data["event"])

    async def move_event(self, event_uid: str, start: Any, end: Any) -> Json:
        return await self.update_event(event_uid, start=start, end=end)

    async def delete_event(self, event_uid: str) -> Json:
        data = await self._request("DELETE", f"/events/{event_uid}")
        return dict(data["event"])

    async def delete_series(self, series_identifier: str) -> list[Json]:
        data = await self._request("DELETE", f"/series/{series_identifier}")
        return list(data["events"])

    async def calendar_events(self, calendar_id: str) -> list[Json]:
        data = await self._request("GET", f"/calendars/{calendar_id}/events")
        return list(data["events"])

    # ------------------------------------------------------------------ channels & logs

    async def channels(self) -> list[Json]:
        data = await self._request("GET", "/channels")
        return list(data["channels"])

    async def channel(self, channel_id: str) -> Json:
        result: Json = await self._request("GET", f"/channels/{channel_id}")
        return result

    async def wait_notifications(self, seconds: float = 10.0) -> bool:
        """``True`` once no delivery is pending; ``False`` if still busy after ``seconds``."""
        try:
            await self._request("POST", "/notifications/wait", {"timeout": seconds})
        except EmulatorControlError as exc:
            if exc.status == 408:
                return False
            raise
        return True

    async def request_log(self, limit: int | None = None) -> Json:
        path = "/requests" if limit is None else f"/requests?limit={limit}"
        result: Json = await self._request("GET", path)
        return result

    async def request_counts(self) -> dict[str, int]:
        data = await self.request_log(limit=0)
        return {str(k): int(v) for k, v in data["counts"].items()}

    async def clear_request_log(self) -> None:
        await self._request("DELETE", "/requests")

    # ------------------------------------------------------------------ faults & rate limit

    async def add_fault(self, **rule: Any) -> Json:
        """``endpoint`` ("GET /v1/events", "/v1/available_periods" or "*"), ``latency_ms``,
        ``error_rate``/``error_count``/``error_status``, ``rate_limit_count``/
        ``rate_limit_rate``/``retry_after``, ``drop_rate``/``drop_count``, ``hold`` (park
        every matching request until :meth:`release_fault`)."""
        result: Json = await self._request("POST", "/faults", rule)
        return result

    async def wait_held(self, fault_id: str, count: int = 1, *, seconds: float = 10.0) -> Json:
        """Wait (at the emulator) until the ``hold`` rule parks ``count`` requests; the rule,
        with ``held``. :class:`TimeoutError` after ``seconds``."""
        try:
            result: Json = await self._request(
                "POST", f"/faults/{fault_id}/wait", {"held": count, "timeout": seconds}
            )
        except EmulatorControlError as exc:
            if exc.status == 408:
                raise TimeoutError(f"fault {fault_id} held fewer than {count} requests") from exc
            raise
        return result

    async def release_fault(self, fault_id: str) -> Json:
        """Open the gate of a ``hold`` rule: its parked requests go on, later ones pass."""
        result: Json = await self._request("POST", f"/faults/{fault_id}/release")
        return result

    async def faults(self) -> list[Json]:
        return list((await self._request("GET", "/faults"))["faults"])

    async def remove_fault(self, fault_id: str) -> None:
        await self._request("DELETE", f"/faults/{fault_id}")

    async def clear_faults(self) -> None:
        await self._request("DELETE", "/faults")

    async def rate_limit(self) -> Json:
        result: Json = await self._request("GET", "/rate_limit")
        return result

    async def set_rate_limit(self, **settings: Any) -> Json:
        """``enabled``, ``per_second``, ``per_minute``, ``retry_after`` (seconds or ``None``)."""
        result: Json = await self._request("PUT", "/rate_limit", settings)
        return result
