"""The exercises' lab is played the way the wizard and a workshop attendee are: awaited."""

from __future__ import annotations

import inspect

from cronofy_avail.notebook.exercises import Lab
from cronofy_avail.workshop import WorkshopAttendee


def test_adding_availability_is_awaited_everywhere_an_attendee_plays_the_user() -> None:
    # A synchronous lab.add_availability made `await lab.add_availability(...)` raise
    # TypeError after adding the event, and its check then said "solved".
    assert inspect.iscoroutinefunction(Lab.add_availability)
    assert inspect.iscoroutinefunction(WorkshopAttendee.add_availability)
