"""Notification worker: turns ``order_created`` events (SNS topic -> SQS queue) into order confirmations.

Lambda handler ``orders.notify.main``. Reads ``ORDERS_TABLE_NAME`` (plus the ``LM_WORKER_*`` runtime settings).

There is no mail service in this stack, so the rendered confirmation is recorded as the
``NOTIFICATION#<order_id>`` item; its existence is also what the nightly reconciliation checks. The put is
conditional, so a repeated event records (and would send) one confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from lambda_manifest.runtime.worker import WorkerRecord, worker

from . import aws
from .model import (
    EVENT_ORDER_CREATED,
    format_timestamp,
    notification_pk,
    parse_order_created_event,
    render_confirmation,
)

logger = Logger()


def _now() -> datetime:
    return datetime.now(UTC)


def _event_type(record: WorkerRecord) -> str | None:
    # Raw delivery on puts the attribute on the SQS message, off leaves it in the SNS envelope;
    # message_attribute() reads both, and the body carries it too for publishers that set no attributes.
    event_type = record.message_attribute("event_type")
    if event_type is None and isinstance(record.body, Mapping):
        value = record.body.get("event_type")
        event_type = value if isinstance(value, str) else None
    return event_type


def process(record: WorkerRecord) -> None:
    event_type = _event_type(record)
    if event_type != EVENT_ORDER_CREATED:
        # Other events may share the topic later; they are not ours to fail.
        logger.info("event ignored", extra={"event_type": event_type, "message_id": record.message_id})
        return
    order, _created_at = parse_order_created_event(record.body)
    subject, text = render_confirmation(order)
    existing = aws.put_if_absent(
        {
            "pk": notification_pk(order.order_id),
            "entity": "NOTIFICATION",
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "channel": "recorded",
            "subject": subject,
            "message": text,
            "total": order.total,
            "currency": order.currency,
            "created_at": format_timestamp(_now()),
            "source_message_id": record.message_id,
        }
    )
    if existing is not None:
        logger.info("notification already recorded", extra={"order_id": order.order_id})
        return
    logger.info("notification recorded", extra={"order_id": order.order_id})


main = worker(process)
