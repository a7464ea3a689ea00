"""cronofy_avail: control Cronofy Available Periods with a sub calendar."""

from ._version import __version__

__all__ = ["__version__"]
