"""Nightly reconciliation: every order of the last day must have a confirmation; re-publish the ones without.

Lambda handler ``orders.reconcile.main`` - invoked by an EventBridge schedule directly, or with the scheduled
event delivered through SQS. Reads ``ORDERS_TABLE_NAME``, ``ORDER_EVENTS_TOPIC_ARN``, ``ORDERS_BY_DAY_INDEX``
(default ``by-day``: partition key ``gsi1pk``, sort key ``gsi1sk``, both strings), ``RECONCILE_WINDOW_HOURS``
(default 24) and ``RECONCILE_GRACE_MINUTES`` (default 15). A manual invocation may pass ``time``,
``window_hours`` and ``grace_minutes`` in the event.

Orders younger than the grace period are left alone: their event is most likely still on its way, and
re-publishing it would only add a duplicate for the notification worker to discard.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from . import aws
from .model import InvalidOrderError, Order, day_pk, format_timestamp, notification_pk, order_from_item

ENV_WINDOW_HOURS = "RECONCILE_WINDOW_HOURS"
ENV_GRACE_MINUTES = "RECONCILE_GRACE_MINUTES"
DEFAULT_WINDOW_HOURS = 24.0
DEFAULT_GRACE_MINUTES = 15.0
_BATCH_GET_LIMIT = 100
_BATCH_GET_ATTEMPTS = 6

logger = Logger()


@dataclass(slots=True)
class ReconcileResult:
    window_start: str
    window_end: str
    orders_checked: int = 0
    already_notified: int = 0
    republished: int = 0
    invalid: int = 0
    publish_failures: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def _number(value: Any, default: float, name: str) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _scheduled_time(event: Mapping[str, Any]) -> datetime | None:
    """The schedule's ``time``, so a retried or replayed run checks the window it was scheduled for."""
    records = event.get("Records")
    if not isinstance(records, list):
        return _parse_time(event.get("time"))
    times: list[datetime] = []
    for record in records:
        try:
            body = json.loads(record.get("body") or "")
        except ValueError:
            continue
        moment = _parse_time(body.get("time")) if isinstance(body, dict) else None
        if moment is not None:
            times.append(moment)
    return max(times, default=None)


def _orders_between(start: datetime, end: datetime) -> Iterator[tuple[Order | None, Mapping[str, Any]]]:
    client = aws.dynamodb()
    table, index = aws.table_name(), aws.by_day_index()
    day = start.date()
    while day <= end.date():
        request: dict[str, Any] = {
            "TableName": table,
            "IndexName": index,
            "KeyConditionExpression": "gsi1pk = :day AND gsi1sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":day": {"S": day_pk(day.isoformat())},
                ":lo": {"S": format_timestamp(start)},
                ":hi": {"S": format_timestamp(end)},
            },
        }
        while True:
            page = client.query(**request)
            for attributes in page.get("Items", []):
                item = aws.from_attributes(attributes)
                if "items" not in item:
                    # The index may project keys only; the order itself is one read away.
                    full = client.get_item(TableName=table, Key={"pk": {"S": item["pk"]}}).get("Item")
                    if full is None:
                        continue
                    item = aws.from_attributes(full)
                try:
                    yield order_from_item(item), item
                except InvalidOrderError:
                    yield None, item
            last_key = page.get("LastEvaluatedKey")
            if not last_key:
                break
            request["ExclusiveStartKey"] = last_key
        day += timedelta(days=1)


def _notified(order_ids: Sequence[str]) -> set[str]:
    """The subset of ``order_ids`` that already have a ``NOTIFICATION#`` item."""
    client = aws.dynamodb()
    table = aws.table_name()
    found: set[str] = set()
    unique = list(dict.fromkeys(order_ids))
    for offset in range(0, len(unique), _BATCH_GET_LIMIT):
        keys = [
            {"pk": {"S": notification_pk(order_id)}}
            for order_id in unique[offset : offset + _BATCH_GET_LIMIT]
        ]
        pending: dict[str, Any] = {table: {"Keys": keys, "ProjectionExpression": "pk"}}
        for attempt in range(_BATCH_GET_ATTEMPTS):
            response = client.batch_get_item(RequestItems=pending)
            for item in response.get("Responses", {}).get(table, []):
                found.add(item["pk"]["S"].removeprefix("NOTIFICATION#"))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(0.05 * 2**attempt)
        if pending:
            # Guessing "not notified" would be harmless but noisy; failing lets the scheduler's retry redo it.
            raise RuntimeError("DynamoDB kept throttling the notification look-up")
    return found


def reconcile(
    now: datetime, window: timedelta = timedelta(hours=24), grace: timedelta = timedelta(minutes=15)
) -> ReconcileResult:
    start, end = now - window, now - grace
    result = ReconcileResult(window_start=format_timestamp(start), window_end=format_timestamp(end))
    if end <= start:
        return result
    orders: list[tuple[Order, str]] = []
    for order, item in _orders_between(start, end):
        result.orders_checked += 1
        if order is None:
            result.invalid += 1
            logger.warning("stored order is invalid; not re-published", extra={"pk": item.get("pk")})
            continue
        orders.append((order, str(item.get("created_at", ""))))
    notified = _notified([order.order_id for order, _ in orders])
    for order, created_at in orders:
        if order.order_id in notified:
            result.already_notified += 1
            continue
        try:
            aws.publish_order_created(order, created_at, republished=True)
        except Exception:
            # One failed publish must not stop the others; the run fails at the end so it is retried.
            result.publish_failures += 1
            logger.exception("re-publish failed", extra={"order_id": order.order_id})
            continue
        result.republished += 1
        logger.info("order_created re-published", extra={"order_id": order.order_id})
    return result


def main(event: Mapping[str, Any] | None, context: object = None) -> dict[str, Any]:
    event = event or {}
    now = _scheduled_time(event) or _now()
    window = _number(
        event.get("window_hours", os.environ.get(ENV_WINDOW_HOURS)), DEFAULT_WINDOW_HOURS, "window_hours"
    )
    grace = _number(
        event.get("grace_minutes", os.environ.get(ENV_GRACE_MINUTES)), DEFAULT_GRACE_MINUTES, "grace_minutes"
    )
    result = reconcile(now, timedelta(hours=window), timedelta(minutes=grace))
    counts = asdict(result)
    logger.info("reconciliation finished", extra=counts)
    if result.publish_failures:
        raise RuntimeError(f"{result.publish_failures} order_created events could not be re-published")
    if isinstance(event.get("Records"), list):
        # Delivered through SQS: the event source mapping expects a batch response, and one run covers
        # every schedule message in the batch.
        return {"batchItemFailures": []}
    return counts
