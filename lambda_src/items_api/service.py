"""Items: validation schemas, ownership and DynamoDB access. Plain functions, no Lambda event in sight."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

from lambda_manifest.runtime.http import (
    BadRequest,
    Conflict,
    NotFound,
    Principal,
    Schema,
    Unauthorized,
    ValidationFailed,
)
from lambda_manifest.runtime.http.dynamodb import deserialize, error_code, scan_page, serialize
from lambda_manifest.runtime.http.pagination import Page

TABLE_ENV = "ITEMS_TABLE_NAME"
MUTABLE_FIELDS = ("name", "description", "price", "tags")
PUBLIC_FIELDS = ("id", *MUTABLE_FIELDS, "created_at", "updated_at", "version")
MAX_PRICE = 1_000_000_000_000
# DynamoDB cannot store a positive number below 1E-130, yet JSON happily carries 5e-324.
MIN_POSITIVE_PRICE = 1e-130

_FIELDS_SCHEMA: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": {"type": "string", "maxLength": 2000},
    "price": {"type": "number", "minimum": 0, "maximum": MAX_PRICE},
    # Per-tag bounds keep the whole item far below DynamoDB's 400 KB item limit.
    "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 100}},
}
CREATE_SCHEMA = Schema(
    {"type": "object", "required": ["name"], "properties": _FIELDS_SCHEMA, "additionalProperties": False}
)
REPLACE_SCHEMA = Schema(
    {
        "type": "object",
        "required": ["name"],
        "properties": {**_FIELDS_SCHEMA, "version": {"type": "integer", "minimum": 1}},
        "additionalProperties": False,
    }
)


def validated(document: Any, schema: Schema) -> dict[str, Any]:
    """``schema.validate`` plus the one rule JSON Schema cannot express: DynamoDB's number range."""
    fields: dict[str, Any] = schema.validate(document)
    price = fields.get("price")
    if price is not None and 0 < price < MIN_POSITIVE_PRICE:
        message = "must be 0 or at least 1e-130"
        raise ValidationFailed(f"$.price: {message}", details=[{"path": "$.price", "message": message}])
    return fields


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CONDITION_FAILED = "ConditionalCheckFailedException"


def item_not_found() -> NotFound:
    # Also used for other owners' items, so the message must not hint at whether the id exists.
    return NotFound("Item not found", code="ITEM_NOT_FOUND")


def version_conflict(current_version: int) -> Conflict:
    return Conflict(
        "The item was changed by someone else; fetch it again and retry",
        code="VERSION_CONFLICT",
        details={"current_version": current_version},
    )


def owner_of(principal: Principal | None) -> str:
    """The ownership key: the tenant when the caller has one (tenants share items), else the subject.

    The ``tenant#``/``sub#`` prefixes keep a tenant and a user that happen to share a name apart.
    """
    if principal is None:
        # API Gateway's authorizer should have refused the request; fail closed if it was left off.
        raise Unauthorized("No authenticated caller")
    return f"tenant#{principal.tenant}" if principal.tenant else f"sub#{principal.sub}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_item_id(value: str) -> bool:
    return bool(_UUID.fullmatch(value))


def _key(item_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ITEM#{item_id}"}}


def public_view(stored: Mapping[str, Any]) -> dict[str, Any]:
    """What clients see: the stored item without ``pk`` and ``owner``; absent optional fields are omitted."""
    return {name: stored[name] for name in PUBLIC_FIELDS if name in stored}


class ItemStore:
    """Items in one DynamoDB table, partition key ``pk`` (string) only.

    Stored item: ``pk`` = ``ITEM#<id>``, ``id`` (uuid4), ``owner`` (``tenant#<t>`` or ``sub#<s>``), ``name``,
    ``description``?, ``price``? (N), ``tags``? (L of S), ``created_at``, ``updated_at`` (ISO 8601 UTC),
    ``version`` (N, starts at 1, +1 per update).

    Parameters
    ----------
    table:
        Table name.
    client:
        A boto3 DynamoDB client.
    """

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def create(self, owner: str, fields: Mapping[str, Any], *, now: str | None = None) -> dict[str, Any]:
        timestamp = now or now_iso()
        item_id = str(uuid.uuid4())
        item = {
            "pk": f"ITEM#{item_id}",
            "id": item_id,
            "owner": owner,
            **{name: fields.get(name) for name in MUTABLE_FIELDS},
            "created_at": timestamp,
            "updated_at": timestamp,
            "version": 1,
        }
        # The condition makes a (vanishingly unlikely) uuid collision fail loudly instead of overwriting.
        self.client.put_item(
            TableName=self.table, Item=serialize(item), ConditionExpression="attribute_not_exists(pk)"
        )
        return public_view({k: v for k, v in item.items() if v is not None})

    def get(self, owner: str, item_id: str) -> dict[str, Any]:
        if not is_item_id(item_id):
            raise item_not_found()
        # Consistent read: a client that just wrote the item must see its own write.
        response = self.client.get_item(TableName=self.table, Key=_key(item_id), ConsistentRead=True)
        stored = deserialize(response.get("Item") or {})
        # Someone else's item is reported exactly like a missing one, so ids cannot be probed.
        if not stored or stored.get("owner") != owner:
            raise item_not_found()
        return public_view(stored)

    def list(self, owner: str, *, limit: int, start_key: dict[str, str] | None) -> Page[dict[str, Any]]:
        """One page of the owner's items, in DynamoDB scan order.

        The table has no owner index, so this is a filtered scan; ``scan_page`` keeps scanning until the
        page is full. A GSI on ``owner`` would turn it into a query once tables grow large.
        """

        page = scan_page(
            self.client, self.table, limit=limit, start_key=start_key,
            filter_expression="#owner = :owner", names={"#owner": "owner"}, values={":owner": {"S": owner}},
        )
        return Page([public_view(item) for item in page.items], page.next_key)

    def replace(
        self,
        owner: str,
        item_id: str,
        fields: Mapping[str, Any],
        *,
        expected_version: int | None,
        now: str | None = None,
    ) -> dict[str, Any]:
        """Replace every mutable field (absent optional ones are removed) and bump ``version``.

        Raises
        ------
        lambda_manifest.runtime.http.NotFound
            ``ITEM_NOT_FOUND``: the item does not exist or belongs to someone else.
        lambda_manifest.runtime.http.Conflict
            ``VERSION_CONFLICT``: ``expected_version`` is given and the stored version differs.
        """
        if not is_item_id(item_id):
            raise item_not_found()
        names = {"#owner": "owner", "#version": "version"}
        values: dict[str, Any] = {":owner": owner, ":one": 1, ":now": now or now_iso()}
        sets = ["#version = #version + :one", "updated_at = :now"]
        removes = []
        for index, name in enumerate(MUTABLE_FIELDS):
            names[f"#f{index}"] = name
            if fields.get(name) is None:
                removes.append(f"#f{index}")
            else:
                sets.append(f"#f{index} = :f{index}")
                values[f":f{index}"] = fields[name]
        condition = "attribute_exists(pk) AND #owner = :owner"
        if expected_version is not None:
            condition += " AND #version = :expected"
            values[":expected"] = expected_version
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=_key(item_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            self._raise_condition_failure(error, owner)
        return public_view(deserialize(response["Attributes"]))

    def delete(self, owner: str, item_id: str, *, expected_version: int | None = None) -> None:
        if not is_item_id(item_id):
            raise item_not_found()
        condition = "attribute_exists(pk) AND #owner = :owner"
        names = {"#owner": "owner"}
        values: dict[str, Any] = {":owner": owner}
        if expected_version is not None:
            condition += " AND #version = :expected"
            names["#version"] = "version"
            values[":expected"] = expected_version
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=_key(item_id),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            self._raise_condition_failure(error, owner)

    @staticmethod
    def _raise_condition_failure(error: Exception, owner: str) -> NoReturn:
        """Translate a failed condition into 404 or 409 using the item DynamoDB returned; re-raise the rest."""
        if error_code(error) != _CONDITION_FAILED:
            raise error
        old = deserialize(getattr(error, "response", {}).get("Item") or {})
        if not old or old.get("owner") != owner:
            raise item_not_found() from None
        raise version_conflict(int(old.get("version", 0))) from None


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header asks for: ``"3"``, ``W/"3"`` or ``3``; ``*`` or absent means any.

    Raises
    ------
    lambda_manifest.runtime.http.BadRequest
        ``INVALID_IF_MATCH`` for anything else.
    """
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 12) or int(text) < 1:
        raise BadRequest('If-Match must be the item\'s ETag, for example "3"', code="INVALID_IF_MATCH")
    return int(text)


def expected_version(if_match: str | None, body_version: int | None) -> int | None:
    """Combine the two ways a client can state the version it edited; they must agree when both are given."""
    header_version = parse_if_match(if_match)
    if header_version is not None and body_version is not None and header_version != body_version:
        raise BadRequest("If-Match and the body's version disagree", code="CONFLICTING_PRECONDITIONS")
    return header_version if header_version is not None else body_version
