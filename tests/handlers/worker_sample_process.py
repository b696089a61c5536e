"""A user module for the generic entry point test (``LM_WORKER_PROCESS=worker_sample_process:process``)."""

from __future__ import annotations

from lambda_manifest.runtime.worker import WorkerRecord, worker

SEEN: list[int] = []
NOT_CALLABLE = 42


def process(record: WorkerRecord) -> None:
    SEEN.append(record.body["n"])


handler = worker(process, raw_body=True)
