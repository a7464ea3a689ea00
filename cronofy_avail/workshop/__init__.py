"""The workshop, in one place: the instructor's side (:mod:`.server`, :mod:`.classroom`, the
relay boxes in :mod:`.relay`) and the attendee's (:mod:`.attendee`, the relay pump in
:mod:`.pump`). ``cronofy-avail workshop`` starts a :class:`WorkshopServer`; the wizard's
"shared emulator" option and notebooks join it as a :class:`WorkshopAttendee`."""

from __future__ import annotations

from cronofy_avail.workshop.attendee import (
    Joined,
    WorkshopAttendee,
    WorkshopError,
    join_workshop,
    rejoin_workshop,
    split_workshop_url,
)
from cronofy_avail.workshop.pump import RelayPump
from cronofy_avail.workshop.server import WorkshopServer

__all__ = [
    "Joined",
    "RelayPump",
    "WorkshopAttendee",
    "WorkshopError",
    "WorkshopServer",
    "join_workshop",
    "rejoin_workshop",
    "split_workshop_url",
]
