"""Compare a response with a fixture by shape: field names, JSON types and nesting.

Values are not compared (ids, times and names differ between a recording and a replay), except
at the dotted paths a case lists in ``same_values``. Rules:

* every key of a fixture object must be in the response (a response may carry more: fixtures
  are often abbreviated); ``aliases`` maps a fixture's old spelling to today's;
* a fixture list's first item is the shape of every item of the response list, and a non-empty
  fixture list needs a non-empty response list (otherwise nothing would be compared);
* scalars compare by JSON type (numbers are one type); ``null`` in a fixture accepts anything;
* a fixture string that is a Cronofy time (``2014-09-01T08:00:01Z``) or date (``2014-09-06``)
  needs a time or a date (event boundaries are dates for all-day events), and a time in a
  response must be UTC with seconds and ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def shape_mismatches(
    expected: Any,
    actual: Any,
    path: str = "$",
    *,
    aliases: Mapping[str, str] | None = None,
) -> list[str]:
    """Every place ``actual`` does not have the shape of ``expected`` (empty when it does)."""
    aliases = aliases or {}
    if expected is None:
        return []
    if _kind(expected) != _kind(actual):
        return [f"{path}: expected {_kind(expected)}, got {_kind(actual)}"]
    if isinstance(expected, Mapping):
        problems = []
        for key, value in expected.items():
            name = aliases.get(key, key)
            if name not in actual:
                problems.append(f"{path}.{name}: missing")
                continue
            problems += shape_mismatches(value, actual[name], f"{path}.{name}", aliases=aliases)
        return problems
    if isinstance(expected, list):
        if not expected:
            return []
        if not actual:
            return [f"{path}: expected items, got an empty list"]
        problems = []
        for index, item in enumerate(actual):
            problems += shape_mismatches(expected[0], item, f"{path}[{index}]", aliases=aliases)
        return problems
    temporal = isinstance(expected, str) and (TIME.match(expected) or DATE.match(expected))
    if temporal and not (TIME.match(actual) or DATE.match(actual)):
        return [f"{path}: expected a Cronofy time or date, got {actual!r}"]
    return []


def value_at(document: Any, dotted: str) -> Any:
    """``errors.name.0.key`` → ``document["errors"]["name"][0]["key"]``."""
    current = document
    for part in dotted.split("."):
        current = current[int(part)] if isinstance(current, list) else current[part]
    return current
