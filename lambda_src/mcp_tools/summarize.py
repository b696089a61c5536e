"""``summarize_text``: a short summary of a text, written by a model behind the AI gateway
(``mcp_tools.summarize.summarize_text``).

The gateway's OpenAI ``base_url`` is ``GATEWAY_URL``; the virtual key is read from the secret named by
``GATEWAY_KEY_SECRET_ARN`` (once per container). The call is plain ``urllib``: a tool needs no SDK. ``@tool`` builds the ``SummarizeText`` dataclass from the
arguments object (its fields are also the tool's input schema, read at synth).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from typing import Any

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


@functools.cache
def _virtual_key() -> str:
    import boto3

    return str(boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["GATEWAY_KEY_SECRET_ARN"])
               ["SecretString"]).strip()


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

    call = Request(f"{os.environ['GATEWAY_URL'].rstrip('/')}/chat/completions", data=json.dumps(body).encode(),
                   headers={"content-type": "application/json", "authorization": f"Bearer {_virtual_key()}"})
    remaining_s = context.get_remaining_time_in_millis() / 1000 - 1 if context is not None else 10
    try:
        with urlopen(call, timeout=max(1.0, remaining_s)) as response:
            answer = json.loads(response.read())
    except HTTPError as error:
        raise GatewayError(f"the AI gateway answered {error.code}: {error.read()[:300]!r}") from None
    return {"summary": answer["choices"][0]["message"]["content"], "model": answer.get("model", MODEL)}
