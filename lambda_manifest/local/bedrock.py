"""The local model as Amazon Bedrock Runtime, for boto3 pointed at it (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``).

moto has no Bedrock Runtime, and nothing here may reach AWS. These are the actions the AI gateway calls
(``lambda_manifest/runtime/gateway/provider_bedrock.py``), answered in Bedrock's wire format, so boto3's own
parsers read them as they read Bedrock's:

=================================================  ==========================================================
``POST /model/{modelId}/converse``                 ``Converse``, any model: the answer as JSON
``POST /model/{modelId}/converse-stream``          ``ConverseStream``: the same answer in event-stream frames
                                                   (``messageStart``, ``contentBlockDelta``, ...,
                                                   ``metadata``)
``POST /model/{modelId}/invoke``                   ``InvokeModel``: Claude (an ``anthropic.`` model id and an
                                                   Anthropic Messages body with ``anthropic_version``), Amazon
                                                   Titan Text Embeddings, Cohere Embed
``POST /model/{modelId}/invoke-with-response-stream``  Claude's stream events, each in a ``chunk`` frame
=================================================  ==========================================================

Anything else is Bedrock's ``ValidationException`` (400 with ``x-amzn-ErrorType``), which boto3 raises as a
``ClientError`` with that code. Credentials and signatures are not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambda_manifest.local import wire
from lambda_manifest.local.llm import Reply, new_id, prompt_words, vector, words

if TYPE_CHECKING:
    from lambda_manifest.local.llm import LocalModel

EVENT_STREAM = "application/vnd.amazon.eventstream"
# Embedding sizes when the request names none: Titan Text Embeddings v2 and Cohere Embed v3 answer 1,024
# numbers, Titan v1 1,536.
TITAN_V1_DIMENSIONS = 1536
DEFAULT_DIMENSIONS = 1024


def invalid(message: str) -> Reply:
    return Reply.json({"message": message}, 400, {"x-amzn-ErrorType": "ValidationException"})


def bedrock_reply(model: LocalModel, call: dict[str, Any], model_id: str, action: str,
                  body: dict[str, Any]) -> Reply:
    call.update(api=f"bedrock.{action}", model=model_id, stream=action.endswith("stream"))
    family = model_id.rsplit("/", 1)[-1]  # an ARN or an inference-profile id names the model last
    if action in ("converse", "converse-stream"):
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return invalid("messages: at least one message is required")
        answer = converse(model, body)
        if action == "converse":
            return Reply.json(answer)
        return Reply(200, stream=[wire.event_frame(t, p) for t, p in wire.converse_events(answer)],
                     content_type=EVENT_STREAM)
    if action not in ("invoke", "invoke-with-response-stream"):
        return Reply.json({"message": f"Unknown operation {action}"}, 404,
                          {"x-amzn-ErrorType": "UnknownOperationException"})
    if "anthropic." in family:
        if "anthropic_version" not in body or not isinstance(body.get("messages"), list):
            return invalid("Malformed input request: anthropic_version and messages are required")
        message = model.anthropic(body, model=family)
        usage = message["usage"]
        if action == "invoke":
            return Reply.json(message, headers=token_headers(usage["input_tokens"], usage["output_tokens"]))
        events = wire.anthropic_events(message, ping=False, bedrock_metrics={
            "inputTokenCount": usage["input_tokens"], "outputTokenCount": usage["output_tokens"],
            "invocationLatency": latency_ms(model, usage["output_tokens"]), "firstByteLatency": 0})
        return Reply(200, stream=[wire.chunk_frame(e) for e in events], content_type=EVENT_STREAM,
                     headers={"x-amzn-bedrock-content-type": "application/json"})
    if action != "invoke":
        return invalid(f"{model_id} does not stream with InvokeModelWithResponseStream here (Claude does)")
    if "titan-embed" in family:
        call["prompt"] = ""
        return titan(body, TITAN_V1_DIMENSIONS if family.startswith("amazon.titan-embed-text-v1") else
                     DEFAULT_DIMENSIONS)
    if "cohere.embed" in family:
        call["prompt"] = ""
        return cohere(body)
    return invalid(f"the local Bedrock answers InvokeModel for Claude (anthropic.*), Titan Text Embeddings and "
                   f"Cohere Embed, not {model_id}; other models: Converse")


def converse(model: LocalModel, body: dict[str, Any]) -> dict[str, Any]:
    """A Converse answer: the text, or a ``toolUse`` of the tool that ``toolConfig.toolChoice`` forces."""
    text = model.text(body.get("messages"))
    forced = (((body.get("toolConfig") or {}).get("toolChoice") or {}).get("tool") or {}).get("name")
    content: list[dict[str, Any]] = [{"text": text}]
    stop = "end_turn"
    if forced:
        content = [{"toolUse": {"toolUseId": new_id("tooluse_"), "name": forced, "input": model.tool_input(text)}}]
        stop = "tool_use"
    prompt, completion = prompt_words(body), words(text)
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion},
            "metrics": {"latencyMs": latency_ms(model, completion)}}


def titan(body: dict[str, Any], default_size: int) -> Reply:
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        return invalid("Malformed input request: inputText is required")
    embedding = vector(text, int(body.get("dimensions") or default_size))
    tokens = words(text)
    return Reply.json({"embedding": embedding, "embeddingsByType": {"float": embedding},
                       "inputTextTokenCount": tokens}, headers=token_headers(tokens, 0))


def cohere(body: dict[str, Any]) -> Reply:
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return invalid("Malformed input request: texts must be a list of strings")
    if not body.get("input_type"):
        return invalid("Malformed input request: input_type is required")
    vectors = [vector(t, DEFAULT_DIMENSIONS) for t in texts]
    by_type = body.get("embedding_types")
    doc: dict[str, Any] = {"id": new_id(""), "texts": texts}
    if by_type:
        doc.update(response_type="embeddings_by_type", embeddings={"float": vectors})
    else:
        doc.update(response_type="embeddings_floats", embeddings=vectors)
    return Reply.json(doc, headers=token_headers(sum(words(t) for t in texts), 0))


def token_headers(input_tokens: int, output_tokens: int) -> dict[str, str]:
    """What InvokeModel says about an invocation in its response headers."""
    return {"X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
            "X-Amzn-Bedrock-Output-Token-Count": str(output_tokens),
            "X-Amzn-Bedrock-Invocation-Latency": "1"}


def latency_ms(model: LocalModel, output_tokens: int) -> int:
    """How long the local model takes to stream that many words."""
    return int(model.piece_delay * 1000 * max(0, output_tokens - 1))
