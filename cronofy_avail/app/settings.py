"""Configuration of the real-Cronofy commands, from the environment or a ``.env`` file.

:class:`Settings` is a pydantic-settings model: each field names its variable, its type, its
default and its check. :meth:`Settings.load` gives it two sources, the environment over the
``.env`` file; a blank value counts as unset, other variables are ignored. An invalid value is a
:class:`ConfigError` that names the variable, never pydantic's own message (which may quote a
secret).

The ``.env`` parser is our own and deliberately small: ``NAME=value`` lines, ``#`` comments,
blank lines, an optional ``export`` prefix and single or double quotes. (python-dotenv, which
pydantic-settings would use, expands ``${VAR}`` inside values and skips a malformed line with a
warning instead of an error that names the line.)

Secrets (client secret, access and refresh tokens) never appear in ``repr`` or in
:meth:`Settings.masked`: at most a recognisable prefix and the last two characters are shown.

Pure apart from reading the ``.env`` file: no network, no aiohttp.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cronofy_avail.app.inputs import InputError, check_public_url, check_tzid
from cronofy_avail.core.dburl import is_postgres_url, redact_db_url
from cronofy_avail.core.hosts import DATA_CENTERS, api_base_url
from cronofy_avail.core.ratewindows import (
    CRONOFY_DEFAULT_WINDOWS,
    RATE_LIMIT_EXAMPLE,
    RateWindow,
    format_rate_windows,
    parse_rate_windows,
)

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
ENV_DB_GIVE_UP = "CRONOFY_AVAIL_DB_GIVE_UP"
ENV_METRICS_PORT = "CRONOFY_AVAIL_METRICS_PORT"
ENV_METRICS_HOST = "CRONOFY_AVAIL_METRICS_HOST"
ENV_KEY_CACHE = "CRONOFY_AVAIL_KEY_CACHE"
ENV_RATE_LIMIT = "CRONOFY_AVAIL_RATE_LIMIT"

DEFAULT_DB = Path("~/.cronofy_avail/state.db")
DEFAULT_USER = "default"
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_SYNC_OVERLAP = 2.0
MAX_SYNC_OVERLAP = 3600.0
DEFAULT_DB_GIVE_UP = 300.0
DEFAULT_KEY_CACHE = 100_000
"""The same as ``webhook_server.keycache.DEFAULT_KEY_CACHE`` (not imported: no aiohttp here)."""

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


ENV_FILE = ".env"
PROJECT_MARKERS = ("pyproject.toml", ".git")
"""A directory holding one of these is the project root: the search for ``.env`` stops there."""


@dataclass(frozen=True, slots=True)
class EnvSearch:
    """Where :func:`find_env_file` looked, in order, and the file it found (if any)."""

    found: Path | None
    tried: tuple[Path, ...]


def find_env_file(start: Path | None = None) -> EnvSearch:
    """The ``.env`` in ``start`` (default: the working directory) or the nearest directory
    above it, up to the project root (the first directory holding ``pyproject.toml`` or
    ``.git``) or the filesystem root.

    For notebooks: their kernels run in ``notebooks/``, while the README's ``.env`` sits at the
    project's top. The commands read ``./.env`` only (or ``--env-file``)."""
    here = (start or Path.cwd()).absolute()
    tried: list[Path] = []
    for directory in (here, *here.parents):
        candidate = directory / ENV_FILE
        tried.append(candidate)
        if candidate.is_file():
            return EnvSearch(candidate, tuple(tried))
        if any((directory / marker).exists() for marker in PROJECT_MARKERS):
            break
    return EnvSearch(None, tuple(tried))


def shown_path(path: Path, start: Path | None = None) -> str:
    """``path`` as a person reads it: ``./.env``, ``../.env``, or absolute when far away."""
    base = (start or Path.cwd()).absolute()
    try:
        relative = os.path.relpath(path, base)
    except ValueError:  # another drive (Windows)
        return str(path)
    if relative.count("..") > 3:
        return str(path)
    return relative if relative.startswith("..") else f".{os.sep}{relative}"


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


class _Variables(PydanticBaseSettingsSource):
    """The fields whose variable (their ``validation_alias``) ``variables`` holds: the environment,
    or a ``.env`` file. Other names, and the fields without a variable, are left alone."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._variables = variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = field.validation_alias if isinstance(field.validation_alias, str) else None
        return (self._variables.get(name) if name else None), name or field_name, False

    def __call__(self) -> dict[str, Any]:
        names = [field.validation_alias for field in self.settings_cls.model_fields.values()]
        return {n: self._variables[n] for n in names if isinstance(n, str) and n in self._variables}


_RULES = {
    ENV_MAX_ATTEMPTS: "must be a whole number ≥ 1",
    ENV_SYNC_OVERLAP: (
        f"must be a number of seconds from 0 to {MAX_SYNC_OVERLAP:.0f} (default "
        f"{DEFAULT_SYNC_OVERLAP:g}: how far before Cronofy's clock at the last read the next "
        "incremental read starts)"
    ),
    ENV_DB_GIVE_UP: (
        "(or `worker --give-up-after`) must be a number of seconds above 0 (default "
        f"{DEFAULT_DB_GIVE_UP:g}: how long a worker waits for its PostgreSQL database to come "
        "back before it exits with status 1)"
    ),
    ENV_METRICS_PORT: (
        "(or `worker --metrics-port`) must be a port number from 0 to 65535 (0: any free "
        "port): where a worker serves /metrics"
    ),
    ENV_KEY_CACHE: (
        f"must be a whole number ≥ 0 (default {DEFAULT_KEY_CACHE}: how many callback keys a "
        "receiver remembers)"
    ),
}


def _config_error(exc: ValidationError) -> ConfigError:
    """The first problem in our words. Only our own validators' messages are passed on: pydantic's
    may quote the value, and the value may be a secret."""
    error = exc.errors(include_url=False, include_input=False)[0]
    name = ".".join(str(part) for part in error["loc"]) or "the configuration"
    if error["type"] == "value_error":
        return ConfigError(str(error.get("ctx", {}).get("error", f"{name} is not valid")))
    rule = _RULES.get(name, f"is not valid ({error['type']}; the value is not shown)")
    return ConfigError(f"{name} {rule}")


class Settings(BaseSettings):
    """The configuration: :meth:`load` reads it from the environment over a ``.env`` file;
    ``Settings(...)`` takes only its arguments (by field name)."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, hide_input_in_errors=True
    )

    # Declared in the order they are checked: the first invalid one is the one reported.
    client_id: str | None = Field(None, validation_alias=ENV_CLIENT_ID)
    client_secret: str | None = Field(None, validation_alias=ENV_CLIENT_SECRET)
    """One secret, or several comma-separated (the current one first) while rotating."""
    access_token: str | None = Field(None, validation_alias=ENV_ACCESS_TOKEN)
    refresh_token: str | None = Field(None, validation_alias=ENV_REFRESH_TOKEN)
    data_center: str = Field("us", validation_alias=ENV_DATA_CENTER)
    api_base_url: str | None = Field(None, validation_alias=ENV_API_BASE_URL)
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, validation_alias=ENV_MAX_ATTEMPTS)
    """Tries of one request (retries of 429/5xx/connection failures included)."""
    sync_overlap: float = Field(
        DEFAULT_SYNC_OVERLAP, ge=0, le=MAX_SYNC_OVERLAP, validation_alias=ENV_SYNC_OVERLAP
    )
    """Seconds an incremental read starts before Cronofy's clock at the last read (see
    ``SyncEngine.served_overlap``). NaN fails the bounds."""
    db_give_up: float = Field(
        DEFAULT_DB_GIVE_UP, gt=0, allow_inf_nan=False, validation_alias=ENV_DB_GIVE_UP
    )
    """Seconds a cluster worker waits for its PostgreSQL database to come back (a restart, a
    failover) before it gives up and exits non-zero (its supervisor restarts it, or a person
    looks). Receivers never give up: they answer 503 while it is away."""
    metrics_port: int | None = Field(None, ge=0, le=65535, validation_alias=ENV_METRICS_PORT)
    """Where a ``worker`` serves ``/metrics`` (``None``: it does not; ``serve`` always does, on
    its receiver's port)."""
    metrics_host: str = Field("127.0.0.1", validation_alias=ENV_METRICS_HOST)
    """The address a worker's ``/metrics`` listener binds (loopback unless told)."""
    key_cache: int = Field(DEFAULT_KEY_CACHE, ge=0, validation_alias=ENV_KEY_CACHE)
    """Callback keys a receiver remembers (the most recently used), so that the check before
    a notification's body is read needs no store call; a key not among them costs one."""
    rate_limit: tuple[RateWindow, ...] = Field(
        CRONOFY_DEFAULT_WINDOWS, validation_alias=ENV_RATE_LIMIT
    )
    """Cronofy's application-wide limit (every process, every user of the client id
    together), e.g. ``50/s,500/min`` (the default): what every rate limiter the system builds
    enforces, the in-process one and a cluster's shared one alike. Raise it only to what Cronofy
    gave the application."""
    tzid: str | None = Field(None, validation_alias=ENV_TZID)
    public_url: str | None = Field(None, validation_alias=ENV_PUBLIC_URL)
    """The public base URL of the receiver (``setup``/``serve`` without ``--public-url``)."""
    db_path: Path = Field(DEFAULT_DB, validation_alias=ENV_DB)
    db_url: str | None = None
    """A ``postgresql://`` URL when the store is PostgreSQL (``db_path`` is then only the local
    anchor of this machine's admin token, derived from the URL)."""
    user_id: str = Field(DEFAULT_USER, validation_alias=ENV_USER)
    env_file: Path | None = None
    """The ``.env`` file that was read, if any."""
    env_tried: tuple[str, ...] = ()
    """Where :meth:`load` looked for ``.env`` with ``search_parents`` (as shown to people,
    e.g. ``./.env``, ``../.env``); empty when it read one given file."""

    # ------------------------------------------------------------------ loading

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """``Settings(...)`` never reads the process environment: only :meth:`load` does."""
        return (init_settings,)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = Path(ENV_FILE),
        *,
        env_file_required: bool = False,
        search_parents: bool = False,
    ) -> Settings:
        """Settings from ``environ`` (default ``os.environ``) over the ``.env`` file.

        An absent ``env_file`` is skipped, unless ``env_file_required`` (a file named on the
        command line): then it is a :class:`ConfigError`. So is any invalid value: the message
        names the variable and never shows a secret.

        ``search_parents`` (notebooks): instead of ``env_file``, the ``.env`` that
        :func:`find_env_file` finds from the working directory up to the project root;
        :meth:`env_note` then says which one was read, or where none was found.
        """
        tried: tuple[str, ...] = ()
        if search_parents:
            search = find_env_file()
            env_file, env_file_required = search.found, False
            tried = tuple(shown_path(p) for p in search.tried)
        if env_file is not None and env_file_required and not env_file.is_file():
            what = "is not a file" if env_file.exists() else "does not exist"
            raise ConfigError(
                f"the .env file {env_file} {what}; fix the --env-file path, or leave the "
                "option out to read ./.env when it exists"
            )
        file_values: dict[str, str] = {}
        read_file: Path | None = None
        if env_file is not None and env_file.is_file():
            try:
                text = env_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read {env_file}: {exc.strerror}") from exc
            file_values = parse_env(text, source=str(env_file))
            read_file = env_file
        sources = (  # the first source that has a field wins: the environment over .env
            InitSettingsSource(cls, init_kwargs={"env_file": read_file, "env_tried": tried}),
            _Variables(cls, os.environ if environ is None else environ),
            _Variables(cls, file_values),
        )
        try:
            return cls(_build_sources=(sources, {}))
        except ValidationError as exc:
            raise _config_error(exc) from None

    @model_validator(mode="before")
    @classmethod
    def _from_variables(cls, data: Any) -> Any:
        """Values stripped, a blank one unset (an empty variable hides the ``.env`` line);
        ``CRONOFY_AVAIL_DB`` names a file, or a PostgreSQL database and then its local anchor."""
        if not isinstance(data, dict):
            return data
        values = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        values = {k: v for k, v in values.items() if v != ""}
        db = values.get(ENV_DB)
        if isinstance(db, str) and is_postgres_url(db):
            values.update({ENV_DB: postgres_anchor(db), "db_url": db})
        return values

    @field_validator("max_attempts", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        """Whole-number text only, as ``int()`` reads it: pydantic alone would take ``2.0``."""
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return None  # not a number: reported as the variable's rule, without the value
        return value

    @field_validator("data_center")
    @classmethod
    def _known_data_center(cls, value: str) -> str:
        value = value.lower()
        if value not in DATA_CENTERS:
            raise ValueError(
                f"{ENV_DATA_CENTER}={value!r} is not a Cronofy data center; use one of "
                f"{', '.join(DATA_CENTERS)} (the one your developer dashboard's URL names, "
                "e.g. app-uk.cronofy.com → uk)"
            )
        return value

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"{ENV_API_BASE_URL}={hide_userinfo(value)!r} must be an absolute "
                "http(s) URL such as http://127.0.0.1:8181 (the emulator); unset it to use "
                "Cronofy itself"
            )
        value = value.rstrip("/")
        try:
            urlsplit(value).port  # noqa: B018 - parsing is the check
        except ValueError as exc:
            raise ValueError(
                f"{ENV_API_BASE_URL}={hide_userinfo(value)!r} has no valid port ({exc}); "
                "use a URL such as http://127.0.0.1:8181 (the emulator), or unset it to use "
                "Cronofy itself"
            ) from None
        return value

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate_windows(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_rate_windows(value)
        except ValueError as exc:
            raise ValueError(
                f"{ENV_RATE_LIMIT}={value!r} is not a rate limit: {exc}. Write requests per "
                f"period, comma-separated, as {ENV_RATE_LIMIT}={RATE_LIMIT_EXAMPLE} (Cronofy's "
                "default); raise the numbers only to the limit Cronofy gave your application"
            ) from None

    @field_validator("db_path")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("tzid")
    @classmethod
    def _iana_zone(cls, value: str | None) -> str | None:
        try:
            return None if value is None else check_tzid(value)
        except InputError as exc:
            raise ValueError(f"{ENV_TZID}: {exc}") from None

    @field_validator("public_url")
    @classmethod
    def _receiver_url(cls, value: str | None) -> str | None:
        try:
            return None if value is None else check_public_url(value)
        except InputError as exc:
            problem = str(exc).removeprefix("--public-url ")
            raise ValueError(f"{ENV_PUBLIC_URL}: {problem}") from None

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

    def env_note(self) -> str:
        """Which ``.env`` was read, and where :meth:`load` looked when searching, e.g.
        ``read /home/ada/proj/.env; tried ./.env, ../.env``."""
        tried = f"; tried {', '.join(self.env_tried)}" if self.env_tried else ""
        if self.env_file is not None:
            return f"read {self.env_file.absolute()}{tried}"
        return f"no .env file found{tried}" if tried else "no .env file read"

    def _missing(self, name: str) -> ConfigError:
        where = WHERE_TO_GET.get(name, "")
        source = f" or in {self.env_file}" if self.env_file else " or in a .env file"
        if self.env_tried:  # a search: say where it looked
            return ConfigError(
                f"{name} is not set ({self.env_note()}).\nFix: set it in the "
                f"environment{source}; get it from {where}."
            )
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
        shown: dict[str, Any] = {
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
        limit = format_rate_windows(self.rate_limit)
        default = self.rate_limit == CRONOFY_DEFAULT_WINDOWS
        shown[ENV_RATE_LIMIT] = f"{limit} (Cronofy's default)" if default else limit
        if self.db_url is not None:  # a cluster's worker setting
            shown[ENV_DB_GIVE_UP] = f"{self.db_give_up:g} s"
        return shown

    def __repr_args__(self) -> Iterable[tuple[str, object]]:
        """What ``repr``, ``str`` and pydantic's rich/devtools displays show: :meth:`masked`."""
        return self.masked().items()

    def __str__(self) -> str:
        return repr(self)

    def __setattr__(self, name: str, value: object) -> None:
        """Read-only, and unlike pydantic's frozen error this one never quotes the value."""
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    @property
    def db_label(self) -> str:
        """The store as it may be shown: the path, or the URL without its password."""
        return redact_db_url(self.db_url) if self.db_url else str(self.db_path)


def postgres_anchor(url: str) -> Path:
    """This machine's local file anchor for a PostgreSQL store (where ``serve`` keeps the admin
    token): one per server and database, under ``~/.cronofy_avail``."""
    parts = urlsplit(url)
    name = f"{parts.hostname or 'local'}-{parts.port or 5432}-{parts.path.strip('/') or 'db'}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return (DEFAULT_DB.parent / f"pg-{safe}").expanduser()
