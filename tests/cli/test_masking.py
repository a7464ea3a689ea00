"""The output mask at 10,000 users: every secret masked, at a cost (counted, not timed) that
does not depend on how many secrets are registered."""

from __future__ import annotations

import io
import json
import random
import string

from cronofy_avail.cli.common import MaskingWriter, SecretMask

TOKEN = string.ascii_letters + string.digits + "-_"


def tokens(count: int, seed: int, length: int = 32) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(TOKEN) for _ in range(length)) for _ in range(count)]


def lines_with(secret: str) -> list[str]:
    """What ``serve`` writes, with and without a secret in it."""
    return [
        "delivery 7: change for u00001, signature ok, accepted",
        "sync u00001: incremental ok: no change (0 upserts, 0 deletes, 2 API calls; state idle)",
        f"log: error: sync worker crashed (cause: RuntimeError: token {secret} refused)",
        f"u00001: channel chn_1 calls back http://127.0.0.1:8080/cronofy/notifications/{secret}",
    ]


def work_of(registered: int) -> tuple[int, int, list[str]]:
    """Index lookups and secret comparisons made masking the same lines, with
    ``registered`` secrets registered (one of them in the lines)."""
    writer = MaskingWriter(io.StringIO())
    secrets = tokens(registered, seed=registered)
    for secret in secrets:
        writer.add_secret(secret)
    writer.add_secret("ada:hunter2-password@")  # a settings secret of another shape
    mask = writer.secrets
    before = (mask.lookups, mask.comparisons)
    masked = [writer.mask(line) for line in lines_with(secrets[-1])]
    return mask.lookups - before[0], mask.comparisons - before[1], masked


def test_masking_costs_the_same_whatever_the_number_of_secrets() -> None:
    few = work_of(3)
    many = work_of(10_000)
    # The same index lookups and the same secret comparisons: nothing scans every secret.
    assert few[:2] == many[:2]
    assert few[1] <= 2 * len(lines_with("x"))  # a handful, not thousands
    for masked in (few[2], many[2]):
        assert masked[0] == "delivery 7: change for u00001, signature ok, accepted"
        assert "token *** refused" in masked[2]


def test_the_mask_is_built_as_secrets_are_added_not_per_line() -> None:
    mask = SecretMask()
    for secret in tokens(1_000, seed=1):
        mask.add(secret, "***")
    index = mask._by_prefix
    buckets = {key: list(bucket) for key, bucket in index.items()}
    for _ in range(100):
        mask.mask("delivery 7: change for u00001, signature ok, accepted")
    # Masking rebuilt nothing: the same index object, the same buckets.
    assert mask._by_prefix is index
    assert {key: list(bucket) for key, bucket in index.items()} == buckets
    assert len(mask) == 1_000


def test_every_one_of_10000_users_secrets_is_masked() -> None:
    """Three secrets a user, as ``serve`` registers them: each is masked wherever it stands."""
    stdout, stderr = io.StringIO(), io.StringIO()
    out = MaskingWriter(stdout)
    err = MaskingWriter(stderr, shared_with=out)
    keys = tokens(10_000, seed=7)
    access = tokens(10_000, seed=8, length=40)
    refresh = tokens(10_000, seed=9, length=24)
    for key, a, r in zip(keys, access, refresh, strict=True):
        out.add_callback_key(key)
        out.add_secret(a)
        out.add_secret(r)
    for i, (key, a, r) in enumerate(zip(keys, access, refresh, strict=True)):
        writer, buffer = (out, stdout) if i % 2 else (err, stderr)
        start = buffer.tell()
        writer.write(f"POST /cronofy/notifications/{key} answered 202\n")
        writer.write(json.dumps({"access_token": a, "refresh_token": r}) + "\n")
        writer.write(f"Authorization: Bearer {a}; glued:{r}{a}x{key}\n")
        written = buffer.getvalue()[start:]
        # Where a user's secrets were written, none of them is left (checked per user: a
        # secret can only be where it was written).
        assert (written.count("***"), written.count(key[:4] + "…")) == (5, 2), written
        assert not {key, a, r} & set(written.replace(";", " ").replace('"', " ").split())
        for secret in (key, a, r):
            assert secret not in written
    text = stdout.getvalue() + stderr.getvalue()
    # A callback key keeps its first four characters (recognisable, not usable).
    assert f"/notifications/{keys[0][:4]}… answered" in text


def test_overlapping_and_other_shaped_secrets() -> None:
    writer = MaskingWriter(io.StringIO())
    writer.add_secret("abcdefgh12345678")
    writer.add_secret("abcdefgh1234")  # a prefix of the first: the longer one wins
    writer.add_secret("efgh12345678zz")  # overlaps the first
    writer.add_secret("ada:pw-secret!@")  # not token-shaped
    writer.add_secret("short")  # too short to be a secret: never masked
    assert writer.mask("k=abcdefgh12345678;") == "k=***;"
    assert writer.mask("k=abcdefgh1234;") == "k=***;"
    assert writer.mask("xabcdefgh1234y") == "x***y"
    assert writer.mask("--efgh12345678zz--") == "--***--"
    assert writer.mask("https://ada:pw-secret!@host/") == "https://***@host/"
    assert writer.mask("short abcdefgh") == "short abcdefgh"
