"""Queue worker runtime: write ``process(record)``, get an SQS Lambda handler with partial batch responses.

See README.md in this folder for the two ways to deploy it and the environment variables it reads.
"""

from .record import MalformedBodyError, Source, WorkerRecord
from .runtime import Worker, WorkerSettings, worker

__all__ = ["MalformedBodyError", "Source", "Worker", "WorkerRecord", "WorkerSettings", "worker"]
