"""Queue worker runtime benchmark: import cost and records/second against a hand-written loop.

* Import: ``python -X importtime -c "import <module>"`` in a fresh interpreter with ``lambda_src`` on the
  path (bytecode cache warm), median of 7 runs. The Powertools floor is what any function that uses
  Powertools' batch utility pays no matter what; the rest is this runtime's own.
* Throughput: one SQS event of 10 or 100 records, invoked repeatedly; the record function does no I/O, so
  the figures are pure per-record overhead. The baseline is the loop people write by hand:
  ``json.loads`` plus ``try/except`` collecting ``batchItemFailures``. Failures are spread evenly through
  the batch. The runtime also writes one JSON log line per failure (to /dev/null here; with a traceback
  once per raise site and minute); the baseline logs nothing, so the failure columns include that cost.

Run: ``.venv/bin/python bench/bench_worker.py [--runs 7] [--seconds 0.4]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "lambda_src"

IMPORTS = [
    ("lambda_manifest.runtime.worker (worker(process) in user code)", "lambda_manifest.runtime.worker"),
    ("lambda_manifest.runtime.worker.handler (generic entry point)", "lambda_manifest.runtime.worker.handler"),
    ("floor: aws_lambda_powertools.utilities.batch + Logger", "aws_lambda_powertools.utilities.batch"),
    (
        "extra when idempotency is on (Powertools idempotency + boto3)",
        "aws_lambda_powertools.utilities.idempotency",
    ),
]


def import_ms(module: str) -> float:
    # Measured after lambda_manifest.runtime.worker, so only what idempotency adds is counted.
    prelude = "import lambda_manifest.runtime.worker; " if "idempotency" in module else ""
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "POWERTOOLS_SERVICE_NAME": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("LM_WORKER_PROCESS", None)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"{prelude}import {module}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=SRC,
        check=True,
    )
    for line in reversed(result.stderr.splitlines()):
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == module:
            return int(parts[1]) / 1000
    raise RuntimeError(f"no importtime line for {module}")


def median_import_ms(module: str, runs: int) -> float:
    import_ms(module)  # writes the bytecode cache, as a deployed package would have it
    return statistics.median(import_ms(module) for _ in range(runs))


POOL = 1000  # records per measured cycle, so 1% of a batch of 10 is one failing record every 10 batches


def make_events(size: int, failure_rate: float) -> tuple[list[dict[str, Any]], set[str]]:
    failing = round(POOL * failure_rate)
    step = POOL / failing if failing else 0
    failing_ids = {f"m-{int(i * step)}" for i in range(failing)}
    records = [
        {
            "messageId": f"m-{i}",
            "receiptHandle": f"rh-{i}",
            "body": json.dumps(
                {"order_id": f"o-{i}", "fail": f"m-{i}" in failing_ids, "items": [{"sku": "a", "q": 1}]}
            ),
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


def hand_written(event: Mapping[str, Any], context: object = None) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in event["Records"]:
        try:
            business(json.loads(record["body"]))
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def records_per_second(
    handler: Callable[..., Any], events: list[dict[str, Any]], seconds: float, runs: int
) -> float:
    best = 0.0
    for _ in range(runs):
        cycles = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for event in events:
                handler(event, None)
            cycles += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, cycles * POOL / (now - start))
    return best


def failed_ids(handler: Callable[..., Any], events: list[dict[str, Any]]) -> list[str]:
    return sorted(f["itemIdentifier"] for event in events for f in handler(event, None)["batchItemFailures"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.4)
    args = parser.parse_args()

    print(f"### Import time (median of {args.runs} fresh interpreters, `-X importtime` cumulative)\n")
    print("| module | ms |")
    print("| --- | ---: |")
    for label, module in IMPORTS:
        print(f"| {label} | {median_import_ms(module, args.runs):.1f} |")

    sys.path.insert(0, str(SRC))
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    for name in ("LM_WORKER_IDEMPOTENCY_TABLE", "LM_WORKER_FIFO", "LM_WORKER_RAW_BODY"):
        os.environ.pop(name, None)
    from lambda_manifest.runtime.worker import WorkerRecord, runtime, worker

    # Keep the failure log lines (their cost is real) but out of the table.
    sink = open(os.devnull, "w")  # noqa: SIM115
    for handler in logging.getLogger(runtime.logger.name).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)

    def process(record: WorkerRecord) -> None:
        business(record.body)

    runtime_handler = worker(process)

    print(
        f"\n### Records/second (best of {args.runs} x {args.seconds:g} s; Python {sys.version.split()[0]})\n"
    )
    print("| batch | failures | hand-written loop rec/s | lambda_manifest.runtime.worker rec/s | runtime / loop time |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size in (10, 100):
        for rate in (0.0, 0.01, 0.10):
            events, failing_ids = make_events(size, rate)
            assert (
                failed_ids(runtime_handler, events) == failed_ids(hand_written, events) == sorted(failing_ids)
            )
            base = records_per_second(hand_written, events, args.seconds, args.runs)
            ours = records_per_second(runtime_handler, events, args.seconds, args.runs)
            print(f"| {size} | {rate:.0%} | {base:,.0f} | {ours:,.0f} | {base / ours:.1f}x |")


if __name__ == "__main__":
    main()
