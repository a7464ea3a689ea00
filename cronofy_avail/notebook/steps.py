"""The wizard's steps as data: their states, titles and texts, the inputs and the secrets.

No behaviour here: each step's state is a model (:mod:`.models`), and
:class:`~cronofy_avail.notebook.controller.WizardController` runs the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cronofy_avail.app.oauth import DEFAULT_PORT
from cronofy_avail.notebook.config import NotebookError


class StepState(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


ICONS = {
    # Plain symbols every font has (DejaVu included): emoji show as boxes on bare Linux.
    StepState.WAITING: "○",
    StepState.READY: "▶",
    StepState.RUNNING: "◐",
    StepState.DONE: "✔",
    StepState.FAILED: "✘",
}

MODES = ("embedded", "shared", "cronofy")
"""Connect options: the embedded emulator, a shared emulator by URL, real Cronofy."""

STEP_KEYS = ("connect", "calendar", "channel", "sync", "availability")

_ABOUT = {
    "connect": (
        "0. Connect",
        "Your application talks to Cronofy with an access token per user and signs nothing "
        "itself; Cronofy signs every push notification with your client secret. Here that is "
        "the emulator in this kernel (default), a shared emulator, or real Cronofy.",
    ),
    "calendar": (
        "1. Sub calendar",
        "Cronofy creates a calendar in one of the user's connected profiles (or we reuse the "
        "one already called Availability). Every event the user puts there will become an "
        "Available Period.",
    ),
    "channel": (
        "2. Channel",
        "Cronofy registers a push channel filtered to that calendar and POSTs to its callback "
        "URL on every change. It first sends a signed verification notification, which the "
        "receiver checks against the client secret.",
    ),
    "sync": (
        "3. Sync, live",
        "On each change notification we read the events changed since changes_since (deleted "
        "and moved ones too) and upsert or delete one Available Period per event. A full "
        "reconcile compares everything and repairs what notifications cannot tell.",
    ),
    "availability": (
        "4. Availability",
        "Cronofy answers availability queries; with managed availability the user is only "
        "free inside their Available Periods. The sub calendar itself is left out of the "
        "busy calendars, or its events would cancel the very periods made from them.",
    ),
}

INPUT_STEP = {
    "mode": "connect",
    "emulator_url": "connect",
    "data_center": "connect",
    "tzid": "connect",
    "user_id": "connect",
    "profile_id": "calendar",
    "callback_url": "channel",
    "minutes": "availability",
    "days": "availability",
    "redirect_port": "connect",
    "name": "connect",
}
"""Which step each input belongs to: changing it drops that step and the later ones back."""

TRAP = (
    "Busy-calendar trap: the Availability calendar is not consulted for busy time. Its own "
    "events are opaque, so consulting it would make every Available Period busy and the "
    "managed answer empty."
)


class WizardError(NotebookError):
    """A step was asked for out of order, or an input is missing; the message says what to do
    (in a notebook, the message alone: no traceback)."""


@dataclass
class Inputs:
    mode: str = "embedded"
    emulator_url: str = ""
    data_center: str = "us"
    tzid: str = "Europe/London"
    user_id: str = "notebook"
    profile_id: str | None = None
    callback_url: str = ""
    """Public base URL of the receiver; empty: the receiver's own URL (emulator) or ngrok."""
    minutes: int = 60
    days: int = 5
    name: str = ""
    """The attendee's name on a workshop's instructor page (empty: the login name)."""
    redirect_port: int = DEFAULT_PORT
    """Port of the local OAuth redirect (``http://127.0.0.1:PORT/oauth/callback``), by default
    the one ``cronofy-avail authorize`` listens on: register that exact URL with your Cronofy
    application; 0 picks a free one (emulators accept any)."""


class _Secrets:
    """Tokens typed in password fields: held here, never in a widget value or a repr."""

    __slots__ = ("access_token", "client_id", "client_secret", "refresh_token")

    def __init__(self) -> None:
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.client_id: str | None = None
        self.client_secret: str | None = None

    def __repr__(self) -> str:
        return "_Secrets(…)"


__all__ = [
    "ICONS",
    "INPUT_STEP",
    "MODES",
    "STEP_KEYS",
    "TRAP",
    "Inputs",
    "StepState",
    "WizardError",
]
