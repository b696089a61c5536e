"""The local runner's model (``lambda_manifest.local.llm`` and ``.bedrock``): each provider kind's wire format,
read by the clients that read the real providers (the ``openai`` and ``anthropic`` SDKs, boto3's Bedrock Runtime
client and its event-stream parser), and the gateway runtime streaming from each kind through it in-process,
its Bedrock client pointed there by ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` as the local runner points it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import anthropic
import boto3
import openai
import pytest
from botocore.exceptions import ClientError
from gateway_fakes import GatewayEnv, serve_handler

from lambda_manifest.local import wire
from lambda_manifest.local.llm import BEDROCK_ENDPOINT_ENV, LocalModel
from lambda_manifest.runtime.gateway import aws
from tests.support import anthropic_stream, openai_stream

CLAUDE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
CLAUDE_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
               "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture(scope="module")
def model() -> Iterator[LocalModel]:
    local = LocalModel(piece_delay=0)
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def bedrock(model: LocalModel) -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=model.endpoint)


def raw_stream(url: str, body: dict[str, Any]) -> bytes:
    """The response body's bytes as they came, chunked framing removed by http.client."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    connection.request("POST", parts.path, json.dumps(body), {"content-type": "application/json"})
    response = connection.getresponse()
    assert response.getheader("transfer-encoding") == "chunked"
    data = response.read()
    connection.close()
    return data


# -- OpenAI ------------------------------------------------------------------------------------------------------
def test_openai_sdk_reads_its_answer_and_its_stream(model: LocalModel) -> None:
    client = openai.OpenAI(base_url=model.url, api_key="local", max_retries=0)
    messages: Any = [{"role": "user", "content": "hello there"}]
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert whole.choices[0].message.content == "[local model] hello there"
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (2, 4)  # type: ignore[union-attr]
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                 stream_options={"include_usage": True}))
    assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content] == \
        ["[local", " model]", " hello", " there"]
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert raw_stream(f"{model.url}/chat/completions", {"messages": messages, "stream": True}).endswith(
        b"data: [DONE]\n\n")


def test_a_forced_tool_is_called_with_the_reply_as_its_input(model: LocalModel) -> None:
    model.reply = '{"flagged": false}'
    try:
        client = openai.OpenAI(base_url=model.url, api_key="local", max_retries=0)
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "function", "function": {"name": "verdict", "parameters": {"type": "object"}}}],
            tool_choice={"type": "function", "function": {"name": "verdict"}})
        call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert call.function.name == "verdict" and json.loads(call.function.arguments) == {"flagged": False}  # type: ignore[union-attr]
        assert answer.choices[0].finish_reason == "tool_calls"
        claude = anthropic.Anthropic(base_url=model.endpoint, api_key="local", max_retries=0).messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "x"}],
            tools=[{"name": "verdict", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool", "name": "verdict"})
        assert claude.stop_reason == "tool_use" and claude.content[0].input == {"flagged": False}  # type: ignore[union-attr]
    finally:
        model.reply = None


# -- Anthropic ---------------------------------------------------------------------------------------------------
def test_anthropic_sdk_reads_its_answer_and_the_events_in_anthropics_order(model: LocalModel) -> None:
    client = anthropic.Anthropic(base_url=model.endpoint, api_key="local", max_retries=0)
    messages: Any = [{"role": "user", "content": "hello there"}]
    whole = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=messages)
    assert whole.content[0].text == "[local model] hello there" and whole.stop_reason == "end_turn"  # type: ignore[union-attr]
    events = list(client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=messages, stream=True))
    assert [e.type for e in events] == ["message_start", "content_block_start", *["content_block_delta"] * 4,
                                        "content_block_stop", "message_delta", "message_stop"]  # the SDK drops ping
    start = events[0].message  # type: ignore[union-attr]
    assert start.content == [] and start.stop_reason is None and start.usage.input_tokens == 2
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == 4  # type: ignore[union-attr]
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=messages) as stream:
        final = stream.get_final_message()
    assert [b.model_dump(include={"type", "text"}) for b in final.content] == \
        [b.model_dump(include={"type", "text"}) for b in whole.content]
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert client.messages.count_tokens(model="claude-haiku-4-5", messages=messages).input_tokens == 2
    data = raw_stream(f"{model.endpoint}/v1/messages", {"messages": messages, "stream": True})
    assert data.startswith(b'event: message_start\ndata: {"type": "message_start", "message": {')
    assert [line.split(b": ", 1)[1] for line in data.split(b"\n") if line.startswith(b"event: ")][:3] == \
        [b"message_start", b"content_block_start", b"ping"]
    assert data.endswith(b'event: message_stop\ndata: {"type": "message_stop"}\n\n')


# -- Bedrock Runtime ---------------------------------------------------------------------------------------------
def test_boto3_reads_converse_and_its_event_stream(bedrock: Any) -> None:
    messages = [{"role": "user", "content": [{"text": "hello there"}]}]
    whole = bedrock.converse(modelId="amazon.nova-lite-v1:0", messages=messages, system=[{"text": "be brief"}])
    assert whole["output"]["message"]["content"] == [{"text": "[local model] hello there"}]
    assert whole["usage"] == {"inputTokens": 4, "outputTokens": 4, "totalTokens": 8}
    events = list(bedrock.converse_stream(modelId="amazon.nova-lite-v1:0", messages=messages)["stream"])
    assert [next(iter(e)) for e in events] == ["messageStart", *["contentBlockDelta"] * 4, "contentBlockStop",
                                               "messageStop", "metadata"]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == \
        "[local model] hello there"
    assert events[-2]["messageStop"]["stopReason"] == "end_turn" and events[-1]["metadata"]["usage"]["outputTokens"] == 4
    forced = bedrock.converse(modelId="amazon.nova-lite-v1:0", messages=messages, toolConfig={
        "tools": [{"toolSpec": {"name": "verdict", "inputSchema": {"json": {"type": "object"}}}}],
        "toolChoice": {"tool": {"name": "verdict"}}})
    assert forced["stopReason"] == "tool_use"
    assert forced["output"]["message"]["content"][0]["toolUse"]["input"] == {"text": "[local model] hello there"}


def test_boto3_reads_claude_on_bedrock_whole_and_streamed(bedrock: Any) -> None:
    whole = json.loads(bedrock.invoke_model(modelId=CLAUDE, body=json.dumps(CLAUDE_BODY))["body"].read())
    assert whole["type"] == "message" and whole["content"] == [{"type": "text", "text": "[local model] hello there"}]
    chunks = [json.loads(e["chunk"]["bytes"]) for e in
              bedrock.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(CLAUDE_BODY))["body"]]
    assert [c["type"] for c in chunks] == ["message_start", "content_block_start", *["content_block_delta"] * 4,
                                           "content_block_stop", "message_delta", "message_stop"]  # no ping
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 4
    with pytest.raises(ClientError) as refused:  # Bedrock's check of Claude's body
        bedrock.invoke_model(modelId=CLAUDE, body=json.dumps({"messages": []}))
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_boto3_reads_titan_and_cohere_embeddings(bedrock: Any) -> None:
    titan = json.loads(bedrock.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                                            body=json.dumps({"inputText": "same text", "dimensions": 256}))["body"].read())
    again = json.loads(bedrock.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                                            body=json.dumps({"inputText": "same text", "dimensions": 256}))["body"].read())
    assert len(titan["embedding"]) == 256 and titan["embedding"] == again["embedding"]
    assert titan["inputTextTokenCount"] == 2
    cohere = json.loads(bedrock.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps(
        {"texts": ["same text", "other"], "input_type": "search_document"}))["body"].read())
    assert cohere["response_type"] == "embeddings_floats" and len(cohere["embeddings"]) == 2
    assert cohere["embeddings"][0][:256] == titan["embedding"]  # the same text, the same vector
    with pytest.raises(ClientError) as refused:
        bedrock.invoke_model(modelId="meta.llama3-8b-instruct-v1:0", body=json.dumps({"prompt": "x"}))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Converse" in refused.value.response["Error"]["Message"]


def test_event_stream_frames_carry_their_lengths_and_crcs() -> None:
    """The framing boto3 checks, byte by byte: total and header lengths, the prelude's and the message's CRC32."""
    import struct
    import zlib

    data = wire.event_frame("messageStop", {"stopReason": "end_turn"})
    total, headers = struct.unpack(">II", data[:8])
    assert total == len(data) and struct.unpack(">I", data[8:12])[0] == zlib.crc32(data[:8])
    assert struct.unpack(">I", data[-4:])[0] == zlib.crc32(data[:-4])
    assert data[12:12 + headers].startswith(b"\x0b:event-type\x07\x00\x0bmessageStop")
    assert json.loads(data[12 + headers:-4]) == {"stopReason": "end_turn"}


# -- The gateway, in-process, streaming from each provider kind through the local model -------------------------
@pytest.fixture
def generating() -> Iterator[LocalModel]:
    """A local model that takes 50 ms per word, as the runner's ``--llm-piece-delay 0.05``."""
    local = LocalModel(piece_delay=0.05)
    local.start()
    yield local
    local.stop()


@pytest.fixture
def env(generating: LocalModel, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayEnv]:
    def at_local_model(config: dict[str, Any]) -> None:
        config["providers"]["oa"]["base_url"] = generating.url
        config["providers"]["an"]["base_url"] = generating.endpoint

    # The runner's wiring: botocore reads the service-specific endpoint for bedrock-runtime only.
    monkeypatch.setenv(BEDROCK_ENDPOINT_ENV, generating.endpoint)
    with GatewayEnv(at_local_model) as e:
        aws.reset()  # the gateway's clients are built again, reading the environment
        yield e


def upstream_call(model: LocalModel, prompt: str) -> dict[str, Any]:
    calls = [c for c in model.calls if c.get("prompt") == prompt]
    assert len(calls) == 1, calls  # one provider answered: no fallback
    return calls[0]


@pytest.mark.parametrize(("alias", "api"), [("fast", "openai.chat_completions"), ("claude", "anthropic.messages"),
                                            ("bedrock", "bedrock.converse-stream")])
def test_the_openai_sdk_streams_from_each_provider_kind(
    env: GatewayEnv, generating: LocalModel, alias: str, api: str
) -> None:
    key = env.create_key()
    prompt = f"stream from {alias}"
    with serve_handler() as base_url:
        got = openai_stream(openai.OpenAI(base_url=base_url, api_key=key, max_retries=0), alias, prompt)
    call = upstream_call(generating, prompt)
    assert call["api"] == api and call["stream"] is True
    assert "".join(got.pieces) == f"[local model] {prompt}" and len(got.pieces) == 5
    assert got.usage is not None and got.usage.completion_tokens == 5
    # The client had text before the model sent its last word (both times on the machine's monotonic clock).
    assert got.first_at is not None and got.first_at < call["finished"]


@pytest.mark.parametrize(("alias", "api"), [("claude", "anthropic.messages"),
                                            ("bedrock", "bedrock.invoke-with-response-stream")])
def test_the_anthropic_sdk_streams_claude_passed_through(
    env: GatewayEnv, generating: LocalModel, alias: str, api: str
) -> None:
    """Anthropic Messages to Claude, from Anthropic and on Bedrock: Claude's own events reach the SDK."""
    key = env.create_key()
    prompt = f"messages from {alias}"
    with serve_handler() as base_url:
        client = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key=key, max_retries=0)
        got = anthropic_stream(client, alias, prompt, max_tokens=50)
    call = upstream_call(generating, prompt)
    assert call["api"] == api
    assert got.final.content[0].text == f"[local model] {prompt}" and got.final.stop_reason == "end_turn"
    assert got.types[0] == "message_start" and got.types[-1] == "message_stop"
    assert got.first_at is not None and got.first_at < call["finished"]
