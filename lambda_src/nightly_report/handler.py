"""Lambda entry point of the nightly report (``nightly_report.handler.main``).

Environment: ``SALES_TABLE_NAME``, ``REPORT_BUCKET_NAME`` and optionally ``REPORT_PREFIX``
(default ``reports/sales``). Invoked asynchronously by an EventBridge schedule; a failure raises, so
Lambda retries and then hands the event to the on-failure destination.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from nightly_report.report import build_report, query_day, report_day, write_report

logger = logging.getLogger()
logger.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

_clients: dict[str, Any] = {}


def _resources() -> tuple[Any, Any]:
    # boto3 costs ~150 ms to import; keep it off the import path and create clients once per container.
    if not _clients:
        import boto3

        _clients["table"] = boto3.resource("dynamodb").Table(os.environ["SALES_TABLE_NAME"])
        _clients["s3"] = boto3.client("s3")
    return _clients["table"], _clients["s3"]


def main(event: dict[str, Any], context: Any) -> dict[str, Any]:
    day = report_day(event)
    table, s3 = _resources()
    report = build_report(day, query_day(table, day))
    result = write_report(s3, os.environ["REPORT_BUCKET_NAME"], os.environ.get("REPORT_PREFIX", "reports/sales"),
                          report)
    if report.skipped:
        logger.warning("skipped malformed sales records", extra={"day": day.isoformat(), "skipped": report.skipped})
    # One EMF line so the report's size is a CloudWatch metric without importing a metrics library.
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LambdaManifest"),
            "Dimensions": [["service"]],
            "Metrics": [{"Name": "ReportSales", "Unit": "Count"}, {"Name": "SkippedRecords", "Unit": "Count"}],
        }]},
        "service": os.environ.get("POWERTOOLS_SERVICE_NAME", "nightly-report"),
        "ReportSales": result["sales"],
        "SkippedRecords": report.skipped,
    }))
    logger.info("report written", extra={"day": day.isoformat(), "csv": result["csv"]})
    return result
