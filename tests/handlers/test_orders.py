"""OrdersStack handlers (lambda_src/orders) against moto DynamoDB, SNS and SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws
from orders import aws as orders_aws
from orders import notify, reconcile
from orders import worker as order_worker
from orders.model import InvalidOrderError, parse_order, render_confirmation
from worker_sqs import FakeContext, drain_bodies, lambda_event, queue_arn, run_mapping, synthetic_record

TABLE = "orders"
INDEX = "by-day"


@dataclass
class Env:
    ddb: Any
    sqs: Any
    topic: str
    events_url: str  # subscribed to the topic, raw delivery off (what the notify queue gets)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name in (
        "LM_WORKER_IDEMPOTENCY_TABLE",
        "LM_WORKER_FIFO",
        "LM_WORKER_RAW_BODY",
        "ORDERS_BY_DAY_INDEX",
    ):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        orders_aws.reset_clients()
        ddb, sqs, sns = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("sns")
        create_orders_table(ddb)
        topic = sns.create_topic(Name="order-events")["TopicArn"]
        events_url = sqs.create_queue(QueueName="notify")["QueueUrl"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(sqs, events_url))
        monkeypatch.setenv("ORDERS_TABLE_NAME", TABLE)
        monkeypatch.setenv("ORDER_EVENTS_TOPIC_ARN", topic)
        yield Env(ddb, sqs, topic, events_url)
    orders_aws.reset_clients()


def create_orders_table(ddb: Any, name: str = TABLE, projection: str = "ALL") -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "gsi1pk", "AttributeType": "S"},
            {"AttributeName": "gsi1sk", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": projection},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def order(order_id: str = "o-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": "c-42",
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "quantity": 3, "unit_price": 0.1},
            {"sku": "SKU-2", "quantity": 1, "unit_price": 19.99},
        ],
    }
    body.update(changes)
    return body


def invoke(handler: Any, *bodies: Any, prefix: str = "m") -> list[str]:
    records = [
        synthetic_record(b if isinstance(b, str) else json.dumps(b), f"{prefix}-{i}")
        for i, b in enumerate(bodies)
    ]
    response = handler({"Records": records}, FakeContext())
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def get(ddb: Any, pk: str) -> dict[str, Any] | None:
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}}).get("Item")
    return orders_aws.from_attributes(item) if item else None


def published(env: Env) -> list[dict[str, Any]]:
    """Notifications on the topic's queue (drained)."""
    return [json.loads(body) for body in drain_bodies(env.sqs, env.events_url)]


# -- the order worker ------------------------------------------------------------------------------------


def test_order_is_stored_and_announced(env: Env) -> None:
    assert invoke(order_worker.main, order()) == []
    item = get(env.ddb, "ORDER#o-1")
    assert item is not None
    # 3 x 0.1 is 0.30 exactly, not 0.30000000000000004.
    assert item["total"] == Decimal("20.29")
    assert item["items"][0] == {"sku": "SKU-1", "quantity": Decimal(3), "unit_price": Decimal("0.1")}
    assert item["gsi1pk"] == f"DAY#{item['created_at'][:10]}"
    assert item["gsi1sk"] == f"{item['created_at']}#o-1"
    assert item["event_published_at"] >= item["created_at"]
    (notification,) = published(env)
    assert notification["MessageAttributes"]["event_type"] == {"Type": "String", "Value": "order_created"}
    event = json.loads(notification["Message"])
    assert event["event_type"] == "order_created" and event["total"] == "20.29" and event["currency"] == "EUR"
    assert event["items"][0] == {"sku": "SKU-1", "quantity": 3, "unit_price": "0.10"}


def test_total_rounds_once_half_up() -> None:
    parsed = parse_order(
        order(
            items=[
                {"sku": "a", "quantity": 3, "unit_price": 0.125},
                {"sku": "b", "quantity": 1, "unit_price": 0},
            ]
        )
    )
    assert parsed.total == Decimal(
        "0.38"
    )  # 0.375 -> 0.38; rounding each line first would give the same here,
    parsed = parse_order(order(items=[{"sku": "a", "quantity": 1, "unit_price": 0.005}] * 2))
    assert parsed.total == Decimal("0.01")  # ...but not here: two lines of 0.005 round to 0.01, not 0.02.


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        [],
        order(order_id=""),
        order(customer_id=None),
        order(currency="JPY"),
        order(items=[]),
        order(items="SKU-1"),
        order(items=[{"sku": "a", "quantity": 0, "unit_price": 1}]),
        order(items=[{"sku": "a", "quantity": 1.5, "unit_price": 1}]),
        order(items=[{"sku": "a", "quantity": True, "unit_price": 1}]),
        order(items=[{"sku": "a", "quantity": 1, "unit_price": -0.01}]),
        order(items=[{"sku": "a", "quantity": 1, "unit_price": "1.00"}]),
        order(items=[{"sku": "a", "quantity": 1, "unit_price": True}]),
        order(items=[{"sku": "", "quantity": 1, "unit_price": 1}]),
        order(order_id="x" * 129),
    ],
)
def test_invalid_orders_fail_and_write_nothing(env: Env, body: Any) -> None:
    assert invoke(order_worker.main, body) == ["m-0"]
    assert env.ddb.scan(TableName=TABLE)["Items"] == []
    assert published(env) == []


def test_non_finite_price_is_invalid() -> None:
    with pytest.raises(InvalidOrderError):
        parse_order(
            json.loads(
                '{"order_id":"o","customer_id":"c","currency":"USD","items":[{"sku":"a","quantity":1,"unit_price":NaN}]}'
            )
        )


def test_duplicate_order_is_a_no_op(env: Env) -> None:
    assert invoke(order_worker.main, order(), order()) == []
    assert invoke(order_worker.main, order(), prefix="later") == []
    assert len(env.ddb.scan(TableName=TABLE)["Items"]) == 1
    assert len(published(env)) == 1


def test_reused_order_id_keeps_the_first_order(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    assert invoke(order_worker.main, order(), order(customer_id="someone-else")) == []
    item = get(env.ddb, "ORDER#o-1")
    assert item is not None and item["customer_id"] == "c-42"
    assert len(published(env)) == 1
    assert any("reused" in r.getMessage() for r in caplog.records)


def test_publish_failure_is_finished_by_the_retry(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    real = orders_aws.publish_order_created
    calls: list[str] = []

    def flaky(order: Any, created_at: str, **kwargs: Any) -> str:
        calls.append(order.order_id)
        if len(calls) == 1:
            raise RuntimeError("SNS unavailable")
        return real(order, created_at, **kwargs)

    monkeypatch.setattr(orders_aws, "publish_order_created", flaky)
    assert invoke(order_worker.main, order()) == ["m-0"]
    stored = get(env.ddb, "ORDER#o-1")
    assert stored is not None and "event_published_at" not in stored
    # The redelivery finds the order stored but unannounced, and announces the stored version.
    assert invoke(order_worker.main, order(customer_id="changed")) == []
    (notification,) = published(env)
    assert json.loads(notification["Message"])["customer_id"] == "c-42"
    stored = get(env.ddb, "ORDER#o-1")
    assert stored is not None and "event_published_at" in stored
    assert invoke(order_worker.main, order()) == []
    assert published(env) == [] and len(calls) == 2


def test_order_worker_with_powertools_idempotency(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.ddb.create_table(
        TableName="orders-idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("LM_WORKER_IDEMPOTENCY_TABLE", "orders-idempotency")
    monkeypatch.setenv("LM_WORKER_IDEMPOTENCY_KEY", "body.order_id")
    writes: list[str] = []
    real_put = orders_aws.put_if_absent
    monkeypatch.setattr(orders_aws, "put_if_absent", lambda item: writes.append(item["pk"]) or real_put(item))
    assert invoke(order_worker.main, order(), order(), order("o-2")) == []
    assert writes == ["ORDER#o-1", "ORDER#o-2"]  # the duplicate never reached the table
    assert len(published(env)) == 2


def test_fifo_topic_gets_group_and_dedup_ids(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    sns = boto3.client("sns")
    fifo_topic = sns.create_topic(Name="order-events.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    monkeypatch.setenv("ORDER_EVENTS_TOPIC_ARN", fifo_topic)
    requests: list[dict[str, Any]] = []
    client = orders_aws.sns()
    real_publish = client.publish

    def spy(**request: Any) -> Any:
        requests.append(request)
        return real_publish(**request)

    monkeypatch.setattr(client, "publish", spy)
    assert invoke(order_worker.main, order("order with spaces")) == []
    (request,) = requests
    assert len(request["MessageGroupId"]) == 64 and request["MessageDeduplicationId"].startswith(
        "order_created-"
    )


# -- the notification worker ----------------------------------------------------------------------------


def notify_batch(env: Env) -> dict[str, Any]:
    messages = env.sqs.receive_message(
        QueueUrl=env.events_url,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"]
    return lambda_event(messages, queue_arn(env.sqs, env.events_url))


def test_notification_recorded_once_from_the_sns_envelope(env: Env) -> None:
    invoke(order_worker.main, order())
    batch = notify_batch(env)
    assert notify.main(batch, FakeContext()) == {"batchItemFailures": []}
    item = get(env.ddb, "NOTIFICATION#o-1")
    assert item is not None
    assert item["subject"] == "Order o-1 confirmed"
    assert "Hello c-42" in item["message"]
    assert "3 x SKU-1 @ €0.10 EUR = €0.30 EUR" in item["message"]
    assert item["message"].endswith("Total: €20.29 EUR")
    assert item["total"] == Decimal("20.29") and "gsi1pk" not in item
    created = item["created_at"]
    # The same event again (SNS or SQS redelivery) leaves the first notification alone.
    assert notify.main(batch, FakeContext()) == {"batchItemFailures": []}
    again = get(env.ddb, "NOTIFICATION#o-1")
    assert again is not None and again["created_at"] == created


def test_notify_raw_delivery_and_other_events(env: Env) -> None:
    event = {
        "event_type": "order_created",
        "order_id": "o-9",
        "customer_id": "c-1",
        "currency": "GBP",
        "items": [{"sku": "TEA", "quantity": 2, "unit_price": "2.50"}],
        "total": "5.00",
        "created_at": "2030-01-01T00:00:00.000000Z",
    }
    assert invoke(notify.main, event, {"event_type": "order_shipped", "order_id": "o-9"}) == []
    item = get(env.ddb, "NOTIFICATION#o-9")
    assert item is not None and "Total: £5.00 GBP" in item["message"]
    assert len(env.ddb.scan(TableName=TABLE)["Items"]) == 1
    # A total that does not match its items is a corrupt event: failed, so it is dead-lettered and looked at.
    assert invoke(notify.main, {**event, "order_id": "o-10", "total": "6.00"}) == ["m-0"]


def test_render_confirmation_text() -> None:
    subject, text = render_confirmation(parse_order(order(currency="USD")))
    assert subject == "Order o-1 confirmed"
    assert text.splitlines() == [
        "Hello c-42,",
        "",
        "Thank you for your order o-1.",
        "",
        "  3 x SKU-1 @ $0.10 USD = $0.30 USD",
        "  1 x SKU-2 @ $19.99 USD = $19.99 USD",
        "",
        "Total: $20.29 USD",
    ]


# -- reconciliation -----------------------------------------------------------------------------------------


def place(monkeypatch: pytest.MonkeyPatch, at: datetime, order_id: str) -> None:
    monkeypatch.setattr(order_worker, "_now", lambda: at)
    assert invoke(order_worker.main, order(order_id), prefix=order_id) == []


NOW = datetime(2030, 3, 10, 2, 0, tzinfo=UTC)  # 02:00, so the last 24 hours span two days


def seed_orders(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    place(monkeypatch, NOW - timedelta(hours=30), "too-old")
    place(monkeypatch, NOW - timedelta(hours=20), "yesterday-notified")
    place(monkeypatch, NOW - timedelta(hours=10), "yesterday-missing")
    place(monkeypatch, NOW - timedelta(hours=1), "today-missing")
    place(monkeypatch, NOW - timedelta(minutes=5), "in-flight")
    # Only one order got its confirmation.
    for message in drain_bodies(env.sqs, env.events_url):
        if json.loads(json.loads(message)["Message"])["order_id"] == "yesterday-notified":
            env.sqs.send_message(QueueUrl=env.events_url, MessageBody=message)
    notify.main(notify_batch(env), FakeContext())


def test_reconcile_republishes_orders_without_notification(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_orders(env, monkeypatch)
    counts = reconcile.main(
        {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2030-03-10T02:00:00Z"}
    )
    assert counts == {
        "window_start": "2030-03-09T02:00:00.000000Z",
        "window_end": "2030-03-10T01:45:00.000000Z",
        "orders_checked": 3,
        "already_notified": 1,
        "republished": 2,
        "invalid": 0,
        "publish_failures": 0,
    }
    events = [json.loads(n["Message"]) for n in published(env)]
    assert sorted(e["order_id"] for e in events) == ["today-missing", "yesterday-missing"]
    assert all(e["republished"] is True and e["total"] == "20.29" for e in events)


def test_reconcile_closes_the_loop(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_orders(env, monkeypatch)
    scheduled = {"time": "2030-03-10T02:00:00Z"}
    assert reconcile.main(scheduled)["republished"] == 2
    notify.main(notify_batch(env), FakeContext())
    second = reconcile.main(scheduled)
    assert second["republished"] == 0 and second["already_notified"] == 3


def test_reconcile_through_sqs_and_env_settings(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_orders(env, monkeypatch)
    monkeypatch.setenv("RECONCILE_GRACE_MINUTES", "0")
    monkeypatch.setenv("RECONCILE_WINDOW_HOURS", "2")
    schedule = json.dumps(
        {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2030-03-10T02:00:00Z"}
    )
    result = reconcile.main({"Records": [synthetic_record(schedule)]}, FakeContext())
    assert result == {"batchItemFailures": []}
    events = [json.loads(n["Message"]) for n in published(env)]
    assert sorted(e["order_id"] for e in events) == ["in-flight", "today-missing"]


def test_reconcile_with_keys_only_index(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    create_orders_table(env.ddb, "orders-keys-only", projection="KEYS_ONLY")
    monkeypatch.setenv("ORDERS_TABLE_NAME", "orders-keys-only")
    place(monkeypatch, NOW - timedelta(hours=3), "o-keys")
    published(env)
    counts = reconcile.main({"time": "2030-03-10T02:00:00Z"})
    assert counts["republished"] == 1
    (event,) = [json.loads(n["Message"]) for n in published(env)]
    assert event["order_id"] == "o-keys" and len(event["items"]) == 2


def test_reconcile_counts_publish_failures_and_fails_the_run(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_orders(env, monkeypatch)

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("SNS down")

    monkeypatch.setattr(orders_aws, "publish_order_created", broken)
    with pytest.raises(RuntimeError, match="2 order_created events"):
        reconcile.main({"time": "2030-03-10T02:00:00Z"})


def test_end_to_end_order_to_notification(env: Env) -> None:
    """Order queue -> worker -> SNS -> notify queue -> notify worker, driven like the event source mapping."""
    orders_queue = env.sqs.create_queue(QueueName="orders")["QueueUrl"]
    for n in range(12):
        env.sqs.send_message(QueueUrl=orders_queue, MessageBody=json.dumps(order(f"o-{n}")))
    env.sqs.send_message(QueueUrl=orders_queue, MessageBody=json.dumps(order("o-3")))  # a duplicate
    log = run_mapping(env.sqs, orders_queue, order_worker.main)
    assert len(log.succeeded) == 13 and log.failed == []
    log = run_mapping(env.sqs, env.events_url, notify.main)
    assert len(log.succeeded) == 12
    items = env.ddb.scan(TableName=TABLE)["Items"]
    assert sorted(i["pk"]["S"] for i in items if i["pk"]["S"].startswith("NOTIFICATION#")) == sorted(
        f"NOTIFICATION#o-{n}" for n in range(12)
    )
    assert reconcile.main({"grace_minutes": 0})["republished"] == 0
