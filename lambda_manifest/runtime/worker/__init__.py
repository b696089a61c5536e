"""Queue worker runtime: write ``process(record)``, get an SQS Lambda handler with partial batch responses.

See README.md in this folder for the two ways to deploy it and the environment variables it reads.

The batch loop (``runtime``) is imported on first use of ``Worker``, ``WorkerSettings`` or ``worker``: it loads
Powertools' Logger, which the ``AsyncWorker`` construct does not have at synth when it reads ``contract``.
"""

from __future__ import annotations

from .record import MalformedBodyError, Source, WorkerRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .runtime import Worker, WorkerSettings, worker

__all__ = ["MalformedBodyError", "Source", "Worker", "WorkerRecord", "WorkerSettings", "worker"]

_LAZY = frozenset({"Worker", "WorkerSettings", "worker"})


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from . import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
