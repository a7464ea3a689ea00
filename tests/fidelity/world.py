"""The seeded world the fidelity cases replay against (its fixture: ``world`` in
``tests/fidelity/conftest.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from cronofy_avail.emulator import Emulator, EmulatorAccount


@dataclass
class World:
    emulator: Emulator
    account: EmulatorAccount
    other: EmulatorAccount
    event_uid: str

    def placeholders(self) -> dict[str, str]:
        return {
            "calendar_id": self.account.calendar_id,
            "profile_id": self.account.profile_id,
            "sub": self.account.sub,
            "sub2": self.other.sub,
            "event_uid": self.event_uid,
            "client_id": self.emulator.client_id,
            "client_secret": self.emulator.client_secret,
            "refresh_token": self.account.refresh_token,
            # Nothing listens on the discard port: verification deliveries fail fast and the
            # emulator cancels their retries when it stops.
            "callback_url": "http://127.0.0.1:9/cronofy/callback",
        }

    async def prepare(self, setup: str | None) -> None:
        state = self.emulator.state
        record = state.accounts[self.account.account_id]
        if setup is None:
            return
        if setup == "calendar named test-calendar":
            state.create_calendar(
                record, {"profile_id": self.account.profile_id, "name": "test-calendar"}
            )
        elif setup == "one available period":
            state.upsert_period(
                record,
                {
                    "available_period_id": "qTtZdczOccgaPncGJaCiLg",
                    "start": "2026-11-24T09:00:00Z",
                    "end": "2026-11-24T17:00:00Z",
                },
            )
        else:  # pragma: no cover - a typo in cases.py
            raise AssertionError(f"unknown setup {setup!r}")
