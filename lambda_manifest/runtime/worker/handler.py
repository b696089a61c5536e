"""Generic entry point: set the Lambda handler to ``lambda_manifest.runtime.worker.handler.main`` and name the function to run
in ``LM_WORKER_PROCESS`` as ``"package.module:function"``.

The function is imported once per execution environment, during init when the variable is already set, so
its import cost lands in the init phase rather than in the first invocation.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from .contract import ENV_PROCESS
from .runtime import BatchResponse, Worker

_loaded: tuple[str, Worker] | None = None


def load_process(spec: str) -> Worker:
    """Import ``"module.sub:attr"`` and return it as a :class:`Worker` (an existing one is used as is)."""
    module_name, sep, attribute = spec.strip().partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{ENV_PROCESS} must look like 'package.module:function', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if isinstance(target, Worker):
        return target
    if not callable(target):
        raise TypeError(f"{spec} is not callable")
    return Worker(target)


def _current() -> Worker:
    global _loaded
    spec = os.environ.get(ENV_PROCESS, "").strip()
    if not spec:
        raise RuntimeError(
            f"{ENV_PROCESS} is not set; it names the function to run, e.g. 'orders.worker:process'"
        )
    if _loaded is None or _loaded[0] != spec:
        _loaded = (spec, load_process(spec))
    return _loaded[1]


def main(event: Mapping[str, Any], context: object = None) -> BatchResponse:
    return _current()(event, context)


if os.environ.get(ENV_PROCESS):
    _current()
