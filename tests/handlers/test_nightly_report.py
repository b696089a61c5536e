"""The nightly report handler against moto's DynamoDB and S3, with a real EventBridge scheduled event."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws
from nightly_report import handler
from nightly_report.report import ReportError, build_report, object_keys, report_day

SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-23T02:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/NightlyReportStack-Schedule"],
    "detail": {},
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        table = ddb.create_table(
            TableName="sales",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="reports")
        monkeypatch.setenv("SALES_TABLE_NAME", "sales")
        monkeypatch.setenv("REPORT_BUCKET_NAME", "reports")
        monkeypatch.setenv("REPORT_PREFIX", "reports/sales")
        handler._clients.clear()
        yield table, s3
        handler._clients.clear()


def put_sale(table: Any, day: str, sale: str, sku: str, qty: int, price: str, currency: str = "USD") -> None:
    table.put_item(
        Item={
            "pk": f"DAY#{day}",
            "sk": f"SALE#{sale}",
            "sku": sku,
            "quantity": qty,
            "unit_price": Decimal(price),
            "currency": currency,
        }
    )


def test_scheduled_run_reports_the_previous_day(
    aws: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    table, s3 = aws
    put_sale(table, "2026-11-22", "1", "BOOK-1", 2, "12.50")
    put_sale(table, "2026-11-22", "2", "BOOK-1", 1, "12.50")
    put_sale(table, "2026-11-22", "3", "MUG-9", 4, "3.10", "EUR")
    put_sale(table, "2026-11-23", "4", "BOOK-1", 100, "1.00")  # today: not in the report
    table.put_item(Item={"pk": "DAY#2026-11-22", "sk": "SALE#5", "sku": "BROKEN"})  # malformed

    result = handler.main(SCHEDULED_EVENT, None)

    assert result["date"] == "2026-11-22"
    assert result["sales"] == 3 and result["units"] == 7 and result["skipped_records"] == 1
    assert result["revenue_by_currency"] == {"EUR": "12.40", "USD": "37.50"}
    body = s3.get_object(Bucket="reports", Key="reports/sales/2026/11/22/sales.csv")["Body"].read().decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["currency"], r["sku"], r["units"], r["revenue"]) for r in rows] == [
        ("EUR", "MUG-9", "4", "12.40"),
        ("USD", "BOOK-1", "3", "37.50"),
    ]
    summary = json.loads(
        s3.get_object(Bucket="reports", Key="reports/sales/2026/11/22/summary.json")["Body"].read()
    )
    assert summary["skus"] == 2
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert emf and emf[-1]["ReportSales"] == 3 and emf[-1]["_aws"]["Timestamp"] > 0


def test_rerun_overwrites_the_same_report(aws: tuple[Any, Any]) -> None:
    table, s3 = aws
    put_sale(table, "2026-01-05", "1", "A", 1, "1.00")
    handler.main({"date": "2026-01-05"}, None)
    handler.main({"date": "2026-01-05"}, None)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="reports")["Contents"]]
    assert sorted(keys) == ["reports/sales/2026/01/05/sales.csv", "reports/sales/2026/01/05/summary.json"]


def test_pagination_covers_every_sale(aws: tuple[Any, Any]) -> None:
    table, _ = aws
    with table.batch_writer() as batch:
        for i in range(1200):
            batch.put_item(
                Item={
                    "pk": "DAY#2026-02-01",
                    "sk": f"SALE#{i:05d}",
                    "sku": f"S{i % 7}",
                    "quantity": 1,
                    "unit_price": Decimal("0.01"),
                    "currency": "USD",
                    "padding": "x" * 900,
                }
            )
    result = handler.main({"date": "2026-02-01"}, None)
    assert result["sales"] == 1200 and result["revenue_by_currency"] == {"USD": "12.00"}


def test_empty_day_still_writes_a_report(aws: tuple[Any, Any]) -> None:
    result = handler.main({"date": "2026-03-01"}, None)
    assert result["sales"] == 0 and result["revenue_by_currency"] == {}


@pytest.mark.parametrize(
    "event,message",
    [
        ({"date": "yesterday"}, "date must be yyyy-mm-dd"),
        ({"time": "not a time"}, "time must be an ISO-8601"),
        ({}, "event needs 'date'"),
    ],
)
def test_bad_events_raise_so_lambda_retries_then_dead_letters(event: dict[str, Any], message: str) -> None:
    with pytest.raises(ReportError, match=message):
        report_day(event)


def test_negative_quantities_and_bad_currencies_are_skipped() -> None:
    from datetime import date

    report = build_report(
        date(2026, 1, 1),
        [
            {"sku": "A", "quantity": -1, "unit_price": "1", "currency": "USD"},
            {"sku": "A", "quantity": 1, "unit_price": "1", "currency": "DOLLARS"},
            {"sku": "A", "quantity": 1, "unit_price": "nan?", "currency": "USD"},
            {"sku": "A", "quantity": 2, "unit_price": "1.255", "currency": "usd"},
        ],
    )
    assert report.skipped == 3
    assert report.summary()["revenue_by_currency"] == {"USD": "2.51"}
    assert object_keys("/reports/", date(2026, 1, 1))[0] == "reports/2026/01/01/sales.csv"
