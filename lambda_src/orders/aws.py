"""AWS clients and settings shared by the order handlers.

boto3 is imported on first use (~100 ms), and each client is created once per execution environment.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from .model import EVENT_ORDER_CREATED, Order, order_created_event

ENV_TABLE = "ORDERS_TABLE_NAME"
ENV_TOPIC = "ORDER_EVENTS_TOPIC_ARN"
ENV_BY_DAY_INDEX = "ORDERS_BY_DAY_INDEX"
DEFAULT_BY_DAY_INDEX = "by-day"

logger = Logger()


def required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def table_name() -> str:
    return required_env(ENV_TABLE)


def topic_arn() -> str:
    return required_env(ENV_TOPIC)


def by_day_index() -> str:
    return os.environ.get(ENV_BY_DAY_INDEX, "").strip() or DEFAULT_BY_DAY_INDEX


@functools.cache
def dynamodb() -> Any:
    import boto3

    return boto3.client("dynamodb")


@functools.cache
def sns() -> Any:
    import boto3

    return boto3.client("sns")


def reset_clients() -> None:
    """Forget cached clients (tests swap the AWS backend underneath them)."""
    dynamodb.cache_clear()
    sns.cache_clear()


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError``, read without importing botocore."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            code = error.get("Code")
            return code if isinstance(code, str) else None
    return None


def to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {key: serializer.serialize(value) for key, value in item.items()}


def from_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in attributes.items()}


def put_if_absent(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """Write ``item`` unless its ``pk`` exists; returns the stored item when it already did."""
    try:
        dynamodb().put_item(
            TableName=table_name(),
            Item=to_attributes(item),
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        old = getattr(exc, "response", {}).get("Item")
        if old is None:
            old = (
                dynamodb()
                .get_item(TableName=table_name(), Key={"pk": {"S": item["pk"]}}, ConsistentRead=True)
                .get("Item")
            )
        return from_attributes(old) if old else dict(item)
    return None


def publish_order_created(order: Order, created_at: str, *, republished: bool = False) -> str:
    """Publish ``order_created``; returns the SNS message id."""
    arn = topic_arn()
    request: dict[str, Any] = {
        "TopicArn": arn,
        "Message": json.dumps(order_created_event(order, created_at, republished=republished)),
        "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": EVENT_ORDER_CREATED}},
    }
    if arn.endswith(".fifo"):
        # Per-order ordering is all consumers need; deduplicating on the order id lets a retried publish
        # inside SNS's five-minute window collapse into one delivery.
        # Hashed because an order id may hold characters these two fields do not accept.
        digest = hashlib.sha256(order.order_id.encode()).hexdigest()
        request["MessageGroupId"] = digest
        request["MessageDeduplicationId"] = f"{EVENT_ORDER_CREATED}-{digest}"
    message_id: str = sns().publish(**request)["MessageId"]
    return message_id
