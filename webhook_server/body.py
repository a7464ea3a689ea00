"""Reading a delivery's body: whole, capped, and never hashed in part."""

from __future__ import annotations

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError


class BadBody(Exception):
    """The request body could not be read as sent (encoding or framing)."""


class ClientGone(Exception):
    """The client closed the connection before sending the whole body it announced."""


async def read_capped(request: web.Request, cap: int) -> bytes | None:
    """The whole body, up to the cap (``None`` when larger).

    ``content.read(n)`` returns what happens to be buffered, so a body arriving in several
    TCP segments or chunks is read until the end of the payload, never hashed in part.
    A body that cannot be decoded (bad ``Content-Encoding``, broken chunking) raises
    :class:`BadBody`; a client that hangs up before the end of it, :class:`ClientGone`.
    """
    if request.content_length is not None and request.content_length > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = await request.content.read(cap + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                return None
    except (
        HttpProcessingError,
        RequestPayloadError,
        ClientPayloadError,
        ValueError,
    ) as exc:
        raise BadBody(type(exc).__name__) from exc
    except ConnectionError as exc:  # aiohttp's "Connection lost" while the body was awaited
        raise ClientGone(type(exc).__name__) from exc
    return b"".join(chunks)


def take_buffered(request: web.Request, cap: int) -> bytes | None:
    """The body of a request whose payload has all arrived (``content.is_eof()``), up to
    the cap (``None`` when larger); :class:`BadBody` as :func:`read_capped`."""
    if request.content_length is not None and request.content_length > cap:
        return None
    try:
        body = request.content.read_nowait(-1)
    except (
        HttpProcessingError,
        RequestPayloadError,
        ClientPayloadError,
        ValueError,
    ) as exc:
        raise BadBody(type(exc).__name__) from exc
    return None if len(body) > cap else body
