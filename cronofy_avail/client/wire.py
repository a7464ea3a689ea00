"""How the client writes a request and reads an answer: Cronofy's query encoding, JSON bodies,
and answers decoded and validated into models (a malformed one is an
:class:`~cronofy_avail.core.errors.UnexpectedResponseError`). Pure: no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cronofy_avail.core.errors import UnexpectedResponseError
from cronofy_avail.core.models import format_time

ModelT = TypeVar("ModelT", bound=BaseModel)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def encode_query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Cronofy query encoding: booleans as true/false, lists as ``name[]``, times in UTC."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, _bool(value)))
        elif isinstance(value, datetime):
            out.append((key, format_time(value)))
        elif isinstance(value, date):
            out.append((key, value.isoformat()))
        elif isinstance(value, list | tuple):
            out.extend((f"{key}[]", str(item)) for item in value)
        else:
            out.append((key, str(value)))
    return out


def request_json(body: BaseModel | Mapping[str, Any] | None) -> Any:
    """A request body as JSON-ready data: a model without its unset fields, by alias."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", exclude_none=True, by_alias=True)
    return body


def decode(body: bytes, method: str, url: str) -> Any:
    """An answer's JSON (``None`` for an empty body)."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UnexpectedResponseError(
            "response body is not valid JSON", method=method, url=url
        ) from exc


def validate(model: type[ModelT], payload: Any, method: str, url: str) -> ModelT:
    """``payload`` as ``model``; the error names the bad fields, never their values."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        raise UnexpectedResponseError(
            f"response does not match {model.__name__} (bad: {fields})",
            method=method,
            url=url,
        ) from exc


def read_model(model: type[ModelT], body: bytes, method: str, url: str) -> ModelT:
    """An answer's body decoded and validated as ``model``."""
    return validate(model, decode(body, method, url), method, url)
