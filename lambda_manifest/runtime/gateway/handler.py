"""Lambda entry point: ``lambda_manifest.runtime.gateway.handler.main`` (API Gateway HTTP API, payload format 2.0).

Importing this module is cheap on purpose: boto3/botocore, http.client and ssl are imported on first use, and
the configuration is read on the first request (``runtime.get()``).
"""

from __future__ import annotations

from .gateway import handle

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


def main(event: Any, context: Any) -> dict[str, Any]:
    return handle(event, context)
