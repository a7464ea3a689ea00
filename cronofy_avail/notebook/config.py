"""Configuration for notebooks: the ``.env`` found from the kernel's directory up to the
project root, and errors that read as one message instead of a traceback.

>>> from cronofy_avail.notebook.config import load_settings     # doctest: +SKIP
>>> settings = load_settings(require_app=True)
>>> print(settings.env_note())       # read /home/ada/cronofy-avail/.env; tried ./.env, ../.env

No widget library here: notebook 03 (and scripts) use it without the wizard.
"""

from __future__ import annotations

from cronofy_avail.app.settings import ConfigError, Settings, find_env_file, shown_path


class NotebookError(Exception):
    """A failure a notebook shows as its message only: IPython prints what
    ``_render_traceback_`` returns instead of the traceback (``debug=True`` keeps the
    original exception and its traceback)."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{line}\x1b[0m" for line in str(self).splitlines()]


def load_settings(*, require_app: bool = False, debug: bool = False) -> Settings:
    """The settings from the environment over the nearest ``.env`` (this directory, then
    each parent up to the project root); ``require_app``: the application's client id and
    secret must be set. A problem is a :class:`NotebookError` whose message says what is
    missing, which ``.env`` was read and where else was looked (``debug``: the
    :class:`~cronofy_avail.app.settings.ConfigError` itself, traceback and all)."""
    try:
        settings = Settings.load(search_parents=True)
    except ConfigError as exc:  # an invalid value, in the environment or the file found
        if debug:
            raise
        search = find_env_file()
        tried = ", ".join(shown_path(p) for p in search.tried)
        read = f"read {search.found}" if search.found else "no .env file found"
        raise NotebookError(f"{exc} ({read}; tried {tried})") from None
    try:
        if require_app:
            settings.require_app()
    except ConfigError as exc:  # the message says which .env was read and where else
        if debug:
            raise
        raise NotebookError(str(exc)) from None
    return settings


__all__ = ["NotebookError", "load_settings"]
