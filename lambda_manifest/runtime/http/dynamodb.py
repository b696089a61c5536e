"""DynamoDB plumbing for API handlers: the execution environment's client and attribute-value conversion.

boto3 is imported on first use only (``lambda_manifest.runtime.aws``): it costs ~150 ms, and routes that fail
validation never need it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Context, Decimal, Inexact, Rounded
from typing import Any

from lambda_manifest.runtime import aws
from lambda_manifest.runtime.aws import error_code as error_code  # re-exported: handlers import it from here
from lambda_manifest.runtime.http.pagination import Page, collect_page

# DynamoDB numbers carry at most 38 significant digits; the trap makes a longer one an error rather than
# a silently rounded value.
_NUMBER_CONTEXT = Context(prec=38, traps=[Inexact, Rounded])


def client() -> Any:
    """The execution environment's DynamoDB client (tests call ``lambda_manifest.runtime.aws.reset_clients()``).

    API Gateway gives up after 29 s (HTTP APIs: 30 s); the shared client's bounded timeouts leave room for a
    clean 500.
    """
    return aws.client("dynamodb")


def table_name(env_var: str) -> str:
    """The table name from ``env_var``; a missing variable is a deployment bug, so it is a 500."""
    name = os.environ.get(env_var, "").strip()
    if not name:
        raise RuntimeError(f"environment variable {env_var} is not set")
    return name


def to_decimal(number: int | float | Decimal) -> Decimal:
    """A DynamoDB-safe Decimal; ``str(float)`` keeps what the client wrote (0.1 stays 0.1)."""
    return _NUMBER_CONTEXT.create_decimal(str(number))


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB attribute values; ``None`` values are left out."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {
        key: serializer.serialize(to_decimal(value) if isinstance(value, float) else value)
        for key, value in item.items()
        if value is not None
    }


def deserialize(attributes: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in attributes.items()}


# Items read per Scan call while filling a page: enough to fill most pages in one call, small enough that a
# sparse filter does not read megabytes per request.
SCAN_PAGE_SIZE = 200


def scan_page(
    dynamodb: Any,
    table: str,
    *,
    limit: int,
    start_key: dict[str, str] | None,
    filter_expression: str,
    values: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
) -> Page[dict[str, Any]]:
    """One page of a filtered scan over a table keyed by ``pk`` (a string) alone, items deserialized.

    ``values`` are attribute values in DynamoDB's wire form (``{":owner": {"S": "..."}}``).
    """

    def fetch(key: dict[str, str] | None) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        request: dict[str, Any] = {
            "TableName": table,
            "Limit": SCAN_PAGE_SIZE,
            "FilterExpression": filter_expression,
            "ExpressionAttributeValues": dict(values),
        }
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        if key is not None:
            request["ExclusiveStartKey"] = {"pk": {"S": key["pk"]}}
        response = dynamodb.scan(**request)
        last = response.get("LastEvaluatedKey")
        items = [deserialize(raw) for raw in response.get("Items", [])]
        return items, ({"pk": last["pk"]["S"]} if last else None)

    return collect_page(fetch, start_key=start_key, limit=limit, key_of=lambda item: {"pk": item["pk"]})
