"""Push-notification signatures and notification parsing (pure, no event loop)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cronofy_avail.core.models import NotificationType
from cronofy_avail.core.signatures import (
    SIGNATURE_HEADER,
    MalformedNotificationError,
    SignatureVerificationError,
    header_value,
    is_valid,
    parse_notification,
    sign,
    verify,
    verify_notification,
)

BODY = b'{"example":"well-known"}'
VECTORS = [
    ("pDY0Oi7TJSP2hfNmZNkm5", "6r2/HjBkqymGegX0wOfifieeUXbbHwtV/LohHS+jv6c="),
    (
        "CRN_NggYusqPGLxwjw5FHOJYOqSrTPNXy8WQf14OID",
        "5DxentQi5YSXODEzTVv06sRwJ3pULIz1KrYv20qxEK0=",
    ),
    (
        "CRN_nGlYDFXwfSXgB9rvGNBJyfE454GGPtWIbNuPwr",
        "BmQmWVuZ70ILWjr1CAt5oC7YOolgnku4WZtlrKfx/6k=",
    ),
]
SECRET_A, HEADER_A = VECTORS[0]
SECRET_B, HEADER_B = VECTORS[1]
SECRET_C, HEADER_C = VECTORS[2]

CHANNEL = {
    "channel_id": "chn_54cf7c7cb4ad4c1027000001",
    "callback_url": "https://example.com/cronofy/hook",
    "filters": {"calendar_ids": ["cal_sub"]},
}


def _reason(body: bytes, header: str | None, secrets: str | list[str] | None) -> str:
    with pytest.raises(SignatureVerificationError) as info:
        verify(body, header, secrets)
    return info.value.reason


# --------------------------------------------------------------------------- published vectors


@pytest.mark.parametrize(("secret", "header"), VECTORS)
def test_sign_matches_published_vectors(secret: str, header: str) -> None:
    assert sign(BODY, secret) == header
    assert sign(BODY, [secret]) == header


@pytest.mark.parametrize(("secret", "header"), VECTORS)
def test_verify_accepts_published_vectors(secret: str, header: str) -> None:
    verify(BODY, header, secret)
    assert is_valid(BODY, header, secret) is True


@pytest.mark.parametrize(("secret", "header"), VECTORS)
def test_vector_fails_for_other_body(secret: str, header: str) -> None:
    assert _reason(b'{"example":"well-known" }', header, secret) == (
        SignatureVerificationError.REASON_MISMATCH
    )


def test_vectors_do_not_cross() -> None:
    assert _reason(BODY, HEADER_A, SECRET_B) == SignatureVerificationError.REASON_MISMATCH
    assert is_valid(BODY, HEADER_C, [SECRET_A, SECRET_B]) is False


# --------------------------------------------------------------------------- rotation


def test_sign_several_secrets_is_comma_joined() -> None:
    assert sign(BODY, [SECRET_A, SECRET_B]) == f"{HEADER_A},{HEADER_B}"


@pytest.mark.parametrize(
    ("header", "secrets"),
    [
        (f"{HEADER_A},{HEADER_B}", SECRET_A),
        (f"{HEADER_A},{HEADER_B}", SECRET_B),
        (f"{HEADER_A}, {HEADER_B}", [SECRET_C, SECRET_B]),
        (HEADER_C, [SECRET_A, SECRET_B, SECRET_C]),
        (f"not-base64!!,{HEADER_B}", SECRET_B),
        (f",{HEADER_A},", SECRET_A),
    ],
)
def test_rotation_any_value_matching_any_secret_passes(
    header: str, secrets: str | list[str]
) -> None:
    verify(BODY, header, secrets)  # raises on a mismatch
    assert is_valid(BODY, header, secrets)


def test_rotation_none_matching_fails() -> None:
    assert _reason(BODY, f"{HEADER_A},{HEADER_B}", SECRET_C) == (
        SignatureVerificationError.REASON_MISMATCH
    )


# --------------------------------------------------------------------------- fails closed


@pytest.mark.parametrize("secrets", [None, "", [], [""]])
def test_no_secret_fails_closed(secrets: str | list[str] | None) -> None:
    assert _reason(BODY, HEADER_A, secrets) == SignatureVerificationError.REASON_NO_SECRET


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header: str | None) -> None:
    assert _reason(BODY, header, SECRET_A) == SignatureVerificationError.REASON_MISSING


@pytest.mark.parametrize("header", ["not base64 at all!", "abc", ",,", "%%%%,$$$$"])
def test_malformed_header(header: str) -> None:
    assert _reason(BODY, header, SECRET_A) == SignatureVerificationError.REASON_MALFORMED


@pytest.mark.parametrize(
    "header",
    [
        "7r2/HjBkqymGegX0wOfifieeUXbbHwtV/LohHS+jv6c=",
        "AAAA",
        HEADER_A.lower(),
    ],
)
def test_mismatch(header: str) -> None:
    assert _reason(BODY, header, SECRET_A) == SignatureVerificationError.REASON_MISMATCH
    assert is_valid(BODY, header, SECRET_A) is False


def test_sign_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, [])
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, "")


def test_sign_then_verify_roundtrip_on_arbitrary_bytes() -> None:
    body = '{"notification": {"type": "change"}, "x": "é"}'.encode()
    verify(body, sign(body, "s3cr3t"), "s3cr3t")
    assert _reason(body + b" ", sign(body, "s3cr3t"), "s3cr3t") == (
        SignatureVerificationError.REASON_MISMATCH
    )


# --------------------------------------------------------------------------- parsing


def _envelope(notification: dict[str, object]) -> bytes:
    return json.dumps({"notification": notification, "channel": CHANNEL}).encode()


def test_parse_change_notification() -> None:
    envelope = parse_notification(
        _envelope({"type": "change", "changes_since": "2026-11-24T09:00:00Z"})
    )
    assert envelope.type == NotificationType.CHANGE
    assert envelope.notification.is_known is True
    assert envelope.changes_since == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert envelope.channel is not None
    assert envelope.channel.channel_id == "chn_54cf7c7cb4ad4c1027000001"
    assert envelope.channel.callback_url == "https://example.com/cronofy/hook"
    assert envelope.channel.filters.calendar_ids == ["cal_sub"]


@pytest.mark.parametrize(
    "kind",
    [
        "verification",
        "profile_disconnected",
        "profile_initial_sync_completed",
        "conferencing_profile_disconnected",
        "gdpr_requested",
    ],
)
def test_parse_other_known_types(kind: str) -> None:
    envelope = parse_notification(_envelope({"type": kind}))
    assert envelope.type == kind
    assert envelope.notification.is_known is True
    assert envelope.changes_since is None
    assert kind in NotificationType.KNOWN


def test_known_set_is_the_contract() -> None:
    assert {
        "verification",
        "change",
        "profile_disconnected",
        "profile_initial_sync_completed",
        "conferencing_profile_disconnected",
        "gdpr_requested",
    } == NotificationType.KNOWN


def test_unknown_type_is_kept_without_crash() -> None:
    body = json.dumps(
        {"notification": {"type": "brand_new_kind", "extra": {"a": 1}}, "more": True}
    ).encode()
    envelope = parse_notification(body)
    assert envelope.type == "brand_new_kind"
    assert envelope.notification.is_known is False
    assert envelope.notification.model_extra == {"extra": {"a": 1}}
    assert envelope.model_extra == {"more": True}
    assert envelope.channel is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"{",
        b"[]",
        b'"change"',
        b"42",
        b"null",
        b"{}",
        b'{"channel": {"channel_id": "chn_1"}}',
        b'{"notification": "change"}',
        b'{"notification": {}}',
        b'{"notification": {"type": "change", "changes_since": "yesterday"}}',
    ],
)
def test_malformed_notifications(body: bytes) -> None:
    with pytest.raises(MalformedNotificationError):
        parse_notification(body)


def test_malformed_notification_is_a_value_error() -> None:
    assert issubclass(MalformedNotificationError, ValueError)


# --------------------------------------------------------------------------- verify_notification


@pytest.mark.parametrize(
    "name", [SIGNATURE_HEADER, "cronofy-hmac-sha256", "CRONOFY-HMAC-SHA256", "Cronofy-Hmac-Sha256"]
)
def test_verify_notification_header_lookup_is_case_insensitive(name: str) -> None:
    body = _envelope({"type": "verification"})
    headers = {"Content-Type": "application/json", name: sign(body, SECRET_A)}
    envelope = verify_notification(body, headers, [SECRET_B, SECRET_A])
    assert envelope.type == "verification"
    assert header_value(headers) == sign(body, SECRET_A)


def test_verify_notification_checks_before_parsing() -> None:
    body = b"not json"
    with pytest.raises(SignatureVerificationError) as info:
        verify_notification(body, {SIGNATURE_HEADER: sign(b"other", SECRET_A)}, SECRET_A)
    assert info.value.reason == SignatureVerificationError.REASON_MISMATCH
    with pytest.raises(SignatureVerificationError) as info:
        verify_notification(body, {}, SECRET_A)
    assert info.value.reason == SignatureVerificationError.REASON_MISSING
    with pytest.raises(MalformedNotificationError):
        verify_notification(body, {SIGNATURE_HEADER: sign(body, SECRET_A)}, SECRET_A)


def test_verify_notification_without_secret_fails_closed() -> None:
    body = _envelope({"type": "change", "changes_since": "2026-11-24T09:00:00Z"})
    with pytest.raises(SignatureVerificationError) as info:
        verify_notification(body, {SIGNATURE_HEADER: sign(body, SECRET_A)}, None)
    assert info.value.reason == SignatureVerificationError.REASON_NO_SECRET


def test_header_value_absent() -> None:
    assert header_value({"X-Other": "1"}) is None
