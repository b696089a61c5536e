"""Nightly sales report: aggregate one day's sales from DynamoDB and write CSV + JSON to S3.

Table layout (single table, written by the sales system): partition key ``pk`` = ``DAY#<yyyy-mm-dd>``,
sort key ``sk`` = ``SALE#<sale id>``, attributes ``sku`` (str), ``quantity`` (int), ``unit_price``
(number) and ``currency`` (ISO 4217 code).

The report for a day is written to ``<prefix>/<yyyy>/<mm>/<dd>/sales.csv`` and ``.../summary.json``.
Re-running a day overwrites the same keys, so a retried invocation never produces a second report.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


class ReportError(ValueError):
    """The invocation asked for something that cannot be reported (bad date, bad record)."""


@dataclass
class Line:
    currency: str
    sku: str
    sales: int = 0
    units: int = 0
    revenue: Decimal = field(default_factory=lambda: Decimal("0"))


@dataclass
class Report:
    day: date
    lines: dict[tuple[str, str], Line] = field(default_factory=dict)
    skipped: int = 0

    def add(self, item: Mapping[str, Any]) -> None:
        try:
            currency = str(item["currency"]).upper()
            sku = str(item["sku"])
            quantity = int(item["quantity"])
            unit_price = Decimal(str(item["unit_price"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            # One malformed sale must not sink the whole night's report; it is counted and surfaced.
            self.skipped += 1
            return
        if quantity < 0 or unit_price < 0 or len(currency) != 3:
            self.skipped += 1
            return
        line = self.lines.setdefault((currency, sku), Line(currency, sku))
        line.sales += 1
        line.units += quantity
        line.revenue += unit_price * quantity

    def totals(self) -> dict[str, str]:
        by_currency: dict[str, Decimal] = {}
        for line in self.lines.values():
            by_currency[line.currency] = by_currency.get(line.currency, Decimal("0")) + line.revenue
        return {currency: f"{amount:.2f}" for currency, amount in sorted(by_currency.items())}

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["date", "currency", "sku", "sales", "units", "revenue"])
        for key in sorted(self.lines):
            line = self.lines[key]
            writer.writerow([self.day.isoformat(), line.currency, line.sku, line.sales, line.units,
                             f"{line.revenue:.2f}"])
        return out.getvalue()

    def summary(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "sales": sum(line.sales for line in self.lines.values()),
            "units": sum(line.units for line in self.lines.values()),
            "revenue_by_currency": self.totals(),
            "skus": len({line.sku for line in self.lines.values()}),
            "skipped_records": self.skipped,
        }


def report_day(event: Mapping[str, Any]) -> date:
    """The day to report: ``{"date": "yyyy-mm-dd"}`` when run by hand, else the day before the schedule fired."""
    if "date" in event:
        try:
            return date.fromisoformat(str(event["date"]))
        except ValueError as error:
            raise ReportError(f"date must be yyyy-mm-dd, got {event['date']!r}") from error
    fired = event.get("time")
    if isinstance(fired, str):
        try:
            return (datetime.fromisoformat(fired.replace("Z", "+00:00")) - timedelta(days=1)).date()
        except ValueError as error:
            raise ReportError(f"time must be an ISO-8601 timestamp, got {fired!r}") from error
    raise ReportError("event needs 'date' (yyyy-mm-dd) or an EventBridge 'time'")


def query_day(table: Any, day: date) -> Iterator[Mapping[str, Any]]:
    """All sales of one day, following DynamoDB's pagination."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": f"DAY#{day.isoformat()}"},
    }
    while True:
        page = table.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def build_report(day: date, items: Iterable[Mapping[str, Any]]) -> Report:
    report = Report(day)
    for item in items:
        report.add(item)
    return report


def object_keys(prefix: str, day: date) -> tuple[str, str]:
    base = f"{prefix.strip('/')}/{day:%Y/%m/%d}"
    return f"{base}/sales.csv", f"{base}/summary.json"


def write_report(s3: Any, bucket: str, prefix: str, report: Report) -> dict[str, Any]:
    csv_key, summary_key = object_keys(prefix, report.day)
    summary = report.summary()
    s3.put_object(Bucket=bucket, Key=csv_key, Body=report.to_csv().encode(), ContentType="text/csv")
    s3.put_object(Bucket=bucket, Key=summary_key, Body=json.dumps(summary, indent=2).encode(),
                  ContentType="application/json")
    return {**summary, "csv": f"s3://{bucket}/{csv_key}", "summary": f"s3://{bucket}/{summary_key}"}
