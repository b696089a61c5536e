"""Order queue worker: validate the order, store it once, publish ``order_created`` once.

Lambda handler ``orders.worker.main``. Reads ``ORDERS_TABLE_NAME`` and ``ORDER_EVENTS_TOPIC_ARN`` (plus the
``LM_WORKER_*`` runtime settings).

The put is conditional on the order not existing, and the item records when its event went out, so a
redelivered message neither rewrites the order nor publishes twice - and a delivery that stored the order
but failed to publish is finished by the retry instead of being mistaken for a duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from lambda_manifest.runtime.worker import WorkerRecord, worker

from . import aws
from .model import format_timestamp, order_from_item, order_item, order_pk, parse_order

logger = Logger()


def _now() -> datetime:
    return datetime.now(UTC)


def process(record: WorkerRecord) -> None:
    order = parse_order(record.body)
    item = order_item(order, _now(), record.message_id)
    stored = aws.put_if_absent(item)
    if stored is not None:
        if order_from_item(stored) != order:
            # The first version wins: overwriting a placed order from a reused id would be worse than
            # dropping the second one, which is logged for follow-up.
            logger.warning(
                "order id reused with different content; kept the stored order",
                extra={"order_id": order.order_id},
            )
        if stored.get("event_published_at"):
            logger.info("duplicate order ignored", extra={"order_id": order.order_id})
            return
        order, item = order_from_item(stored), stored
    aws.publish_order_created(order, str(item["created_at"]))
    aws.dynamodb().update_item(
        TableName=aws.table_name(),
        Key={"pk": {"S": order_pk(order.order_id)}},
        UpdateExpression="SET event_published_at = :now",
        ExpressionAttributeValues={":now": {"S": format_timestamp(_now())}},
    )
    logger.info("order stored", extra={"order_id": order.order_id, "total": str(order.total)})


main = worker(process)
