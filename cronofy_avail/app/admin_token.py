"""The admin token of ``serve``'s status and replay views: a file next to the store, 0600."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def admin_token_path(db_path: Path) -> Path:
    """Where ``serve`` keeps its admin token: next to the database, owner-only."""
    return db_path.with_name(db_path.name + ".admin-token")


def admin_token(db_path: Path, *, create: bool = True) -> str | None:
    """The admin token for the server on ``db_path``; made (0600) on first use if ``create``."""
    path = admin_token_path(db_path)
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if token or not create:
        return token or None
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def mask(secret: str) -> str:
    """Enough of a secret to recognise it, not to use it."""
    return secret[:4] + "…" if len(secret) > 8 else "…"
