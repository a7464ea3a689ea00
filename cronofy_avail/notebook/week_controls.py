"""Controls for the week view, one small factory each, for the wizard to place and wire.

:func:`unmanaged_toggle` is the switch for the unmanaged slots (the free time of an
availability query *without* managed availability). Its ``value`` is ``render_week``'s
``show_unmanaged``, nothing more: the picture's legend follows from that same flag. The
wizard links it to its week model's ``show_unmanaged``, which the week view observes.

Off by default, as the wizard has always drawn the week: the unmanaged slots cover most of it.
"""

from __future__ import annotations

import ipywidgets as w

UNMANAGED_CLASS = "cav-week-unmanaged"
"""The checkbox's CSS class (what a browser test or a stylesheet looks for)."""


def unmanaged_toggle(value: bool = False) -> w.Checkbox:
    """A checkbox "Show slots without managed availability" (class ``cav-week-unmanaged``);
        its ``value`` goes to ``render_week(..., show_unmanaged=...)`` (in the wizard, through
    :attr:`~cronofy_avail.notebook.models.WeekModel.show_unmanaged`)."""
    box = w.Checkbox(
        value=value,
        description="Show slots without managed availability",
        indent=False,
        tooltip="Also draw the free time of an availability query without managed "
        "availability (grey marks), and its entry in the legend",
    )
    box.add_class(UNMANAGED_CLASS)
    return box


__all__ = ["UNMANAGED_CLASS", "unmanaged_toggle"]
