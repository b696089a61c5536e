"""Lambda entry point: ``lambda_manifest.runtime.gateway.handler.main`` (API Gateway HTTP API payload 2.0 or
REST API payload 1.0). Behind a streaming REST route it runs under ``lambda_manifest.runtime.stream``'s loop,
which sends the ``StreamingResponse`` of a ``"stream": true`` request as it is produced.

Importing this module is cheap on purpose: boto3/botocore, sockets, ssl and the provider adapters are imported
on first use, and the configuration is read on the first request (``runtime.get()``).
"""

from __future__ import annotations

from .gateway import handle

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


def main(event: Any, context: Any) -> Any:
    return handle(event, context)
