"""A team's worker module, as the construct tests give it to AsyncWorker(process="jobs.worker:process")."""

from __future__ import annotations

from typing import Any


def process(record: Any) -> None:
    if not isinstance(record.body, dict):
        raise ValueError("a job is a JSON object")
