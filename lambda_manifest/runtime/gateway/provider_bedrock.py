"""Amazon Bedrock ``Converse`` and ``ConverseStream`` through boto3 (credentials from the Lambda role), and
embeddings with ``InvokeModel`` (Amazon Titan Text Embeddings, Cohere Embed).

An Anthropic Messages request for Claude on Bedrock (a model id with ``anthropic.``) is passed through with
``InvokeModel`` / ``InvokeModelWithResponseStream``: the client's body (``cache_control``, thinking, tools as
written) and Claude's own answer and events; any other request is translated to Converse.

Anthropic ``cache_control`` marks become Converse ``cachePoint`` blocks; Bedrock's ``cacheReadInputTokens`` and
``cacheWriteInputTokens`` are counted (``inputTokens`` excludes them). A ``response_format`` becomes a forced
tool call (``providers.forced_json_tool``).

boto3's timeouts are per socket read, so each call runs on a worker thread and the attempt waits for it only
until its deadline: a slow answer is abandoned on time (the thread ends when its own read timeout, never longer
than the attempt's budget, fires). A stream is read the same way, one event at a time, so keep-alive ticks and
the deadline apply between events too.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time

from .config import ProviderConfig, Target
from .credentials import SecretCache
from .provider_anthropic import (
    message_result,
    stream_events,
    system_blocks,
    to_anthropic_messages,
    tool_choice,
)
from .providers import (
    ChatRequest,
    ChatResult,
    Delta,
    EmbeddingResult,
    ProviderError,
    StreamBudget,
    forced_json_tool,
    int_or_none,
    json_result,
    json_stream,
    unsupported,
)
from .redact import redact

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

STOP_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
    "content_filtered": "content_filter", "guardrail_intervened": "content_filter",
}  # fmt: skip
# Error codes of Converse (HTTP errors) and of ConverseStream events (the same names, first letter lower-case).
ERRORS = {
    "throttlingexception": "rate_limited",
    "servicequotaexceededexception": "rate_limited",
    "modeltimeoutexception": "timeout",
    "serviceunavailableexception": "server",
    "internalserverexception": "server",
    "modelnotreadyexception": "server",
    "modelerrorexception": "server",
    "modelstreamerrorexception": "server",
    "accessdeniedexception": "auth",
    "resourcenotfoundexception": "auth",
    "unrecognizedclientexception": "auth",
}
_END = object()
COHERE_BATCH = 96  # texts per Cohere Embed call
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
# The Messages fields Claude on Bedrock takes in an InvokeModel body (model and stream are Bedrock's own).
BEDROCK_CLAUDE_FIELDS = ("messages", "system", "max_tokens", "stop_sequences", "temperature", "top_p", "top_k",
                         "tools", "tool_choice", "thinking", "anthropic_beta")


def _with_cache_points(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic text blocks as Converse blocks, a ``cachePoint`` after each one marked ``cache_control``."""
    out: list[dict[str, Any]] = []
    for b in blocks:
        out.append({"text": b["text"]})
        if b.get("cache_control") is not None:
            out.append({"cachePoint": {"type": "default"}})
    return out


def to_bedrock_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in to_anthropic_messages(messages):
        content: list[dict[str, Any]] = []
        for b in m["content"]:
            if b["type"] == "text":
                content.extend(_with_cache_points([b]))
            elif b["type"] == "tool_use":
                content.append({"toolUse": {"toolUseId": b["id"], "name": b["name"], "input": b["input"]}})
            else:
                content.append(
                    {"toolResult": {"toolUseId": b["tool_use_id"], "content": [{"text": b["content"]}]}}
                )
        out.append({"role": m["role"], "content": content})
    return out


def _native(provider: ProviderConfig, target: Target, req: ChatRequest) -> dict[str, Any] | None:
    """For an Anthropic Messages request to Claude on Bedrock, the body InvokeModel takes: the client's own
    (what Bedrock's Claude accepts of it) with Bedrock's ``anthropic_version``; else None (Converse)."""
    if req.native is None or "anthropic." not in target.model:
        return None
    if req.native.get("tools") and not provider.supports_tools:
        raise unsupported(target, "tools")
    body = {k: v for k, v in req.native.items() if k in BEDROCK_CLAUDE_FIELDS}
    body["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
    return body


def _invoke(client: Any, model: str, body: str, deadline: float, who: str) -> dict[str, Any]:
    resp = _on_thread(lambda: client.invoke_model(modelId=model, body=body, contentType="application/json",
                                                  accept="application/json"), deadline, who)
    try:
        doc = json.loads(resp["body"].read())
    except (KeyError, ValueError, TypeError):
        raise ProviderError("bad_response", f"{who}: malformed InvokeModel answer") from None
    if not isinstance(doc, dict):
        raise ProviderError("bad_response", f"{who}: malformed InvokeModel answer")
    return doc


def _kwargs(provider: ProviderConfig, target: Target, req: ChatRequest) -> tuple[dict[str, Any], bool]:
    """Converse arguments, and whether the answer is JSON carried by a forced tool call."""
    if req.params.get("tools") and not provider.supports_tools:
        raise unsupported(target, "tools")
    json_tool = forced_json_tool(req.params, target, provider.supports_tools)
    rest = [m for m in req.messages if m.get("role") not in ("system", "developer")]
    kwargs: dict[str, Any] = {"modelId": target.model, "messages": to_bedrock_messages(rest)}
    system = _with_cache_points(system_blocks(req.messages))
    if system:
        kwargs["system"] = system
    inference: dict[str, Any] = {"maxTokens": req.params.get("max_tokens") or provider.max_tokens}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("stop", "stopSequences")):
        if req.params.get(ours) is not None:
            inference[theirs] = req.params[ours]
    kwargs["inferenceConfig"] = inference
    tools = [json_tool] if json_tool is not None else req.params.get("tools")
    choice = {"function": {"name": json_tool["function"]["name"]}} if json_tool is not None \
        else req.params.get("tool_choice")
    if tools and choice != "none":
        tool_config: dict[str, Any] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": t["function"]["name"],
                        "description": t["function"].get("description") or t["function"]["name"],
                        "inputSchema": {
                            "json": t["function"].get("parameters") or {"type": "object", "properties": {}}
                        },
                    }
                }
                for t in tools
            ]
        }
        tc = tool_choice(choice)
        if tc is not None:
            tool_config["toolChoice"] = {tc["type"]: {"name": tc["name"]} if tc["type"] == "tool" else {}}
        kwargs["toolConfig"] = tool_config
    return kwargs, json_tool is not None


def _client(provider: ProviderConfig, deadline: float) -> Any:
    from . import aws

    # Whole seconds, so a container holds a handful of clients rather than one per remaining-time value; never
    # longer than the attempt's budget, so an abandoned call's thread ends soon after the deadline.
    bucket = max(1.0, float(int(max(0.0, deadline - time.monotonic()))))
    return aws.client("bedrock-runtime", provider.region, bucket)


def _error(exc: BaseException, who: str) -> ProviderError:
    from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return ProviderError("timeout", f"{who}: timed out")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        kind = ERRORS.get(code.lower())
        if kind is None:
            kind = "server" if isinstance(status, int) and status >= 500 else "client"
        msg = redact(str(exc.response.get("Error", {}).get("Message", code))[:300])
        return ProviderError(kind, f"{who}: {code}: {msg}", status)
    if isinstance(exc, BotoCoreError):
        return ProviderError("connection", f"{who}: {type(exc).__name__}")
    if isinstance(exc, ProviderError):
        return exc
    return ProviderError("bad_response", f"{who}: {type(exc).__name__}")


def _on_thread(fn: Callable[[], Any], deadline: float, who: str) -> Any:
    box: queue.Queue[tuple[bool, Any]] = queue.Queue(1)

    def run() -> None:
        try:
            box.put((True, fn()))
        except BaseException as exc:
            box.put((False, exc))

    threading.Thread(target=run, name="bedrock-call", daemon=True).start()
    try:
        ok, value = box.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise ProviderError("timeout", f"{who}: no answer before the deadline") from None
    if not ok:
        raise _error(value, who)
    return value


def call(
    provider: ProviderConfig, target: Target, req: ChatRequest, deadline: float, secrets: SecretCache
) -> ChatResult:
    who = target.label
    native = _native(provider, target, req)
    if native is not None:  # Claude's own Messages body and answer
        body = json.dumps(native)
        client = _client(provider, deadline)
        return message_result(_invoke(client, target.model, body, deadline, who), target, who, True)
    kwargs, json_mode = _kwargs(provider, target, req)
    client = _client(provider, deadline)
    resp = _on_thread(lambda: client.converse(**kwargs), deadline, who)
    try:
        blocks = resp["output"]["message"]["content"]
        texts = [b["text"] for b in blocks if "text" in b]
        tool_calls = [
            {
                "id": b["toolUse"].get("toolUseId", ""),
                "type": "function",
                "function": {
                    "name": b["toolUse"].get("name", ""),
                    "arguments": json.dumps(b["toolUse"].get("input", {})),
                },
            }
            for b in blocks
            if "toolUse" in b
        ]
    except (KeyError, TypeError):
        raise ProviderError("bad_response", f"{who}: unexpected Converse response") from None
    usage = _usage(resp.get("usage") or {})
    result = ChatResult(
        content="".join(texts) if texts or not tool_calls else None,
        tool_calls=tool_calls or None,
        finish_reason=STOP_REASONS.get(str(resp.get("stopReason")), "stop"),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        model=target.model,
    )
    return json_result(result) if json_mode else result


def _usage(usage: dict[str, Any]) -> Delta:
    read = int_or_none(usage.get("cacheReadInputTokens"))
    write = int_or_none(usage.get("cacheWriteInputTokens"))
    prompt = int_or_none(usage.get("inputTokens"))
    if prompt is not None:
        prompt += (read or 0) + (write or 0)
    return Delta(prompt_tokens=prompt, completion_tokens=int_or_none(usage.get("outputTokens")), cached_tokens=read,
                 cache_write_tokens=write)


def stream(
    provider: ProviderConfig, target: Target, req: ChatRequest, budget: StreamBudget, secrets: SecretCache
) -> Iterator[Delta | None]:
    native = _native(provider, target, req)
    if native is not None:  # Claude's own events, in InvokeModelWithResponseStream chunks
        body = json.dumps(native)
        chunks = _events(provider, target, budget,
                         lambda c: c.invoke_model_with_response_stream(modelId=target.model, body=body,
                                                                       contentType="application/json")["body"])
        return stream_events(_chunk_events(chunks, target.label), target.label, True)
    kwargs, json_mode = _kwargs(provider, target, req)
    tools: dict[int, int] = {}
    deltas = (e if e is None else _delta(e, tools) for e in _events(
        provider, target, budget, lambda c: c.converse_stream(**kwargs)["stream"]))
    return json_stream(deltas) if json_mode else deltas


def _chunk_events(chunks: Iterator[dict[str, Any] | None], who: str) -> Iterator[tuple[str, str] | None]:
    """InvokeModelWithResponseStream ``chunk`` events as Anthropic's (event name, JSON data)."""
    for chunk in chunks:
        if chunk is None:
            yield None
            continue
        data = (chunk.get("chunk") or {}).get("bytes")
        if not isinstance(data, bytes):
            continue
        text = data.decode("utf-8", "replace")
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            raise ProviderError("bad_response", f"{who}: malformed event in the stream") from None
        yield str(kind), text


def _events(provider: ProviderConfig, target: Target, budget: StreamBudget,
            start: Callable[[Any], Any]) -> Iterator[dict[str, Any] | None]:
    """The events of a Bedrock stream as they arrive (``None`` when ``budget.tick_s`` passed without one),
    read on a thread so the deadline and the keep-alive ticks hold between events."""
    who = target.label
    client = _client(provider, budget.deadline())
    events = _on_thread(lambda: start(client), budget.deadline(), who)
    inbox: queue.Queue[Any] = queue.Queue()

    def pump() -> None:
        try:
            for event in events:
                inbox.put(event)
            inbox.put(_END)
        except BaseException as exc:
            inbox.put(exc)

    threading.Thread(target=pump, name="bedrock-stream", daemon=True).start()
    try:
        while True:
            left = budget.deadline() - time.monotonic()
            if left <= 0:
                raise ProviderError("timeout", f"{who}: deadline reached while streaming")
            wait = min(left, budget.tick_s) if budget.tick_s else left
            try:
                event = inbox.get(timeout=wait)
            except queue.Empty:
                if budget.tick_s and wait < left:
                    yield None
                    continue
                raise ProviderError("timeout", f"{who}: deadline reached while streaming") from None
            if event is _END:
                return
            if isinstance(event, BaseException):
                raise _error(event, who)
            budget.activity()
            yield event
    finally:
        with contextlib.suppress(Exception):
            events.close()  # stops the pump: its blocked read fails and the thread ends


def _delta(event: dict[str, Any], tools: dict[int, int]) -> Delta | None:
    if "contentBlockStart" in event:
        body = event["contentBlockStart"]
        use = (body.get("start") or {}).get("toolUse")
        if isinstance(use, dict):
            n = tools.setdefault(int(body.get("contentBlockIndex", 0)), len(tools))
            return Delta(tool_calls=[{"index": n, "id": str(use.get("toolUseId", "")), "type": "function",
                                      "function": {"name": str(use.get("name", "")), "arguments": ""}}])
        return None
    if "contentBlockDelta" in event:
        body = event["contentBlockDelta"]
        d = body.get("delta") or {}
        if d.get("text"):
            return Delta(content=str(d["text"]))
        use = d.get("toolUse")
        if isinstance(use, dict) and use.get("input"):
            n = tools.get(int(body.get("contentBlockIndex", 0)), 0)
            return Delta(tool_calls=[{"index": n, "function": {"arguments": str(use["input"])}}])
        return None
    if "messageStop" in event:
        return Delta(finish_reason=STOP_REASONS.get(str(event["messageStop"].get("stopReason")), "stop"))
    if "metadata" in event:
        return _usage(event["metadata"].get("usage") or {})
    return None


def embed(
    provider: ProviderConfig, target: Target, inputs: list[Any], params: dict[str, Any], deadline: float,
    secrets: SecretCache,
) -> EmbeddingResult:
    """``InvokeModel`` with the model family's own body: Amazon Titan Text Embeddings take one text per call
    (``inputText``, ``dimensions``) and count its tokens; Cohere Embed takes up to 96 texts at once and counts
    none (the gateway estimates)."""
    who = target.label
    model = target.model.rsplit("/", 1)[-1]  # an ARN or an inference-profile id names the model last
    if any(not isinstance(text, str) for text in inputs):
        raise unsupported(target, "token-array input (send text)")
    client = _client(provider, deadline)

    def invoke(body: dict[str, Any]) -> dict[str, Any]:
        return _invoke(client, target.model, json.dumps(body), deadline, who)

    if ".titan-embed" in model or model.startswith("amazon.titan-embed"):
        vectors, tokens = [], 0
        for text in inputs:
            body: dict[str, Any] = {"inputText": text}
            if params.get("dimensions") is not None:
                body["dimensions"] = params["dimensions"]
            doc = invoke(body)
            if not isinstance(doc.get("embedding"), list):
                raise ProviderError("bad_response", f"{who}: Titan answer without an embedding")
            vectors.append(doc["embedding"])
            tokens += int_or_none(doc.get("inputTextTokenCount")) or 0
        return EmbeddingResult(vectors, tokens, target.model)
    if "cohere.embed" in model:
        if params.get("dimensions") is not None:
            raise unsupported(target, "dimensions")
        vectors = []
        for i in range(0, len(inputs), COHERE_BATCH):
            doc = invoke({"texts": inputs[i : i + COHERE_BATCH], "input_type": "search_document"})
            got = doc.get("embeddings")
            if isinstance(got, dict):  # embedding_types requested: {"float": [...]}
                got = got.get("float")
            if not isinstance(got, list):
                raise ProviderError("bad_response", f"{who}: Cohere answer without embeddings")
            vectors.extend(got)
        return EmbeddingResult(vectors, None, target.model)
    raise unsupported(target, "embeddings (Bedrock embeddings: amazon.titan-embed-* or cohere.embed-*)")
