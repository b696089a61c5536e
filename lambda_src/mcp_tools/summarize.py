"""``summarize_text``: a short summary of a text, written by a model behind the AI gateway
(``mcp_tools.summarize.summarize_text``).

The gateway's OpenAI ``base_url`` is ``GATEWAY_URL``; the virtual key is read from the secret named by
``GATEWAY_KEY_SECRET_ARN`` through the runtimes' shared TTL cache (five minutes; a 401 reads it again once, so a
rotated key is picked up at once). The call is plain ``urllib``: a tool needs no SDK. ``@tool`` builds the ``SummarizeText`` dataclass from the
arguments object (its fields are also the tool's input schema, read at synth).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from lambda_manifest.runtime.aws import TtlCache, get_secret
from lambda_manifest.runtime.mcp.tool import tool

MODEL = "summary"


@dataclass
class SummarizeText:
    """The text to summarize and how long the summary may be."""

    text: str
    """The text, up to a few pages."""
    max_words: int = 60
    """At most this many words in the summary."""


class GatewayError(Exception):
    """The AI gateway refused or failed the request."""


def _read_key(secret_arn: str) -> str:
    value = get_secret(secret_arn)
    return (value.decode() if isinstance(value, bytes) else value).strip()


_KEYS: TtlCache[str] = TtlCache(_read_key, ttl_seconds=300)


@tool
def summarize_text(request: SummarizeText, context: Any) -> dict[str, Any]:
    if not request.text.strip():
        raise ValueError("text must not be empty")
    body = {
        "model": MODEL,
        "max_tokens": max(16, request.max_words * 2),
        "messages": [
            {"role": "system", "content": f"Summarize the user's text in at most {request.max_words} words."},
            {"role": "user", "content": request.text},
        ],
    }
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    remaining_s = context.get_remaining_time_in_millis() / 1000 - 1 if context is not None else 10
    for attempt in range(2):
        key = _KEYS.get(os.environ["GATEWAY_KEY_SECRET_ARN"], refresh=attempt > 0)
        call = Request(f"{os.environ['GATEWAY_URL'].rstrip('/')}/chat/completions", data=json.dumps(body).encode(),
                       headers={"content-type": "application/json", "authorization": f"Bearer {key}"})
        try:
            with urlopen(call, timeout=max(1.0, remaining_s)) as response:
                answer = json.loads(response.read())
            break
        except HTTPError as error:
            if error.code == 401 and attempt == 0:
                continue  # the key was rotated: read it again once
            raise GatewayError(f"the AI gateway answered {error.code}: {error.read()[:300]!r}") from None
    return {"summary": answer["choices"][0]["message"]["content"], "model": answer.get("model", MODEL)}
