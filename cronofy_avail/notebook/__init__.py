"""The Jupyter toolkit (optional ``notebook`` extra): a wizard through the four steps.

>>> from cronofy_avail import Wizard           # doctest: +SKIP
>>> wizard = await Wizard.start()             # emulator + receiver in the kernel's loop
>>> wizard                                    # the panels and the live week view
>>> await wizard.run_all()                    # or click through

:mod:`.controller` holds the state and imports no widget library (tested without a browser);
:mod:`.widgets` draws it with ipywidgets and an anywidget week view. The names load lazily so
``import cronofy_avail.notebook.controller`` never imports ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cronofy_avail.notebook.config import NotebookError, load_settings
    from cronofy_avail.notebook.controller import StepState, WizardController
    from cronofy_avail.notebook.widgets import WeekView, Wizard

_WHERE = {
    "NotebookError": "cronofy_avail.notebook.config",
    "load_settings": "cronofy_avail.notebook.config",
    "StepState": "cronofy_avail.notebook.controller",
    "WizardController": "cronofy_avail.notebook.controller",
    "WeekView": "cronofy_avail.notebook.widgets",
    "Wizard": "cronofy_avail.notebook.widgets",
}

__all__ = [
    "NotebookError",
    "StepState",
    "WeekView",
    "Wizard",
    "WizardController",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
