"""Queue worker runtime against Powertools' ``BatchProcessor`` used directly, for the same work.

Each variant handles the same SQS events: decode the JSON body, call the same record function, collect
``batchItemFailures``, and write one structured log line per failed record with its message id and reason
(the runtime's contract; the Powertools baseline does it in its record handler, as a user would, with the same
Powertools Logger, so both sides pay for the same log lines):

* ``powertools``: ``process_partial_response(event, record_handler, BatchProcessor(EventType.SQS))``;
* ``runtime``: ``lambda_manifest.runtime.worker.worker(process)``;
* ``loop``: the bare loop people write by hand (``json.loads`` + ``try/except``), which logs nothing; the
  ceiling for reference.

The record function does no I/O, so the figures are pure per-record overhead. Each round measures every
variant for ``--seconds``, in rotating order, interleaved (A B C, B C A, ...), so load from other jobs falls
on all of them alike; the table gives min / median / max records per second over ``--rounds`` rounds and the
median of the per-round ratio runtime / powertools (target: at least 0.9). Failures are spread evenly.
Log lines go to /dev/null. Cold-start imports are in bench_handler_imports.py.

Run: ``.venv/bin/python bench/bench_worker.py [--rounds 9] [--seconds 0.3]`` (or with ``.venv-3.14/bin/python``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
for name in ("LM_WORKER_IDEMPOTENCY_TABLE", "LM_WORKER_FIFO", "LM_WORKER_RAW_BODY"):
    os.environ.pop(name, None)

from aws_lambda_powertools import Logger  # noqa: E402
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response  # noqa: E402

from lambda_manifest.runtime.worker import WorkerRecord, runtime, worker  # noqa: E402

POOL = 1000  # records per measured cycle, so 1% of a batch of 10 is one failing record every 10 batches
Handler = Callable[[Mapping[str, Any], Any], Any]


def make_events(size: int, failure_rate: float) -> tuple[list[dict[str, Any]], set[str]]:
    failing = round(POOL * failure_rate)
    step = POOL / failing if failing else 0
    failing_ids = {f"m-{int(i * step)}" for i in range(failing)}
    records = [
        {
            "messageId": f"m-{i}",
            "receiptHandle": f"rh-{i}",
            "body": json.dumps({"order_id": f"o-{i}", "fail": f"m-{i}" in failing_ids, "items": [{"sku": "a", "q": 1}]}),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
            "awsRegion": "us-east-1",
        }
        for i in range(POOL)
    ]
    return [{"Records": records[i : i + size]} for i in range(0, POOL, size)], failing_ids


def business(body: Mapping[str, Any]) -> None:
    if body["fail"]:
        raise ValueError("declined")


def loop(event: Mapping[str, Any], context: object = None) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in event["Records"]:
        try:
            business(json.loads(record["body"]))
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def powertools_handler(logger: Logger) -> Handler:
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: Any) -> None:
        try:
            business(json.loads(record.body))
        except Exception as exc:
            logger.warning("record failed", extra={"message_id": record.message_id, "reason": f"{type(exc).__name__}: {exc}"})
            raise

    def handler(event: Mapping[str, Any], context: object = None) -> Any:
        return process_partial_response(event=dict(event), record_handler=record_handler, processor=processor)

    return handler


def rate(handler: Handler, events: list[dict[str, Any]], seconds: float) -> float:
    cycles = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for event in events:
            handler(event, None)
        cycles += 1
        now = time.perf_counter()
        if now >= deadline:
            return cycles * POOL / (now - start)


def cell(values: list[float]) -> str:
    return f"{min(values):,.0f} / {statistics.median(values):,.0f} / {max(values):,.0f}"


def failed_ids(handler: Handler, events: list[dict[str, Any]]) -> list[str]:
    return sorted(f["itemIdentifier"] for event in events for f in handler(event, None)["batchItemFailures"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=0.3)
    args = parser.parse_args()

    sink = open(os.devnull, "w")  # noqa: SIM115 - the log lines' cost is real, their text is not wanted
    for handler in logging.getLogger(runtime.logger.name).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)
    baseline_logger = Logger(service="bench-baseline", logger_handler=logging.StreamHandler(sink))

    def process(record: WorkerRecord) -> None:
        business(record.body)

    variants: dict[str, Handler] = {
        "powertools": powertools_handler(baseline_logger),
        "runtime": worker(process),
        "loop": loop,
    }
    names = list(variants)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"{args.rounds} interleaved rounds of {args.seconds:g} s per variant\n")
    print("| batch | failures | Powertools BatchProcessor rec/s (min / median / max) | runtime rec/s (min / median / max) "
          "| runtime / Powertools (median of rounds; min-max) | bare loop rec/s (median) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in (10, 100):
        for failure_rate in (0.0, 0.01, 0.10):
            events, failing_ids = make_events(size, failure_rate)
            for handler in variants.values():
                assert failed_ids(handler, events) == sorted(failing_ids)
            samples: dict[str, list[float]] = {name: [] for name in names}
            for round_ in range(args.rounds):
                order = names[round_ % len(names):] + names[: round_ % len(names)]
                for name in order:
                    samples[name].append(rate(variants[name], events, args.seconds))
            ratios = [r / p for r, p in zip(samples["runtime"], samples["powertools"], strict=True)]

            print(f"| {size} | {failure_rate:.0%} | {cell(samples['powertools'])} | {cell(samples['runtime'])} | "
                  f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
                  f"{statistics.median(samples['loop']):,.0f} |")


if __name__ == "__main__":
    main()
