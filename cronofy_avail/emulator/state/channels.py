"""Push notification channels: created, listed and closed by the application, closed by the
emulator when deliveries keep failing. Deliveries themselves are :mod:`..notifications`'."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cronofy_avail.emulator.state.records import AccessToken, AccountRecord, ChannelRecord, Json
from cronofy_avail.emulator.state.shared import StateContext, random_hex
from cronofy_avail.emulator.validation import ApiError, Errors, parse_bool, unprocessable

CALLBACK_URL_MAX_LENGTH = 128


def same_filters(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Channel filters compare as sets of calendars: the order they were listed in is noise."""

    def canonical(filters: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(filters)
        if out.get("calendar_ids") is not None:
            out["calendar_ids"] = sorted(set(out["calendar_ids"]))
        return out

    return canonical(a) == canonical(b)


class Channels:
    """Every account's channels, and which account owns each channel id."""

    def __init__(self, ctx: StateContext) -> None:
        self.ctx = ctx
        self.reset()

    def reset(self) -> None:
        self._owner: dict[str, str] = {}

    def create_channel(self, account: AccountRecord, token: AccessToken, body: Json) -> Json:
        if token.kind != "application":
            raise ApiError(403, reason="push notifications need an application token")
        errors = Errors()
        url = body.get("callback_url")
        if not url:
            errors.required("callback_url")
        elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
            errors.invalid("callback_url", "callback_url must be an absolute http(s) URL")
        elif len(url) > CALLBACK_URL_MAX_LENGTH:
            # pycronofy Client.create_notification_channel: "Must not be longer than 128
            # characters".
            errors.add(
                "callback_url",
                "errors.too_long",
                f"callback_url must be {CALLBACK_URL_MAX_LENGTH} characters or fewer",
            )
        filters_in = body.get("filters")
        filters: Json = {}
        if filters_in is not None and not isinstance(filters_in, Mapping):
            errors.invalid("filters", "filters must be an object")
        elif filters_in:
            ids = filters_in.get("calendar_ids")
            if ids is not None:
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    errors.invalid("filters", "filters.calendar_ids must be a list of ids")
                elif not ids:
                    # Cronofy's docs: at least one id when calendar_ids is given.
                    errors.invalid("filters", "filters.calendar_ids must hold at least one id")
                elif any(i not in account.calendars for i in ids):
                    errors.invalid("filters", "filters.calendar_ids holds an unknown calendar")
                else:
                    filters["calendar_ids"] = list(ids)
            if filters_in.get("only_managed") is not None:
                only = parse_bool(filters_in.get("only_managed"))
                if only is None:
                    errors.invalid("filters", "filters.only_managed must be true or false")
                else:
                    filters["only_managed"] = only
        errors.raise_if_any()
        assert isinstance(url, str)
        for channel in account.channels.values():
            if (
                channel.active
                and channel.callback_url == url
                and same_filters(channel.filters, filters)
            ):
                return {"channel": channel.json()}
        if sum(c.active for c in account.channels.values()) >= self.ctx.config.max_channels:
            raise unprocessable(
                "channel",
                "errors.too_many_channels",
                f"an account may have at most {self.ctx.config.max_channels} channels",
            )
        channel = ChannelRecord(
            channel_id=f"chn_{random_hex(12)}",
            account_id=account.account_id,
            callback_url=url,
            filters=filters,
            created=self.ctx.clock(),
        )
        account.channels[channel.channel_id] = channel
        self._owner[channel.channel_id] = account.account_id
        if self.ctx.observer is not None:
            self.ctx.observer.channel_created(channel)
        return {"channel": channel.json()}

    def list_channels(self, account: AccountRecord) -> Json:
        return {"channels": [c.json() for c in account.channels.values() if c.active]}

    def close_channel(self, account: AccountRecord, channel_id: str, reason: str = "") -> None:
        channel = account.channels.get(channel_id)
        if channel is None or not channel.active:
            raise ApiError(404, reason="no such channel")
        self._close(channel, reason or "closed by the application")

    def _close(self, channel: ChannelRecord, reason: str) -> None:
        channel.active = False
        channel.closed_reason = reason
        if self.ctx.observer is not None:
            self.ctx.observer.channel_closed(channel)

    def close_channel_for_failures(self, channel: ChannelRecord) -> None:
        if channel.active:
            self._close(channel, "delivery failed for longer than the failure window")

    def channel(self, channel_id: str) -> ChannelRecord:
        account = self.ctx.owner(self._owner, channel_id, "channel")
        return account.channels[channel_id]

    def all_channels(self) -> list[ChannelRecord]:
        return [c for a in self.ctx.accounts.values() for c in a.channels.values()]
