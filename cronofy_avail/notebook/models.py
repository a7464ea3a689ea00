"""The wizard's models: one small ``traitlets`` model per step, the week's, and the order.

aiidalab-qe's step panels are the shape: each step's state lives in a model, and a thin view
(:mod:`.views`) links its widgets to that model's traits, so a widget cannot be forgotten by a
hand-written redraw. :class:`WizardModel` owns the order (a step can run once the one before it
is done) and the invalidation (a changed input sends its step and every later one back).

No widget library here: ``traitlets`` only, so the models are tested in plain pytest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar, overload
from zoneinfo import ZoneInfo

from traitlets import Any as AnyTrait
from traitlets import Bool, HasTraits, Int, List, Unicode, UseEnum

from cronofy_avail.notebook.steps import _ABOUT, ICONS, STEP_KEYS, StepState

T = TypeVar("T")


class StepModel(HasTraits):
    """One step: its state, what it did (``summary``, ``lines``) or why it failed
    (``error``: cause and fix), and whether it may run (the step before it is done)."""

    state = UseEnum(StepState, default_value=StepState.WAITING)
    summary = Unicode("")
    error = Unicode(None, allow_none=True)
    lines = List(Unicode())
    runnable = Bool(False)
    """Set by :class:`WizardModel`: the step before this one is done (or this is the first)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.title, self.about = _ABOUT[key]

    @property
    def icon(self) -> str:
        return ICONS[self.state]

    def clear(self) -> None:
        self.summary, self.error, self.lines = "", None, []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key} {self.state}>"


class ConnectModel(StepModel):
    profiles: List[Any] = List()
    """The account's calendar profiles (:class:`~cronofy_avail.core.models.Profile`)."""
    authorization = Unicode("")
    """What the Authorize flow says (never a token)."""
    authorize_url = Unicode("")
    """The authorization page waiting to be opened (a link, no secret in it)."""
    oauth_pending = Bool(False)
    """A redirect listener waits for Cronofy to come back."""


class CalendarModel(StepModel):
    calendar = AnyTrait(None, allow_none=True)
    """The sub calendar (:class:`~cronofy_avail.core.models.Calendar`) once made or reused."""


class ChannelModel(StepModel):
    channel = AnyTrait(None, allow_none=True)


class SyncModel(StepModel):
    busy = Bool(False)
    """A full reconcile started here is running."""
    progress = AnyTrait(None, allow_none=True)
    """The running sync's last progress report (pages read, writes applied), or ``None``."""
    events: List[Any] = List()
    """The sub calendar's events around today (:class:`~cronofy_avail.core.models.Event`)."""
    periods: List[Any] = List()
    """The account's Available Periods."""
    last_result = AnyTrait(None, allow_none=True)
    fed = Int(0)
    """Lines added to :attr:`feed` so far (the feed itself is a bounded plain list)."""
    refreshes = Int(0)
    """Refreshes finished (deliveries, events, periods, slots read again)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.feed: list[Any] = []


class AvailabilityModel(StepModel):
    managed_slots: List[Any] = List()
    unmanaged_slots: List[Any] = List()
    note = Unicode("")
    """Why the managed answer looks as it does (e.g. no period in the window)."""


class WizardModel(HasTraits):
    """The steps in order; who may run, and what a change sends back."""

    stopped = Bool(False)
    """Shut down: nothing runs here any more."""

    def __init__(self) -> None:
        super().__init__()
        self.connect = ConnectModel("connect")
        self.calendar = CalendarModel("calendar")
        self.channel = ChannelModel("channel")
        self.sync = SyncModel("sync")
        self.availability = AvailabilityModel("availability")
        self.steps: dict[str, StepModel] = {key: getattr(self, key) for key in STEP_KEYS}
        for step in self.steps.values():
            step.observe(self._order, names="state")
        self.steps[STEP_KEYS[0]].state = StepState.READY
        self._order()

    def _order(self, _change: Any = None) -> None:
        before = True
        for key in STEP_KEYS:
            step = self.steps[key]
            step.runnable = before
            before = step.state == StepState.DONE

    @property
    def ok(self) -> bool:
        return all(s.state == StepState.DONE for s in self.steps.values())

    def can_run(self, key: str) -> bool:
        return bool(self.steps[key].runnable)

    def invalidate(self, key: str) -> None:
        """``key`` drops from done/failed back to ready; the later steps wait for it again."""
        step = self.steps[key]
        if step.state != StepState.RUNNING:
            step.state = StepState.READY if step.runnable else StepState.WAITING
        for later in STEP_KEYS[STEP_KEYS.index(key) + 1 :]:
            if self.steps[later].state != StepState.RUNNING:
                self.steps[later].state = StepState.WAITING

    def finished(self, key: str) -> None:
        """``key`` is done: the next step, if it was waiting, is ready."""
        self.steps[key].state = StepState.DONE
        index = STEP_KEYS.index(key) + 1
        if index < len(STEP_KEYS) and self.steps[STEP_KEYS[index]].state == StepState.WAITING:
            self.steps[STEP_KEYS[index]].state = StepState.READY

    def reset_after(self, key: str) -> None:
        """Every step after ``key`` waits, with nothing to show (a new connection)."""
        for later in STEP_KEYS[STEP_KEYS.index(key) + 1 :]:
            self.steps[later].state = StepState.WAITING
            self.steps[later].clear()


class WeekModel(HasTraits):
    """Which seven days the week view shows, and which bar is selected.

    A rolling week rather than the calendar week: the first day is today, or whole weeks from
    it. On a Sunday, "tomorrow" is in view, and so is everything the buttons and notebooks add.
    """

    offset = Int(0)
    """Whole weeks from today."""
    selected = Unicode(None, allow_none=True)
    """The bar ``"<kind>:<id>"`` clicked (or chosen with the keyboard)."""
    show_unmanaged = Bool(False)
    """Also draw the slots an availability query without managed availability offers."""

    def __init__(self, today: Callable[[], date], tzid: Callable[[], str]) -> None:
        super().__init__()
        self._today, self._tzid = today, tzid

    @property
    def start(self) -> date:
        return self._today() + timedelta(days=7 * self.offset)

    def day_of(self, moment: date | datetime) -> date:
        """A local day, or the day an instant falls on in the user's zone."""
        if isinstance(moment, datetime):
            return moment.astimezone(ZoneInfo(self._tzid())).date()
        return moment

    def in_view(self, day: date) -> bool:
        return 0 <= (day - self.start).days < 7

    def show(self, moment: date | datetime) -> None:
        """Move to the seven days that hold ``moment``, unless they are already in view."""
        day = self.day_of(moment)
        if not self.in_view(day):
            self.offset = (day - self._today()).days // 7

    def follow(self, days: list[date]) -> None:
        """Days of events that just appeared: when none is in view, show the first."""
        if days and not any(self.in_view(d) for d in days):
            self.show(min(days))


class Alias(Generic[T]):
    """An attribute of the controller that is a trait of one of its models (the controller's
    public names stay, while the state lives in the models the views observe)."""

    def __init__(self, model: str, name: str) -> None:
        self.model, self.name = model, name

    @overload
    def __get__(self, obj: None, owner: type) -> Alias[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Alias[T] | T:
        if obj is None:
            return self
        value: T = getattr(self._target(obj), self.name)
        return value

    def __set__(self, obj: object, value: T) -> None:
        setattr(self._target(obj), self.name, value)

    def _target(self, obj: object) -> Any:
        target: Any = obj
        for part in self.model.split("."):
            target = getattr(target, part)
        return target


__all__ = [
    "Alias",
    "AvailabilityModel",
    "CalendarModel",
    "ChannelModel",
    "ConnectModel",
    "StepModel",
    "SyncModel",
    "WeekModel",
    "WizardModel",
]
