"""Configuration of the real-Cronofy commands, from the environment or a ``.env`` file.

The environment overrides ``.env``. The ``.env`` parser is deliberately small: ``NAME=value``
lines, ``#`` comments, blank lines, an optional ``export`` prefix and single or double quotes.

Secrets (client secret, access and refresh tokens) never appear in ``repr`` or in
:meth:`Settings.masked`: at most a recognisable prefix and the last two characters are shown.

Pure apart from reading the ``.env`` file: no network, no aiohttp.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cronofy_avail.core.hosts import DATA_CENTERS, api_base_url
from cronofy_avail.runtime.inputs import InputError, check_public_url, check_tzid

ENV_CLIENT_ID = "CRONOFY_CLIENT_ID"
ENV_CLIENT_SECRET = "CRONOFY_CLIENT_SECRET"  # noqa: S105 - a variable name
ENV_ACCESS_TOKEN = "CRONOFY_ACCESS_TOKEN"  # noqa: S105 - a variable name
ENV_REFRESH_TOKEN = "CRONOFY_REFRESH_TOKEN"  # noqa: S105 - a variable name
ENV_DATA_CENTER = "CRONOFY_DATA_CENTER"
ENV_API_BASE_URL = "CRONOFY_API_BASE_URL"
ENV_DB = "CRONOFY_AVAIL_DB"
ENV_USER = "CRONOFY_AVAIL_USER"
ENV_TZID = "CRONOFY_TZID"
ENV_MAX_ATTEMPTS = "CRONOFY_AVAIL_MAX_ATTEMPTS"
ENV_PUBLIC_URL = "CRONOFY_AVAIL_PUBLIC_URL"
ENV_SYNC_OVERLAP = "CRONOFY_AVAIL_SYNC_OVERLAP"

DEFAULT_DB = Path("~/.cronofy_avail/state.db")
DEFAULT_USER = "default"
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_SYNC_OVERLAP = 2.0
MAX_SYNC_OVERLAP = 3600.0

_DASHBOARD = "the Cronofy developer dashboard (https://app.cronofy.com/oauth/applications)"
WHERE_TO_GET: dict[str, str] = {
    ENV_CLIENT_ID: f"your application's page in {_DASHBOARD}",
    ENV_CLIENT_SECRET: f"your application's page in {_DASHBOARD}",
    ENV_ACCESS_TOKEN: (
        "run `cronofy-avail authorize` (it stores them where `setup` finds them), or "
        "authorize the user through your application's OAuth flow (scopes "
        "'read_account list_calendars create_calendar read_events') and exchange the code; "
        "a personal token from the dashboard cannot create push channels"
    ),
    ENV_REFRESH_TOKEN: "the same OAuth code exchange that returns the access token",
}


class ConfigError(Exception):
    """The configuration is missing or wrong; the message names the variable and the fix."""


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.)")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_SINGLE_QUOTED = re.compile(r"'([^']*)'")


class _ValueError(Exception):
    """A value that cannot be parsed; the message never contains the value."""


def _unquote(value: str) -> str:
    """The value of a ``NAME=value`` line.

    Quoted: the quoted part, whatever follows it (a ``# comment``) ignored; escapes of a
    double-quoted value are decoded in one pass (``\\n`` stays a backslash and ``n``).
    Unquoted: an inline comment starts at `` #``.
    """
    stripped = value.strip()
    if stripped[:1] in ("'", '"'):
        quoted = (_DOUBLE_QUOTED if stripped[0] == '"' else _SINGLE_QUOTED).match(stripped)
        if quoted is None:
            raise _ValueError("the value opens a quote that is not closed")
        inner = quoted.group(1)
        if stripped[0] == '"':
            inner = _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), inner)
        return inner
    hashed = re.search(r"\s#", value)
    if hashed:
        value = value[: hashed.start()]
    return value.strip()


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_env(text: str, *, source: str = ".env") -> dict[str, str]:
    """``NAME=value`` pairs of a ``.env`` file (comments, blanks, ``export``, quotes).

    Errors name the file and the line, never a value: a malformed line may hold a secret.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(
                f"{source}:{number}: line {number} has no '=' (expected NAME=value; "
                "the line is not shown, it may hold a secret)"
            )
        if not _NAME.match(name):
            raise ConfigError(
                f"{source}:{number}: the part before '=' on line {number} is not a variable "
                "name (letters, digits and _, not starting with a digit)"
            )
        try:
            values[name] = _unquote(value)
        except _ValueError as exc:
            raise ConfigError(f"{source}:{number}: {name}: {exc}") from None
    return values


_PREFIXED = re.compile(r"^[A-Za-z]{2,4}_")


def mask(value: str | None) -> str:
    """A secret as it may be shown: ``CRN_…4f`` (prefix and last 2 characters) or ``***``."""
    if not value:
        return "(not set)"
    if len(value) < 16:
        return "***"
    prefix = _PREFIXED.match(value)
    return f"{prefix.group(0) if prefix else ''}…{value[-2:]}"


def hide_userinfo(url: str) -> str:
    """``url`` with a ``user:password@`` part masked (it may hold a password)."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if sep and "@" in host:
        host = "***@" + host.rpartition("@")[2]
    return f"{scheme}{sep}{host}{slash}{path}"


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    client_id: str | None = None
    client_secret: str | None = None
    """One secret, or several comma-separated (the current one first) while rotating."""
    access_token: str | None = None
    refresh_token: str | None = None
    data_center: str = "us"
    api_base_url: str | None = None
    db_path: Path = DEFAULT_DB
    user_id: str = DEFAULT_USER
    tzid: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """Tries of one request (retries of 429/5xx/connection failures included)."""
    env_file: Path | None = None
    """The ``.env`` file that was read, if any."""
    public_url: str | None = None
    """The public base URL of the receiver (``setup``/``serve`` without ``--public-url``)."""
    db_url: str | None = None
    """A ``postgresql://`` URL when the store is PostgreSQL (``db_path`` is then only the local
    anchor of this machine's admin token, derived from the URL)."""
    sync_overlap: float = DEFAULT_SYNC_OVERLAP
    """Seconds an incremental read starts before Cronofy's clock at the last read (see
    ``SyncEngine.served_overlap``)."""

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = Path(".env"),
        *,
        env_file_required: bool = False,
    ) -> Settings:
        """Settings from ``environ`` (default ``os.environ``) over the ``.env`` file.

        An absent ``env_file`` is skipped, unless ``env_file_required`` (a file named on the
        command line): then it is a :class:`ConfigError`.
        """
        env = dict(os.environ if environ is None else environ)
        merged: dict[str, str] = {}
        read_file: Path | None = None
        if env_file is not None and env_file_required and not env_file.is_file():
            what = "is not a file" if env_file.exists() else "does not exist"
            raise ConfigError(
                f"the .env file {env_file} {what}; fix the --env-file path, or leave the "
                "option out to read ./.env when it exists"
            )
        if env_file is not None and env_file.is_file():
            try:
                text = env_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read {env_file}: {exc.strerror}") from exc
            merged.update(parse_env(text, source=str(env_file)))
            read_file = env_file
        merged.update({k: v for k, v in env.items() if k.startswith(("CRONOFY_",))})

        def get(name: str) -> str | None:
            value = merged.get(name, "").strip()
            return value or None

        data_center = (get(ENV_DATA_CENTER) or "us").lower()
        if data_center not in DATA_CENTERS:
            raise ConfigError(
                f"{ENV_DATA_CENTER}={data_center!r} is not a Cronofy data center; use one of "
                f"{', '.join(DATA_CENTERS)} (the one your developer dashboard's URL names, "
                "e.g. app-uk.cronofy.com → uk)"
            )
        base_url = get(ENV_API_BASE_URL)
        if base_url is not None:
            if not re.match(r"^https?://[^/\s]+", base_url):
                raise ConfigError(
                    f"{ENV_API_BASE_URL}={hide_userinfo(base_url)!r} must be an absolute "
                    "http(s) URL such as http://127.0.0.1:8181 (the emulator); unset it to use "
                    "Cronofy itself"
                )
            base_url = base_url.rstrip("/")
            try:
                urlsplit(base_url).port  # noqa: B018 - parsing is the check
            except ValueError as exc:
                raise ConfigError(
                    f"{ENV_API_BASE_URL}={hide_userinfo(base_url)!r} has no valid port ({exc}); "
                    "use a URL such as http://127.0.0.1:8181 (the emulator), or unset it to use "
                    "Cronofy itself"
                ) from None
        attempts_text = get(ENV_MAX_ATTEMPTS)
        max_attempts = DEFAULT_MAX_ATTEMPTS
        if attempts_text is not None:
            try:
                max_attempts = int(attempts_text)
            except ValueError:
                max_attempts = 0
            if max_attempts < 1:
                raise ConfigError(f"{ENV_MAX_ATTEMPTS} must be a whole number ≥ 1")
        overlap_text = get(ENV_SYNC_OVERLAP)
        sync_overlap = DEFAULT_SYNC_OVERLAP
        if overlap_text is not None:
            try:
                sync_overlap = float(overlap_text)
            except ValueError:
                sync_overlap = -1.0
            if not 0 <= sync_overlap <= MAX_SYNC_OVERLAP:  # NaN fails too
                raise ConfigError(
                    f"{ENV_SYNC_OVERLAP} must be a number of seconds from 0 to "
                    f"{MAX_SYNC_OVERLAP:.0f} (default {DEFAULT_SYNC_OVERLAP:g}: how far before "
                    "Cronofy's clock at the last read the next incremental read starts)"
                )
        tzid = get(ENV_TZID)
        if tzid is not None:
            try:
                tzid = check_tzid(tzid)
            except InputError as exc:
                raise ConfigError(f"{ENV_TZID}: {exc}") from None
        public_url = get(ENV_PUBLIC_URL)
        if public_url is not None:
            try:
                public_url = check_public_url(public_url)
            except InputError as exc:
                raise ConfigError(
                    f"{ENV_PUBLIC_URL}: {str(exc).removeprefix('--public-url ')}"
                ) from None
        db = get(ENV_DB)
        db_url: str | None = None
        if db is not None and is_postgres_url(db):
            db_url, db = db, str(postgres_anchor(db))
        return cls(
            client_id=get(ENV_CLIENT_ID),
            client_secret=get(ENV_CLIENT_SECRET),
            access_token=get(ENV_ACCESS_TOKEN),
            refresh_token=get(ENV_REFRESH_TOKEN),
            data_center=data_center,
            api_base_url=base_url,
            db_path=Path(db).expanduser() if db else DEFAULT_DB.expanduser(),
            user_id=get(ENV_USER) or DEFAULT_USER,
            tzid=tzid,
            max_attempts=max_attempts,
            env_file=read_file,
            public_url=public_url,
            db_url=db_url,
            sync_overlap=sync_overlap,
        )

    # ------------------------------------------------------------------ requirements

    @property
    def client_secrets(self) -> list[str]:
        """Every configured client secret, the current one first."""
        return [s.strip() for s in (self.client_secret or "").split(",") if s.strip()]

    @property
    def api_url(self) -> str:
        """Where API requests go: the override, else the data center's host."""
        return self.api_base_url or api_base_url(self.data_center)

    def secrets(self) -> list[str]:
        """Every secret value, for output masking."""
        values = [*self.client_secrets, self.client_secret, self.access_token, self.refresh_token]
        userinfo = urlsplit(self.api_base_url or "").netloc.rpartition("@")[0]
        if userinfo:  # a user:password in CRONOFY_API_BASE_URL
            values.append(userinfo + "@")
        if self.db_url:
            values.append(urlsplit(self.db_url).password)
        return [v for v in values if v]

    def _missing(self, name: str) -> ConfigError:
        where = WHERE_TO_GET.get(name, "")
        source = f" or in {self.env_file}" if self.env_file else " or in a .env file"
        return ConfigError(
            f"{name} is not set. Set it in the environment{source}; get it from {where}."
        )

    def require_app(self) -> tuple[str, str]:
        """``(client_id, client_secret)`` or a :class:`ConfigError` naming what is missing."""
        if not self.client_id:
            raise self._missing(ENV_CLIENT_ID)
        if not self.client_secrets:
            raise self._missing(ENV_CLIENT_SECRET)
        return self.client_id, self.client_secrets[0]

    def require_tokens(self) -> None:
        """An access token, or a refresh token to get one."""
        if not self.access_token and not self.refresh_token:
            raise ConfigError(
                f"{ENV_ACCESS_TOKEN} is not set (nor {ENV_REFRESH_TOKEN}), and no tokens are "
                f"stored for this user. To get them, {WHERE_TO_GET[ENV_ACCESS_TOKEN]}."
            )

    # ------------------------------------------------------------------ display

    def masked(self) -> dict[str, Any]:
        """Every setting as it may be shown to a person: secrets masked."""
        return {
            ENV_CLIENT_ID: self.client_id or "(not set)",
            ENV_CLIENT_SECRET: ", ".join(mask(s) for s in self.client_secrets) or "(not set)",
            ENV_ACCESS_TOKEN: mask(self.access_token),
            ENV_REFRESH_TOKEN: mask(self.refresh_token),
            ENV_DATA_CENTER: self.data_center,
            ENV_API_BASE_URL: hide_userinfo(self.api_base_url)
            if self.api_base_url
            else f"(not set: {self.api_url})",
            ENV_DB: redact_db_url(self.db_url) if self.db_url else str(self.db_path),
            ENV_USER: self.user_id,
            ENV_TZID: self.tzid or "(not set: the account's time zone)",
            ENV_PUBLIC_URL: self.public_url or "(not set: --public-url, else the ngrok agent)",
        }

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.masked().items())
        return f"Settings({fields})"

    __str__ = __repr__

    @property
    def db_label(self) -> str:
        """The store as it may be shown: the path, or the URL without its password."""
        return redact_db_url(self.db_url) if self.db_url else str(self.db_path)


def is_postgres_url(value: str) -> bool:
    """Whether ``CRONOFY_AVAIL_DB`` names a PostgreSQL database rather than a file."""
    return value.startswith(("postgresql://", "postgres://"))


def redact_db_url(url: str) -> str:
    """A database URL as it may be shown: the password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def postgres_anchor(url: str) -> Path:
    """This machine's local file anchor for a PostgreSQL store (where ``serve`` keeps the admin
    token): one per server and database, under ``~/.cronofy_avail``."""
    parts = urlsplit(url)
    name = f"{parts.hostname or 'local'}-{parts.port or 5432}-{parts.path.strip('/') or 'db'}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return (DEFAULT_DB.parent / f"pg-{safe}").expanduser()
