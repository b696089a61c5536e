"""``"stream": true`` end to end: the official ``openai`` client (``stream=True``) against the gateway handler,
over loopback HTTP, with each provider kind streaming in its own wire format from a loopback fake (OpenAI SSE,
Anthropic Messages events, Bedrock ConverseStream event-stream frames read by boto3)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import openai
import pytest
from gateway_fakes import TABLE, FakeBedrock, GatewayEnv, log_lines, serve_handler

from lambda_manifest.runtime.gateway import aws, store


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv() as e:
        yield e


@pytest.fixture
def client(env: GatewayEnv) -> Iterator[openai.OpenAI]:
    key = env.create_key()
    with serve_handler() as base_url:
        yield openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=10)


def collect(stream: Any) -> tuple[str, list[Any], Any]:
    """The text, the chunks and the usage of a stream."""
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = next((c.usage for c in chunks if c.usage is not None), None)
    return text, chunks, usage


def audits(capsys: pytest.CaptureFixture[str], until: Any = None, wait_s: float = 5.0) -> list[dict[str, Any]]:
    """The audit lines so far. A stream's audit line is written when the handler's generator ends, which on the
    server's thread can be just after the client read ``[DONE]``: wait for one (matching ``until``)."""
    out = ""
    deadline = time.monotonic() + wait_s
    while True:
        out += capsys.readouterr().out
        found = log_lines(out, "audit")
        if (found and (until is None or until(found[-1]))) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def day_item(env: GatewayEnv, pk: str) -> dict[str, Any]:
    item = env.ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "DAY#2024-06-01"}}).get("Item")
    return store.plain(item) or {}


def ask(client: openai.OpenAI, model: str, **kw: Any) -> Any:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello there"}],
                                          stream=True, **kw)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Every provider kind, normalized to OpenAI chunks


@pytest.mark.parametrize(("model", "provider"), [("fast", "oa"), ("claude", "an")])
def test_openai_and_anthropic_streams_become_openai_chunks(
    env: GatewayEnv, client: openai.OpenAI, capsys: pytest.CaptureFixture[str], model: str, provider: str
) -> None:
    text, chunks, usage = collect(ask(client, model, stream_options={"include_usage": True}))
    assert text == f"{provider}: hello there"
    assert all(c.object == "chat.completion.chunk" and c.model == model for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and (usage.prompt_tokens, usage.completion_tokens) == (11, 7)
    # The gateway always asked the provider for usage and settled it when the stream ended.
    upstream = (env.oa if provider == "oa" else env.an).requests[-1]["body"]
    assert upstream["stream"] is True
    if provider == "oa":
        assert upstream["stream_options"] == {"include_usage": True}
    audit = audits(capsys)[-1]
    assert audit["stream"] == "done" and audit["status"] == 200
    assert (audit["gen_ai.usage.input_tokens"], audit["gen_ai.usage.output_tokens"]) == (11, 7) and not audit["usage_estimated"]


def test_without_include_usage_no_usage_chunk_but_usage_is_still_settled(
    env: GatewayEnv, client: openai.OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    text, chunks, usage = collect(ask(client, "fast"))
    assert text == "oa: hello there" and usage is None and all(c.choices for c in chunks)
    assert env.oa.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    kid = audits(capsys)[-1]["key_id"]
    assert day_item(env, f"Q#K#{kid}")["tokens"] == 18


def test_tool_call_deltas_from_openai_and_anthropic(env: GatewayEnv, client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    for fake, model in ((env.oa, "fast"), (env.an, "claude")):
        fake.tool_call = {"name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}
        _, chunks, _ = collect(ask(client, model, tools=tools))
        calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        assert len(calls) > 2  # the arguments arrive in pieces
        assert calls[0].function.name == "get_weather" and calls[0].id
        assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Paris",
                                                                                  "unit": "celsius"}
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


@pytest.fixture
def bedrock() -> Iterator[FakeBedrock]:
    fake = FakeBedrock("hi from bedrock stream")
    # No Bedrock here, and moto has no ConverseStream: boto3 talks to the loopback fake, which speaks the
    # real event-stream wire format, so boto3's own parser reads real frames.
    aws.set_client("bedrock-runtime", boto3.client("bedrock-runtime", region_name="us-east-1",
                                                   endpoint_url=fake.url))
    try:
        yield fake
    finally:
        fake.close()


def test_bedrock_converse_stream_becomes_openai_chunks(
    env: GatewayEnv, client: openai.OpenAI, bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    bedrock.tool_call = {"name": "lookup", "input": {"q": "x"}}
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    text, chunks, usage = collect(ask(client, "bedrock", tools=tools, stream_options={"include_usage": True}))
    assert text == "hi from bedrock stream"
    assert bedrock.requests[-1]["path"] == "/model/anthropic.claude-3-haiku/converse-stream"
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "lookup" and calls[0].id == "tooluse_1"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"q": "x"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert (usage.prompt_tokens, usage.completion_tokens) == (9, 4)
    assert audits(capsys)[-1]["gen_ai.provider.name"] == "aws.bedrock"


def test_bedrock_throttling_before_output_falls_back(
    env: GatewayEnv, client: openai.OpenAI, bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    env.reconfigure(lambda c: c["models"]["bedrock"]["targets"].append({"provider": "oa", "model": "gpt-4o-mini"}))
    bedrock.exception = "throttlingException"
    text, _, _ = collect(ask(client, "bedrock"))
    assert text == "oa: hello there"
    assert audits(capsys)[-1]["fallback_path"] == ["br/anthropic.claude-3-haiku:rate_limited",
                                                   "oa/gpt-4o-mini:ok"]


# ---------------------------------------------------------------------------------------------------------
# Failures: before the first output (fallback, or an ordinary JSON error) and after it (an SSE error event)


@pytest.mark.parametrize("fault", ["break_before_content", "error_event", 503])
def test_a_provider_failing_before_any_content_falls_back(
    env: GatewayEnv, client: openai.OpenAI, capsys: pytest.CaptureFixture[str], fault: Any
) -> None:
    env.oa.push(fault, fault)
    text, _, _ = collect(ask(client, "smart"))
    assert text == "an: hello there"
    path = audits(capsys)[-1]["fallback_path"]
    assert path[-1] == "an/claude-sonnet:ok" and path[0].startswith("oa/gpt-4o:")
    assert env.an.calls == 1


def test_every_provider_failing_before_output_is_a_json_error_with_its_status(
    env: GatewayEnv, client: openai.OpenAI
) -> None:
    env.oa.push(500, 500)
    env.an.push(503, 503)
    with pytest.raises(openai.InternalServerError) as failed:
        collect(ask(client, "smart"))
    assert failed.value.status_code == 502
    assert failed.value.response.headers["content-type"] == "application/json"
    assert failed.value.response.headers["x-should-retry"] == "false"
    assert failed.value.body["code"] == "upstream_error"  # type: ignore[index]


def test_upstream_429_while_streaming_is_a_429_with_retry_after(env: GatewayEnv, client: openai.OpenAI) -> None:
    env.oa.push("429:7", "429:7")
    with pytest.raises(openai.RateLimitError) as limited:
        collect(ask(client, "fast"))
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.response.headers["x-should-retry"] == "true"


def test_a_failure_after_content_is_an_sse_error_event_and_what_was_used_is_settled(
    env: GatewayEnv, client: openai.OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    env.oa.reply = "one two three four five six seven eight"
    env.oa.push("break_mid_stream")
    received: list[str] = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in ask(client, "smart"):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "the provider's stream broke" in failed.value.message
    assert "".join(received).startswith("one two")  # content arrived before the break
    assert env.an.calls == 0  # content was sent: no fallback, it would mix two answers
    audit = audits(capsys)[-1]
    assert audit["stream"] == "error" and audit["stream_error"] == "reset"
    assert audit["usage_estimated"] is True and audit["gen_ai.usage.output_tokens"] >= 2
    assert day_item(env, f"Q#K#{audit['key_id']}")["errors"] == 1


# ---------------------------------------------------------------------------------------------------------
# Keep-alives, time to first byte, deadlines


def test_keep_alive_comments_while_the_provider_is_silent(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: c["streaming"].update(keepalive_s=0.1))
    key = env.create_key()
    env.oa.push(("first_after", 0.35))
    status, headers, data = env.raw({"model": "fast", "messages": [{"role": "user", "content": "hi"}],
                                     "stream": True}, key=key)  # fmt: skip
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert data.startswith(b": keep-alive\n\n")
    assert data.count(b": keep-alive\n\n") >= 2
    assert data.endswith(b"data: [DONE]\n\n")


def test_after_a_keep_alive_a_total_failure_is_an_sse_error_event(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: (c["streaming"].update(keepalive_s=0.1), c["providers"]["oa"].update(timeout_s=0.35)))
    key = env.create_key()
    env.oa.push(("drip", 0.05), ("drip", 0.05))
    status, _, data = env.raw({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "stream": True},
                              key=key)  # fmt: skip
    assert status == 200  # committed by the keep-alives
    events = [line for line in data.split(b"\n\n") if line.startswith(b"data: ")]
    assert json.loads(events[-1][6:])["error"]["code"] == "upstream_timeout"


def test_the_first_chunk_reaches_the_client_before_the_provider_has_finished(
    env: GatewayEnv, client: openai.OpenAI
) -> None:
    env.oa.reply = "a b c d e f"
    env.oa.piece_delay_s = 0.15
    first_at = None
    for chunk in ask(client, "fast"):
        if first_at is None and chunk.choices and chunk.choices[0].delta.content:
            first_at = time.monotonic()
    assert first_at is not None
    assert first_at < env.oa.sent_pieces[-1]  # the client had text while the provider was still generating


def test_a_slow_drip_stream_fails_over_on_time(env: GatewayEnv, client: openai.OpenAI,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    env.reconfigure(lambda c: c["models"]["smart"]["targets"][0].update(timeout_s=0.5))
    env.oa.push(("drip", 0.1))  # bytes every 100 ms, never an event: not idle, but no output either
    text, _, _ = collect(ask(client, "smart"))
    assert text == "an: hello there"
    assert audits(capsys)[-1]["fallback_path"] == ["oa/gpt-4o:timeout", "an/claude-sonnet:ok"]


# ---------------------------------------------------------------------------------------------------------
# Cache, disconnects, quotas


def test_a_cached_answer_is_replayed_as_a_stream_and_a_streamed_answer_is_cached(
    env: GatewayEnv, client: openai.OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hello there"}],
                                   temperature=0)  # fmt: skip
    raw = client.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "hello there"}], temperature=0, stream=True,
        stream_options={"include_usage": True})
    assert raw.headers["x-lm-cache"] == "hit"
    text, chunks, usage = collect(raw.parse())
    assert text == "oa: hello there" and usage.total_tokens == 18
    assert chunks[0].choices[0].delta.role == "assistant"
    assert env.oa.calls == 1
    # The other way round: a streamed miss fills the cache for both kinds of request.
    text, _, _ = collect(client.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "other"}], temperature=0, stream=True))
    assert audits(capsys, lambda a: a.get("stream") == "done")  # settled (and cached) when the stream ended
    buffered = client.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "other"}], temperature=0)
    assert buffered.headers["x-lm-cache"] == "hit" and buffered.parse().choices[0].message.content == text
    assert env.oa.calls == 2


def test_a_client_that_goes_away_stops_the_provider_stream_and_pays_for_what_was_used(
    env: GatewayEnv, client: openai.OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    env.oa.reply = " ".join(f"word{i}" for i in range(40))
    env.oa.piece_delay_s = 0.05
    stream = ask(client, "fast")
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    assert env.oa.closed_early.wait(5)  # the gateway stopped reading the provider
    audit = audits(capsys, lambda a: a.get("stream") == "client_gone")[-1]
    assert audit["client_disconnected"] is True and audit["usage_estimated"] is True
    item = day_item(env, f"Q#K#{audit['key_id']}")
    assert item["requests"] == 1 and 0 < item["completion_tokens"] < 40 * 2


def test_a_stream_reserves_and_settles_the_token_quota(env: GatewayEnv) -> None:
    key = env.create_key(tpd=40)
    with serve_handler() as base_url:
        c = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0)
        for _ in range(2):
            collect(c.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hello"}],
                                              max_tokens=7, stream=True))  # fmt: skip
        with pytest.raises(openai.RateLimitError):
            collect(c.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hello"}],
                                              max_tokens=7, stream=True))  # fmt: skip
    kid = next(i for i in env.ddb.scan(TableName=TABLE)["Items"] if i["pk"]["S"].startswith("KEYID#"))
    item = day_item(env, f"Q#K#{kid['pk']['S'][6:]}")
    assert item["tokens"] == item["quota_tokens"] == 36


def test_prompt_endpoints_and_conversations_stream_too(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    key = env.create_key()
    status, headers, data = env.raw({"variables": {"name": "Ada"}, "stream": True}, key=key,
                                    path="/v1/prompts/greet/versions/1")  # fmt: skip
    assert status == 200 and headers["x-lm-prompt"] == "greet@1"
    events = [json.loads(e[6:]) for e in data.split(b"\n\n") if e.startswith(b"data: {")]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]) == "oa: Say hi to Ada"
    for turn in ("first", "second"):
        status, _, data = env.raw({"model": "fast", "messages": [{"role": "user", "content": turn}], "stream": True,
                                   "conversation_id": "c-stream"}, key=key)  # fmt: skip
        assert status == 200 and data.endswith(b"data: [DONE]\n\n")
    _, _, stored = env.call("GET", "/v1/conversations/c-stream", key=key)
    assert [m["content"] for m in stored["messages"]] == ["first", "oa: first", "second", "oa: second"]
    assert env.oa.requests[-1]["body"]["messages"][0]["content"] == "first"  # the history went to the provider
