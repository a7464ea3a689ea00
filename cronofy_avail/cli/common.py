"""What every command shares: masked output, tables, the store, clients and the public URL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp

from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.inputs import InputError, check_public_url
from cronofy_avail.app.ngrok import DEFAULT_AGENT_URL, choose_tunnel, list_tunnels
from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import System, open_system
from cronofy_avail.cli.output import OutputClosed
from cronofy_avail.client.api import CronofyClient, OAuthTokens
from cronofy_avail.runtime.store import (
    MemoryStore,
    Store,
    StoredCredentials,
    UserRecord,
)
from webhook_server import DEFAULT_PREFIX

MIN_SECRET = 8

_TOKEN_CHARS = "A-Za-z0-9_-"  # noqa: S105 - a character class, not a secret
_TOKEN_RUN = re.compile(f"[{_TOKEN_CHARS}]{{{MIN_SECRET},}}")
"""A run of token characters long enough to hold a secret: every token-shaped secret lies
whole inside one (a callback key from ``secrets.token_urlsafe``, Cronofy's tokens and
client secrets)."""
_TOKEN_SHAPED = re.compile(f"[{_TOKEN_CHARS}]+")


class SecretMask:
    """The registered secrets, and the masking of a text by them, at a cost that does not
    depend on how many there are (``serve`` registers three per user: 30,000 at 10,000
    users).

    Token-shaped secrets are indexed by their first :data:`MIN_SECRET` characters. A text is
    scanned once by one compiled regex for runs of token characters at least that long; only
    the windows inside such runs are looked up in the index (one dict lookup each), and only a
    window that is a secret's prefix is compared with that secret. The few secrets of another
    shape (a URL's ``user:password@``, from the settings, not from users) are looked for one by
    one. Adding a secret updates the index in place: nothing is rebuilt per line.

    ``lookups`` and ``comparisons`` count the index lookups and the secret comparisons made
    (tests assert counts, not durations).
    """

    def __init__(self) -> None:
        self.replacements: dict[str, str] = {}
        self._by_prefix: dict[str, list[str]] = {}
        """A secret's first ``MIN_SECRET`` characters -> the token-shaped secrets starting
        with them, longest first."""
        self._other: list[str] = []
        """Secrets not token-shaped, longest first (few: the settings')."""
        self.lookups = 0
        self.comparisons = 0

    def __len__(self) -> int:
        return len(self.replacements)

    def add(self, value: str, replacement: str) -> None:
        if len(value) < MIN_SECRET or value in self.replacements:
            return
        self.replacements[value] = replacement
        if _TOKEN_SHAPED.fullmatch(value):
            bucket = self._by_prefix.setdefault(value[:MIN_SECRET], [])
            bucket.append(value)
            bucket.sort(key=len, reverse=True)
        else:
            self._other.append(value)
            self._other.sort(key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self._other:
            self.comparisons += 1
            if secret in text:
                text = text.replace(secret, self.replacements[secret])
        if not self._by_prefix:
            return text
        index = self._by_prefix
        parts: list[str] = []
        done = 0  # text[:done] is in parts already
        lookups = comparisons = 0
        for run in _TOKEN_RUN.finditer(text):
            i, end = run.span()
            i = max(i, done)
            while i + MIN_SECRET <= end:
                lookups += 1
                bucket = index.get(text[i : i + MIN_SECRET])
                if bucket is not None:
                    for secret in bucket:
                        comparisons += 1
                        if text.startswith(secret, i):
                            parts.append(text[done:i])
                            parts.append(self.replacements[secret])
                            i = done = i + len(secret)
                            break
                    else:
                        i += 1
                    continue
                i += 1
        self.lookups += lookups
        self.comparisons += comparisons
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)


class MaskingWriter:
    """A text stream that masks every registered secret in whatever is written to it.

    The last line of defence: commands never print a secret on purpose, and this makes sure an
    unforeseen path (an error text, a URL) cannot either. Masking costs the same whatever the
    number of secrets (:class:`SecretMask`).
    """

    def __init__(self, stream: TextIO, *, shared_with: MaskingWriter | None = None) -> None:
        self.stream = stream
        # Two writers (stdout, stderr) can share one set of secrets.
        self.secrets: SecretMask = shared_with.secrets if shared_with is not None else SecretMask()

    def add_secret(self, value: str | None, replacement: str | None = None) -> None:
        if value and len(value) >= MIN_SECRET:
            # A URL's ``user:password@`` keeps its ``@`` so the URL still reads as one.
            default = "***@" if value.endswith("@") else "***"
            self.secrets.add(value, replacement or default)

    def add_callback_key(self, key: str | None) -> None:
        if key:
            self.add_secret(key, key[:4] + "…")

    def mask(self, text: str) -> str:
        return self.secrets.mask(text)

    def write(self, text: str) -> int:
        try:
            self.stream.write(self.mask(text))
        except BrokenPipeError as exc:
            raise OutputClosed() from exc
        return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError as exc:
            raise OutputClosed() from exc

    def isatty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty()) if callable(isatty) else False

    def line(self, text: str = "") -> None:
        self.write(text + "\n")


Out = TextIO | MaskingWriter
"""Where commands write: a stream, or a masking wrapper around one."""


def writer(out: Out) -> MaskingWriter:
    return out if isinstance(out, MaskingWriter) else MaskingWriter(out)


def emit(out: Out, text: str = "") -> None:
    """One line, flushed (``serve`` output reaches a pipe or a log as it happens)."""
    out.write(text + "\n")
    out.flush()


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """An aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [
        ["-" if c is None or c == "" else str(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def pairs(items: Iterable[tuple[str, Any]]) -> str:
    """``name   value`` lines, aligned."""
    rows = [(k, "-" if v is None or v == "" else str(v)) for k, v in items]
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def zone(tzid: str | None) -> tzinfo:
    try:
        return ZoneInfo(tzid or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(value: datetime | None, tz: tzinfo) -> str:
    if value is None:
        return "-"
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def span(start: datetime, end: datetime, tz: tzinfo) -> str:
    """``2026-12-02 09:00 to 12:00``, or with the end's day when it is another one
    (``… 09:00 to 2026-12-03 00:00``): the one way every command writes a time span."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    tail = b.strftime("%H:%M") if a.date() == b.date() else b.strftime("%Y-%m-%d %H:%M")
    return f"{a.strftime('%Y-%m-%d %H:%M')} to {tail}"


def redact_callback(url: str | None, key: str) -> str | None:
    if url is None:
        return None
    return url.replace(key, key[:4] + "…") if key else url


def receiver_base(public_url: str) -> str:
    """The public URL of the receiver including its prefix (``…/cronofy``)."""
    base = public_url.rstrip("/")
    return base if base.endswith(DEFAULT_PREFIX) else base + DEFAULT_PREFIX


async def resolve_public_url(
    given: str | None,
    *,
    agent_url: str = DEFAULT_AGENT_URL,
    port: int | None = None,
    session: aiohttp.ClientSession | None = None,
) -> tuple[str | None, str]:
    """``(public URL or None, where it came from)``: ``--public-url``, else the ngrok agent."""
    if given:
        try:
            return check_public_url(given), "--public-url"
        except InputError as exc:
            raise CommandError(str(exc)) from None
    tunnels = await list_tunnels(agent_url, session)
    if tunnels is None:
        return None, f"no ngrok agent answered at {agent_url}"
    chosen = choose_tunnel(tunnels, port)
    if chosen is not None:
        return chosen.public_url, f"ngrok agent at {agent_url}"
    if not tunnels:
        return None, f"the ngrok agent at {agent_url} has no http(s) tunnel"
    # Never a tunnel to another port: Cronofy would deliver to something else.
    others = ", ".join(sorted({f"{t.public_url} → {t.addr or 'unknown address'}" for t in tunnels}))
    return None, (
        f"the ngrok agent at {agent_url} has no tunnel to port {port}; its tunnels forward "
        f"elsewhere ({others})"
    )


@dataclass
class Runtime:
    """One command run: its settings, masked output and the :class:`System` they build."""

    settings: Settings
    system: System
    out: MaskingWriter

    @property
    def store(self) -> Store:
        return self.system.store

    @property
    def session(self) -> aiohttp.ClientSession:
        return self.system.session

    async def user(self, user_id: str | None = None) -> UserRecord:
        uid = user_id or self.settings.user_id
        user = await self.store.get_user(uid)
        if user is None:
            raise CommandError(
                f"no user {uid!r} in {self.settings.db_path}.\n"
                "Fix: run `cronofy-avail setup` first (or set CRONOFY_AVAIL_USER / --user)."
            )
        self.remember(user)
        return user

    def remember(self, user: UserRecord) -> None:
        """Register a stored user's secrets with the output mask."""
        self.out.add_callback_key(user.callback_key)
        if user.credentials is not None:
            self.out.add_secret(user.credentials.access_token)
            self.out.add_secret(user.credentials.refresh_token)

    def client_for(self, user: UserRecord) -> CronofyClient:
        if user.credentials is None:
            raise CommandError(
                f"user {user.user_id!r} has no stored credentials.\n"
                "Fix: run `cronofy-avail setup` with CRONOFY_ACCESS_TOKEN set."
            )
        return self.system.clients().for_user(user)

    def settings_client(self) -> CronofyClient:
        """A client from the configured tokens (``setup``); renewed tokens are masked too."""
        settings = self.settings
        settings.require_tokens()

        def on_tokens(tokens: OAuthTokens) -> None:
            self.out.add_secret(tokens.access_token)
            self.out.add_secret(tokens.refresh_token)

        return self.system.client(
            access_token=settings.access_token,
            refresh_token=settings.refresh_token,
            on_tokens=on_tokens,
        )


def store_missing(settings: Settings) -> bool:
    """Whether the SQLite store the settings name does not exist (nothing was set up)."""
    return settings.db_url is None and not settings.db_path.exists()


def nothing_set_up(settings: Settings) -> str:
    """What a command that reads the store says when there is none (the one wording)."""
    return (
        f"nothing is set up yet: there is no store at {settings.db_path} "
        "(`cronofy-avail setup` creates it)"
    )


def require_store(settings: Settings) -> None:
    """Refuse to go on without a store (a :class:`CommandError` that says so, and the fix)."""
    if store_missing(settings):
        raise CommandError(
            f"{nothing_set_up(settings)}.\nFix: run `cronofy-avail setup` first (or point "
            "CRONOFY_AVAIL_DB / --db at the store it made)."
        )


StoreUse = Literal["read", "create", "if_any"]
"""How a command uses the store: ``read`` needs one (and says nothing is set up yet without
it), ``create`` makes it when missing (setup, authorize: they store a user), ``if_any`` reads
it when it exists and does without otherwise (an empty one in memory, nothing written)."""


@asynccontextmanager
async def runtime(
    settings: Settings, out: Out, *, store: StoreUse = "read"
) -> AsyncIterator[Runtime]:
    """One command's system. Only a command that stores a user creates the store: a command
    that reads it never leaves one behind, not even an empty one."""
    if store == "read":
        require_store(settings)
    masked = writer(out)
    for secret in settings.secrets():
        masked.add_secret(secret)
    instead = MemoryStore() if store == "if_any" and store_missing(settings) else None
    async with open_system(settings, store=instead) as system:
        yield Runtime(settings, system, masked)


def credentials_of(client: CronofyClient) -> StoredCredentials | None:
    tokens = client.tokens
    if tokens is None:
        return None
    return StoredCredentials(
        tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scope
    )
