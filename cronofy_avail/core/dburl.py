"""Database URLs as they may be told and shown (pure)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


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
