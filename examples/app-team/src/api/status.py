"""``GET /jobs/{job_id}``: the job's status, or a JSON 404 while it is still queued."""

from __future__ import annotations

import os
from typing import Any

import boto3
from lambda_manifest.runtime.http import NotFound, create_app, lambda_handler

app = create_app("2.0")
_table = None


def table():  # type: ignore[no-untyped-def]
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["JOBS_TABLE"])
    return _table


@app.get("/jobs/<job_id>")
def get_job(job_id: str) -> dict[str, Any]:
    item = table().get_item(Key={"job_id": job_id}).get("Item")
    if item is None:
        raise NotFound(f"job {job_id} is not done yet")
    return {"job_id": job_id, "status": item["status"], "words": int(item["words"])}


main = lambda_handler(app)
