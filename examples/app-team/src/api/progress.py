"""``GET /jobs/{job_id}/progress``: server-sent events while the job runs (a streaming REST route)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from lambda_manifest.runtime.stream import StreamingResponse, sse


def main(event: dict[str, Any], context: Any) -> StreamingResponse:
    job_id = (event.get("pathParameters") or {}).get("job_id", "")

    def progress() -> Iterator[str]:
        for step in range(1, 4):
            yield sse({"job_id": job_id, "step": step, "of": 3})  # reaches the client at once
            time.sleep(1)

    return StreamingResponse(progress(), headers={"content-type": "text/event-stream"})
