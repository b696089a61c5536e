"""Partner catalogue and orders: schemas and DynamoDB access, free of Lambda events."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lambda_manifest.runtime.http import Conflict, Forbidden, NotFound, Schema, UnprocessableEntity
from lambda_manifest.runtime.http.dynamodb import deserialize, error_code, scan_page, serialize
from lambda_manifest.runtime.http.pagination import Page

CATALOG_TABLE_ENV = "CATALOG_TABLE_NAME"
ORDERS_TABLE_ENV = "PARTNER_ORDERS_TABLE_NAME"
SKU_PATTERN = r"^[A-Z0-9-]{3,32}$"
CATALOG_FIELDS = ("sku", "name", "description", "price", "currency")
ORDER_FIELDS = ("order_id", "sku", "quantity", "partner_reference", "status", "created_at")

ORDER_SCHEMA = Schema(
    {
        "type": "object",
        "required": ["sku", "quantity", "partner_reference"],
        "properties": {
            "sku": {"type": "string", "pattern": SKU_PATTERN},
            "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
            "partner_reference": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        "additionalProperties": False,
    }
)
_SKU = re.compile(SKU_PATTERN)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def partner_of(api_key_id: str | None) -> str:
    """The partner is the REST API key's id; API Gateway sets it only after validating the key."""
    if not api_key_id:
        # The method should require an API key; fail closed if that setting was dropped.
        raise Forbidden("An API key is required", code="API_KEY_REQUIRED")
    return api_key_id


def sku_not_found() -> NotFound:
    return NotFound("No such product", code="PRODUCT_NOT_FOUND")


def catalog_view(stored: Mapping[str, Any]) -> dict[str, Any]:
    view = {"sku": stored["pk"], **{k: stored[k] for k in CATALOG_FIELDS[1:] if k in stored}}
    view.setdefault("currency", "USD")
    return view


class CatalogStore:
    """The product catalogue: one item per product, partition key ``pk`` (string) = the SKU.

    Item: ``pk`` (S, the SKU, ``^[A-Z0-9-]{3,32}$``), ``name`` (S), ``description`` (S, optional), ``price``
    (N), ``currency`` (S, optional, default ``USD``), ``active`` (BOOL, optional, default true; inactive
    products are hidden and cannot be ordered).
    """

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def list(self, *, limit: int, start_key: dict[str, str] | None) -> Page[dict[str, Any]]:
        page = scan_page(
            self.client, self.table, limit=limit, start_key=start_key,
            filter_expression="attribute_not_exists(active) OR active = :true", values={":true": {"BOOL": True}},
        )
        return Page([catalog_view(item) for item in page.items], page.next_key)

    def get(self, sku: str) -> dict[str, Any]:
        if not _SKU.fullmatch(sku):
            raise sku_not_found()
        response = self.client.get_item(TableName=self.table, Key={"pk": {"S": sku}})
        stored = deserialize(response.get("Item") or {})
        if not stored or stored.get("active") is False:
            raise sku_not_found()
        return catalog_view(stored)


def order_view(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {name: stored[name] for name in ORDER_FIELDS if name in stored}


class OrderStore:
    """Partner orders, partition key ``pk`` (string) only.

    Item: ``pk`` = ``PARTNER#<apiKeyId>#REF#<partner_reference>``, ``order_id`` (uuid4), ``partner_id``,
    ``sku``, ``quantity`` (N), ``partner_reference``, ``status`` (``RECEIVED``), ``created_at`` (ISO 8601 UTC).
    Keying by partner and reference makes the conditional put the idempotency check: a retried
    submission finds the existing order instead of creating a second one.
    """

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def submit(
        self, partner_id: str, order: Mapping[str, Any], *, now: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Store ``order`` unless this partner already used its ``partner_reference``.

        Returns
        -------
        (order, created)
            ``created`` is ``False`` when an identical earlier submission is returned instead.

        Raises
        ------
        lambda_manifest.runtime.http.Conflict
            ``IDEMPOTENCY_CONFLICT`` when the reference was used for a different ``sku`` or ``quantity``.
        """
        stored = {
            "pk": f"PARTNER#{partner_id}#REF#{order['partner_reference']}",
            "order_id": str(uuid.uuid4()),
            "partner_id": partner_id,
            "sku": order["sku"],
            "quantity": order["quantity"],
            "partner_reference": order["partner_reference"],
            "status": "RECEIVED",
            "created_at": now or now_iso(),
        }
        try:
            self.client.put_item(
                TableName=self.table,
                Item=serialize(stored),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            existing = deserialize(getattr(error, "response", {}).get("Item") or {})
            if existing.get("sku") != order["sku"] or existing.get("quantity") != order["quantity"]:
                raise Conflict(
                    "partner_reference was already used for a different order",
                    code="IDEMPOTENCY_CONFLICT",
                    details={"order_id": existing.get("order_id")},
                ) from None
            return order_view(existing), False
        return order_view(stored), True


def submit_order(
    catalog: CatalogStore, orders: OrderStore, partner_id: str, order: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Check the product exists and is orderable, then store the order idempotently."""
    try:
        catalog.get(order["sku"])
    except Exception as error:
        if getattr(error, "code", None) != "PRODUCT_NOT_FOUND":
            raise
        raise UnprocessableEntity("The sku is not in the catalogue", code="UNKNOWN_SKU") from None
    return orders.submit(partner_id, order)
