"""``lookup_item``: one item of the items table, by id (``mcp_tools.items.lookup_item``).

The table is ``ITEMS_TABLE``; items are stored as ``pk = ITEM#<id>`` with a ``name``, a ``price`` and ``tags``.
A missing item raises ``ItemNotFound``: the MCP gateway turns it into a tool error of that type, so the model
reads "ItemNotFound: ..." and can ask for another id.
"""

from __future__ import annotations

import functools
import os
from typing import Any, TypedDict

TABLE_ENV = "ITEMS_TABLE"


class LookupItem(TypedDict):
    """Which item to read."""

    id: str
    """The item's id, as shown in the catalogue (e.g. 'sku-1')."""


class ItemNotFound(Exception):
    """No item has that id."""


@functools.cache
def _client() -> Any:
    import boto3

    return boto3.client("dynamodb")


def lookup_item(event: LookupItem, context: Any) -> dict[str, Any]:
    item_id = str(event.get("id") or "").strip()
    if not item_id:
        raise ValueError("id must be a non-empty string")
    found = _client().get_item(TableName=os.environ[TABLE_ENV], Key={"pk": {"S": f"ITEM#{item_id}"}},
                               ConsistentRead=True).get("Item")
    if found is None:
        raise ItemNotFound(f"no item with id {item_id!r}")
    return {
        "id": item_id,
        "name": found.get("name", {}).get("S", ""),
        "price": float(found.get("price", {}).get("N", "0")),
        "tags": [t.get("S", "") for t in found.get("tags", {}).get("L", [])],
    }
