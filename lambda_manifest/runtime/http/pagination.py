"""Opaque pagination cursors and the page-filling loop shared by list endpoints.

A cursor is base64url (no padding) of a compact JSON object holding DynamoDB's ``LastEvaluatedKey``
flattened to ``{attribute: string}``. It is opaque to clients but not secret or signed: a forged cursor can
only move the scan's start position, and every list endpoint still filters by the caller's ownership.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import BadRequest

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Keys are a few short strings; anything longer is not a cursor we issued.
MAX_CURSOR_LENGTH = 2048


def encode_cursor(key: Mapping[str, str]) -> str:
    raw = json.dumps(dict(key), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, key_names: Sequence[str]) -> dict[str, str]:
    """Decode a cursor issued by ``encode_cursor`` for a table whose key attributes are ``key_names``.

    Raises
    ------
    BadRequest
        ``INVALID_CURSOR`` for anything that is not exactly such a key.
    """
    invalid = BadRequest("The cursor is not valid", code="INVALID_CURSOR")
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        raise invalid from None
    if not isinstance(key, dict) or set(key) != set(key_names):
        raise invalid
    if not all(isinstance(v, str) and 0 < len(v) <= 1024 for v in key.values()):
        raise invalid
    return key


def parse_limit(raw: str | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """Parse the ``limit`` query parameter: an integer from 1 to ``maximum``, ``default`` when absent."""
    if raw is None or raw == "":
        return default
    # isdigit() alone accepts non-ASCII digits such as "²", which int() then rejects.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"limit must be an integer from 1 to {maximum}", code="INVALID_LIMIT")
    return int(raw)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_key: dict[str, str] | None


def collect_page(
    fetch: Callable[[dict[str, str] | None], tuple[list[T], dict[str, str] | None]],
    *,
    start_key: dict[str, str] | None,
    limit: int,
    key_of: Callable[[T], dict[str, str]],
    max_fetches: int = 10,
) -> Page[T]:
    """Fill one page of up to ``limit`` items from a filtered DynamoDB scan.

    A filtered scan can return short or empty pages while more matches exist further on, so this keeps
    fetching until the page is full, the table ends, or ``max_fetches`` calls were spent (bounding the
    latency and read cost of one request). When the page fills mid-way through a fetched batch, the next
    cursor is the key of the last returned item rather than DynamoDB's ``LastEvaluatedKey``, so the items
    after it in that batch are not skipped.

    Parameters
    ----------
    fetch:
        ``fetch(exclusive_start_key) -> (items, last_evaluated_key)``.
    start_key:
        Where to resume (a decoded cursor), or ``None`` for the first page.
    limit:
        Maximum number of items to return.
    key_of:
        Returns the table key of an item, used to build the next cursor.
    max_fetches:
        Upper bound on ``fetch`` calls for this page.
    """
    items: list[T] = []
    key = start_key
    for _ in range(max_fetches):
        batch, last = fetch(key)
        for index, item in enumerate(batch):
            items.append(item)
            if len(items) == limit:
                more = index < len(batch) - 1 or last is not None
                return Page(items, key_of(item) if more else None)
        if last is None:
            return Page(items, None)
        key = last
    return Page(items, key)
