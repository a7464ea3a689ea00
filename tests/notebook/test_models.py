"""The wizard's models (issue 23): the order and the invalidation live in one model, and each
step's view follows its model's traits with no redraw called by anyone."""

from __future__ import annotations

from datetime import date

import ipywidgets as w

from cronofy_avail.notebook.models import WeekModel, WizardModel
from cronofy_avail.notebook.steps import STEP_KEYS, StepState
from cronofy_avail.notebook.views import Later, StepView


def test_only_the_first_step_may_run_at_first() -> None:
    model = WizardModel()
    assert [model.can_run(k) for k in STEP_KEYS] == [True, False, False, False, False]
    assert model.steps["connect"].state == StepState.READY
    assert all(model.steps[k].state == StepState.WAITING for k in STEP_KEYS[1:])


def test_a_finished_step_opens_the_next_and_an_input_change_closes_the_later_ones() -> None:
    model = WizardModel()
    for key in STEP_KEYS[:3]:
        model.finished(key)
    assert [s.state for s in model.steps.values()] == [
        StepState.DONE, StepState.DONE, StepState.DONE, StepState.READY, StepState.WAITING,
    ]  # fmt: skip
    assert model.can_run("sync")
    assert not model.can_run("availability")
    model.invalidate("calendar")
    assert [s.state for s in model.steps.values()] == [
        StepState.DONE, StepState.READY, StepState.WAITING, StepState.WAITING, StepState.WAITING,
    ]  # fmt: skip
    assert not model.can_run("channel")


def test_a_running_step_keeps_running_when_an_earlier_one_is_invalidated() -> None:
    model = WizardModel()
    model.finished("connect")
    model.steps["calendar"].state = StepState.RUNNING
    model.invalidate("connect")
    assert model.steps["calendar"].state == StepState.RUNNING
    assert model.steps["connect"].state == StepState.READY


def test_a_step_view_follows_its_model_without_a_redraw() -> None:
    model = WizardModel()
    run, next_, status = w.Button(), w.Button(), w.HTML()
    view = StepView(model.steps["calendar"], run, next_, status)
    assert run.disabled
    assert next_.disabled
    model.finished("connect")  # the order changes: calendar may run now
    assert not run.disabled
    assert next_.disabled
    model.steps["calendar"].summary = 'Created "Availability".'
    assert "Created &quot;Availability&quot;." in status.value
    model.steps["calendar"].state = StepState.RUNNING
    assert run.disabled
    assert "running" in status.value
    model.finished("calendar")
    assert not next_.disabled
    assert "done" in status.value
    assert view.title() == "✔ 1. Sub calendar (done)"


def test_the_week_shows_whole_weeks_from_today_and_follows_what_appears() -> None:
    today = date(2031, 3, 2)  # a Sunday
    week = WeekModel(lambda: today, lambda: "Europe/London")
    assert week.start == today
    assert week.in_view(date(2031, 3, 8))
    week.follow([date(2031, 3, 20), date(2031, 3, 17)])
    assert week.offset == 2
    assert week.start == date(2031, 3, 16)
    week.follow([date(2031, 3, 21), date(2031, 1, 1)])  # one of them in view: stay
    assert week.offset == 2
    week.show(date(2031, 2, 27))
    assert week.offset == -1


def test_later_draws_once_for_many_changes() -> None:
    drawn: list[int] = []
    later = Later(lambda: drawn.append(1))
    later()  # no running loop: drawn at once
    assert drawn == [1]


async def test_later_coalesces_on_a_loop_and_flush_draws_what_is_due() -> None:
    drawn: list[int] = []
    later = Later(lambda: drawn.append(1))
    for _ in range(5):
        later()
    assert drawn == []
    later.flush()
    later.flush()
    assert drawn == [1]
