"""Process one job message: ``{"job_id": "...", "payload": {...}}``; the result lands in the jobs table.

AsyncWorker runs this module with the library's worker runtime (``process="jobs.worker:process"``): a
message whose ``process`` raises is retried and, after five receives, dead-lettered; the others of its
batch are not retried.
"""

from __future__ import annotations

import os
import time

import boto3
from lambda_manifest.runtime.worker import WorkerRecord

_table = None


def table():  # type: ignore[no-untyped-def]
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["JOBS_TABLE"])
    return _table


def process(record: WorkerRecord) -> None:
    job = record.body
    if not isinstance(job, dict) or not isinstance(job.get("job_id"), str):
        raise ValueError("a job needs a string job_id")
    words = len(str(job.get("payload", "")).split())
    table().put_item(Item={"job_id": job["job_id"], "status": "done", "words": words,
                           "finished_at": int(time.time())})
