"""A scheduled job: EventBridge invokes it asynchronously once a night."""

from __future__ import annotations

import json
from typing import Any


def main(event: dict[str, Any], context: object) -> dict[str, Any]:
    print(json.dumps({"message": "nightly report", "time": event.get("time")}))
    return {"ok": True}
