"""Push-notification signatures: verify raw bytes, then parse.

Cronofy signs the raw body with HMAC-SHA256 keyed by the application's client secret and sends
the standard Base64 digest in ``Cronofy-HMAC-SHA256``. While secrets rotate, the header carries
one comma-separated value per active secret; a delivery is genuine when any value matches any
secret we hold. Comparison is constant time. Verification fails closed both ways: a header with
no configured secret is as much a failure as a secret with no header.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from cronofy_avail.core.models import NotificationEnvelope

SIGNATURE_HEADER = "Cronofy-HMAC-SHA256"


class SignatureVerificationError(Exception):
    """The delivery cannot be trusted. ``reason`` is one of the ``REASON_*`` constants."""

    REASON_NO_SECRET = "no_secret_configured"  # noqa: S105 - a reason code
    REASON_MISSING = "missing_signature"
    REASON_MALFORMED = "malformed_signature"
    REASON_MISMATCH = "signature_mismatch"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class MalformedNotificationError(ValueError):
    """The body is signed correctly but is not a notification we can read."""


def _secrets(secrets: str | Iterable[str] | None) -> list[bytes]:
    if secrets is None:
        return []
    if isinstance(secrets, str):
        secrets = [secrets]
    return [s.encode("utf-8") for s in secrets if s]


def _digest(body: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).digest()


def sign(body: bytes, secrets: str | Iterable[str]) -> str:
    """The ``Cronofy-HMAC-SHA256`` header value for ``body``: one value per secret, comma-joined.

    Public so tests, the emulator and ``cronofy-avail notify`` produce exactly what Cronofy does.
    """
    keys = _secrets(secrets)
    if not keys:
        raise ValueError("sign() needs at least one non-empty secret")
    return ",".join(base64.b64encode(_digest(body, key)).decode("ascii") for key in keys)


def verify(body: bytes, header: str | None, secrets: str | Iterable[str] | None) -> None:
    """Raise :class:`SignatureVerificationError` unless ``header`` signs ``body``.

    ``secrets`` may hold several client secrets (old and new during a rotation).
    """
    keys = _secrets(secrets)
    if not keys:
        raise SignatureVerificationError(
            SignatureVerificationError.REASON_NO_SECRET,
            "no client secret configured: refusing to trust any delivery",
        )
    if header is None or not header.strip():
        raise SignatureVerificationError(
            SignatureVerificationError.REASON_MISSING,
            f"missing {SIGNATURE_HEADER} header",
        )
    candidates: list[bytes] = []
    for value in header.split(","):
        value = value.strip()
        if not value:
            continue
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except ValueError:
            continue
    if not candidates:
        raise SignatureVerificationError(
            SignatureVerificationError.REASON_MALFORMED,
            f"{SIGNATURE_HEADER} holds no Base64 value",
        )
    matched = False
    for key in keys:
        expected = _digest(body, key)
        for candidate in candidates:
            # Evaluate every pair: the time taken does not depend on which one matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureVerificationError(
            SignatureVerificationError.REASON_MISMATCH,
            "signature does not match any configured client secret",
        )


def is_valid(body: bytes, header: str | None, secrets: str | Iterable[str] | None) -> bool:
    """``True`` when :func:`verify` would pass."""
    try:
        verify(body, header, secrets)
    except SignatureVerificationError:
        return False
    return True


def header_value(headers: Mapping[str, str]) -> str | None:
    """The signature header from a mapping, whatever the case of its key."""
    wanted = SIGNATURE_HEADER.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def parse_notification(body: bytes) -> NotificationEnvelope:
    """Parse a notification body. Unknown types parse fine; a wrong shape is an error."""
    try:
        payload = json.loads(body)
    except RecursionError as exc:
        raise MalformedNotificationError("body is nested too deeply") from exc
    except ValueError as exc:
        raise MalformedNotificationError(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedNotificationError("body is not a JSON object")
    try:
        envelope = NotificationEnvelope.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        raise MalformedNotificationError(f"not a Cronofy notification (bad: {fields})") from exc
    except RecursionError as exc:
        raise MalformedNotificationError("body is nested too deeply") from exc
    kind = envelope.type
    if len(kind) > MAX_TYPE_LENGTH or not kind.isprintable() or not _encodable(kind):
        raise MalformedNotificationError("notification type is not a short printable string")
    since = envelope.changes_since
    if since is not None and not EARLIEST_CHANGES_SINCE <= since.year <= LATEST_CHANGES_SINCE:
        raise MalformedNotificationError("changes_since is out of range")
    return envelope


MAX_TYPE_LENGTH = 64
"""Types are an open set, but a real one is a short word (``change``, ``verification`` …)."""
EARLIEST_CHANGES_SINCE, LATEST_CHANGES_SINCE = 1970, 2200
"""Years a ``changes_since`` may have: anything else is not a real notification, and would
overflow date arithmetic (year 1 minus the sync's overlap) further on."""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def verify_notification(
    body: bytes,
    headers: Mapping[str, str],
    secrets: str | Iterable[str] | None,
) -> NotificationEnvelope:
    """Verify the raw bytes, then parse them: the one call a webhook receiver needs."""
    verify(body, header_value(headers), secrets)
    return parse_notification(body)
