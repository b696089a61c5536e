"""The surfaces clients call besides chat completions, each with its official SDK against the gateway handler
over loopback HTTP: the Responses API (``previous_response_id``, the cache, quotas), embeddings (OpenAI-compatible
and Bedrock Titan/Cohere, fallback, base64), the Anthropic Messages API (headers, errors, ``count_tokens``,
``cache_control``), ``GET /v1/models/{id}``, the 404 and 413 answers, cached-token pricing and the GenAI
semantic-convention telemetry."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest
from gateway_fakes import TABLE, FakeBedrock, GatewayEnv, bedrock_client, log_lines, serve_handler

from lambda_manifest.runtime.gateway import store
from lambda_manifest.runtime.gateway.contract import ROUTES


def embedding_models(c: dict[str, Any]) -> None:
    c["models"].update({
        "embed": {"targets": [{"provider": "oa", "model": "text-embedding-3-small"}]},
        "titan": {"targets": [{"provider": "br", "model": "amazon.titan-embed-text-v2:0"}]},
        "cohere": {"targets": [{"provider": "br", "model": "cohere.embed-english-v3"}]},
        "embed-ha": {"targets": [{"provider": "oa", "model": "text-embedding-3-small"},
                                 {"provider": "br", "model": "amazon.titan-embed-text-v2:0"}]},
    })
    c["prices"].update({"text-embedding-3-small": {"input": 0.02, "output": 0},
                        "amazon.titan-embed-text-v2:0": {"input": 0.02, "output": 0}})


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv(embedding_models) as e:
        yield e


@pytest.fixture
def bedrock(env: GatewayEnv) -> Iterator[FakeBedrock]:
    with bedrock_client() as fake:
        yield fake


@pytest.fixture
def base_url(env: GatewayEnv) -> Iterator[str]:
    with serve_handler() as url:
        yield url


@pytest.fixture
def key(env: GatewayEnv) -> str:
    return env.create_key()


def oai(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=10)


def claude(base_url: str, key: str | None = None, **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=base_url.removesuffix("/v1"), max_retries=0, timeout=10, **kw)


def audits(capsys: pytest.CaptureFixture[str], wait_s: float = 5.0) -> list[dict[str, Any]]:
    out, deadline = "", time.monotonic() + wait_s
    while True:
        out += capsys.readouterr().out
        found = log_lines(out, "audit")
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def day(env: GatewayEnv, key_id: str) -> dict[str, Any]:
    item = env.ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"Q#K#{key_id}"}, "sk": {"S": "DAY#2024-06-01"}})
    return store.plain(item.get("Item")) or {}


# ---------------------------------------------------------------------------------------------------------
# Responses


def test_responses_continue_with_previous_response_id(env: GatewayEnv, base_url: str, key: str) -> None:
    client = oai(base_url, key)
    first = client.responses.create(model="smart", instructions="be brief", input="my name is Ada")
    assert first.id.startswith("resp_") and first.output_text == "oa: my name is Ada" and first.store
    second = client.responses.create(model="smart", input="what is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    sent = env.oa.requests[-1]["body"]["messages"]
    # The stored exchange came back; the first request's instructions did not (they do not carry over).
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "my name is Ada" and sent[1]["content"] == "oa: my name is Ada"
    third = client.responses.create(model="smart", input="and again?", previous_response_id=second.id)
    assert len(env.oa.requests[-1]["body"]["messages"]) == 5 and third.id not in (first.id, second.id)
    # store=False keeps nothing to continue from.
    unstored = client.responses.create(model="smart", input="x", store=False)
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="smart", input="y", previous_response_id=unstored.id)
    assert missing.value.code == "response_not_found"
    # Another tenant's response is not found either.
    other = oai(base_url, env.create_key(tenant="globex"))
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="smart", input="y", previous_response_id=first.id)


def test_responses_function_call_round_trip(env: GatewayEnv, base_url: str, key: str) -> None:
    client = oai(base_url, key)
    tools: Any = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}]
    env.oa.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    first = client.responses.create(model="fast", input="weather?", tools=tools)
    call = next(o for o in first.output if o.type == "function_call")
    env.oa.tool_call = None
    client.responses.create(model="fast", tools=tools, previous_response_id=first.id, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    sent = env.oa.requests[-1]["body"]["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call.call_id and sent[-1] == {
        "role": "tool", "tool_call_id": call.call_id, "content": "sunny"}


def test_responses_share_keys_quotas_cache_and_accounting(
    env: GatewayEnv, base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    limited = env.create_key(models=("fast",), rpm=2)
    client = oai(base_url, limited)
    a = client.responses.with_raw_response.create(model="fast", input="hi", temperature=0, store=False)
    b = client.responses.with_raw_response.create(model="fast", input="hi", temperature=0, store=False)
    assert (a.headers["x-lm-cache"], b.headers["x-lm-cache"]) == ("miss", "hit")
    assert b.parse().output_text == "oa: hi" and b.parse().id != a.parse().id
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="fast", input="hi")
    with pytest.raises(openai.PermissionDeniedError):
        client.responses.create(model="claude", input="hi")
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="fast", input="hi", tools=[{"type": "web_search"}])  # type: ignore[list-item]
    assert bad.value.code == "unsupported_parameter"
    audit = next(a for a in audits(capsys) if a.get("api") == "responses")
    assert audit["gen_ai.request.model"] == "fast" and audit["gen_ai.usage.input_tokens"] == 11
    assert day(env, audit["key_id"])["requests"] >= 2


# ---------------------------------------------------------------------------------------------------------
# Embeddings


def test_embeddings_openai_compatible_with_the_sdks_base64_default(env: GatewayEnv, base_url: str, key: str) -> None:
    client = oai(base_url, key)
    one = client.embeddings.create(model="embed", input="hello")  # the SDK asks for base64 and decodes it
    assert one.data[0].embedding == [5.0, 0.5, -1.0] and one.model == "embed"
    assert one.usage.prompt_tokens == 2
    many = client.embeddings.create(model="embed", input=["a", "bbb"], encoding_format="float", dimensions=3)
    assert [d.embedding[0] for d in many.data] == [1.0, 3.0]  # in input order, whatever order the provider used
    sent = env.oa.requests[-1]
    assert sent["path"].endswith("/embeddings") and sent["body"]["dimensions"] == 3
    assert sent["body"]["encoding_format"] == "float"


def test_embeddings_on_bedrock_titan_and_cohere_and_fallback(
    env: GatewayEnv, base_url: str, key: str, bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    client = oai(base_url, key)
    titan = client.embeddings.create(model="titan", input=["one two", "three"], dimensions=4)
    assert [d.embedding for d in titan.data] == [[7.0, 0.25, 0.0, 0.0], [5.0, 0.25, 0.0, 0.0]]
    assert titan.usage.prompt_tokens == 3  # Titan's inputTextTokenCount, summed
    assert bedrock.requests[-1]["body"] == {"inputText": "three", "dimensions": 4}
    assert bedrock.requests[-1]["path"] == "/model/amazon.titan-embed-text-v2%3A0/invoke"
    cohere = client.embeddings.create(model="cohere", input=["ab", "abcd"], encoding_format="float")
    assert [d.embedding for d in cohere.data] == [[2.0, -0.25], [4.0, -0.25]]
    assert bedrock.requests[-1]["body"] == {"texts": ["ab", "abcd"], "input_type": "search_document"}
    env.oa.push(503, 503)
    served = client.embeddings.with_raw_response.create(model="embed-ha", input="hello")
    assert served.headers["x-lm-provider"] == "br" and served.parse().data[0].embedding[0] == 5.0
    audit = [a for a in audits(capsys) if a.get("api") == "embeddings"][-1]
    assert audit["gen_ai.operation.name"] == "embeddings" and audit["fallback_path"][-1].endswith(":ok")
    assert Decimal(audit["cost_usd"]) == Decimal("0.02") * 1 / 1_000_000  # Titan counted 1 token


def test_embeddings_refusals(env: GatewayEnv, base_url: str, key: str) -> None:
    client = oai(base_url, key)
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="claude", input="x")
    assert refused.value.code == "unsupported_parameter" and "no embeddings" in refused.value.message
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="embed", input=[])
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="x")


# ---------------------------------------------------------------------------------------------------------
# Anthropic Messages


def test_anthropic_sdk_with_api_key_or_auth_token(env: GatewayEnv, base_url: str, key: str) -> None:
    by_key = claude(base_url, key).messages.create(model="claude", max_tokens=20,
                                                   messages=[{"role": "user", "content": "hi"}])
    assert by_key.content[0].text == "an: hi" and by_key.model == "claude"  # type: ignore[union-attr]
    by_token = claude(base_url, auth_token=key).messages.create(model="fast", max_tokens=20,
                                                                messages=[{"role": "user", "content": "hi"}])
    assert by_token.content[0].text == "oa: hi" and by_token.stop_reason == "end_turn"  # type: ignore[union-attr]
    assert env.an.requests[-1]["headers"]["anthropic-version"] == "2023-06-01"
    assert env.an.requests[-1]["headers"]["x-api-key"] != key  # the provider's own key, never the caller's


def test_anthropic_errors_are_the_sdks_exceptions(env: GatewayEnv, base_url: str) -> None:
    msgs: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.AuthenticationError) as denied:
        claude(base_url, "lmg-nope-00000000000000000000").messages.create(model="claude", max_tokens=5, messages=msgs)
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    limited = env.create_key(models=("claude",), rpm=1)
    client = claude(base_url, limited)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=5, messages=msgs)
    with pytest.raises(anthropic.PermissionDeniedError):
        client.messages.create(model="fast", max_tokens=5, messages=msgs)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="claude", max_tokens=0, messages=msgs)
    with pytest.raises(anthropic.BadRequestError) as too_long:  # over the context window: Anthropic's 400
        client.messages.create(model="claude", max_tokens=5, messages=[{"role": "user", "content": "x " * 40_000}])
    assert "context window" in str(too_long.value)
    client.messages.create(model="claude", max_tokens=5, messages=msgs)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="claude", max_tokens=5, messages=msgs)
    env.reconfigure(lambda c: c.update(limits={"max_body_bytes": 2048}))
    with pytest.raises(anthropic.RequestTooLargeError):
        claude(base_url, env.create_key()).messages.create(model="claude", max_tokens=5,
                                                           messages=[{"role": "user", "content": "x" * 5000}])


def test_anthropic_stream_error_after_output_is_an_error_event(env: GatewayEnv, base_url: str, key: str) -> None:
    env.oa.push("break_mid_stream")
    with pytest.raises(anthropic.APIStatusError) as broke, claude(base_url, key).messages.stream(
            model="fast", max_tokens=20, messages=[{"role": "user", "content": "one two three four"}]) as s:
        s.get_final_message()
    assert "stream broke" in str(broke.value)


def test_count_tokens_passes_through_to_anthropic_and_estimates_elsewhere(
    env: GatewayEnv, base_url: str, key: str
) -> None:
    client = claude(base_url, key)
    msgs: Any = [{"role": "user", "content": "hello there"}]
    assert client.messages.count_tokens(model="claude", messages=msgs, system="be brief").input_tokens == 42
    sent = env.an.requests[-1]
    assert sent["path"] == "/v1/messages/count_tokens" and sent["body"]["model"] == "claude-haiku"
    assert sent["body"]["system"] == "be brief"
    raw = client.messages.with_raw_response.count_tokens(model="fast", messages=msgs)
    assert raw.headers["x-lm-estimated"] == "true" and raw.parse().input_tokens > 0
    assert env.oa.calls == 0


def test_cache_control_reaches_claude_and_bedrock_and_cached_tokens_are_priced(
    env: GatewayEnv, base_url: str, key: str, bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    env.reconfigure(lambda c: c["prices"].update({"an/claude-haiku": {"input": 1, "output": 5, "cached_input": 0.1,
                                                                      "cache_write": 1.25}}))
    env.an.prompt_tokens, env.an.cached_tokens, env.an.cache_write_tokens = 1000, 600, 300
    system: Any = [{"type": "text", "text": "a long policy", "cache_control": {"type": "ephemeral"}}]
    reply = claude(base_url, key).messages.create(model="claude", max_tokens=50, system=system,
                                                  messages=[{"role": "user", "content": "hi"}])
    assert env.an.requests[-1]["body"]["system"] == system  # passed through as written
    assert (reply.usage.input_tokens, reply.usage.cache_read_input_tokens,
            reply.usage.cache_creation_input_tokens) == (100, 600, 300)
    audit = audits(capsys)[-1]
    assert audit["gen_ai.usage.input_tokens"] == 1000
    assert audit["gen_ai.usage.cache_read.input_tokens"] == 600
    assert audit["gen_ai.usage.cache_creation.input_tokens"] == 300
    # 100 input at 1 + 600 cache reads at 0.1 + 300 cache writes at 1.25 + 7 output at 5, per million
    assert Decimal(audit["cost_usd"]) == (Decimal(100) + Decimal("60") + Decimal("375") + Decimal(35)) / 1_000_000
    request = urllib.request.Request(f"{base_url}/usage", headers={"authorization": f"Bearer {key}"})
    usage = json.loads(urllib.request.urlopen(request, timeout=10).read())
    assert (usage["cached_tokens"], usage["cache_write_tokens"]) == (600, 300)
    # OpenAI's chat answer reports the cached tokens where the SDK reads them.
    env.oa.cached_tokens = 4
    chat = oai(base_url, key).chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
    assert chat.usage is not None and chat.usage.prompt_tokens_details is not None
    assert chat.usage.prompt_tokens_details.cached_tokens == 4
    # Claude on Bedrock gets the mark as written (InvokeModel with the Messages body); on Converse (any other
    # Bedrock model) it becomes a cache point after the block it ends, and Bedrock's cache reads are counted.
    bedrock.cache_read = 5
    on_bedrock = claude(base_url, key).messages.create(model="bedrock", max_tokens=50, system=system,
                                                       messages=[{"role": "user", "content": "hi"}])
    assert bedrock.requests[-1]["body"]["system"] == system and on_bedrock.usage.cache_read_input_tokens == 5
    env.reconfigure(lambda c: c["models"].update(nova={"targets": [{"provider": "br", "model": "amazon.nova-lite-v1:0"}]}))
    via_converse = claude(base_url, key).messages.create(model="nova", max_tokens=50, system=system,
                                                         messages=[{"role": "user", "content": "hi"}])
    assert bedrock.requests[-1]["body"]["system"] == [{"text": "a long policy"}, {"cachePoint": {"type": "default"}}]
    assert via_converse.usage.cache_read_input_tokens == 5


# ---------------------------------------------------------------------------------------------------------
# Models, 404, 413, telemetry


def test_models_retrieve_and_unknown_routes(env: GatewayEnv, base_url: str) -> None:
    client = oai(base_url, env.create_key(models=("fast",)))
    model = client.models.retrieve("fast")
    assert model.id == "fast" and model.object == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("smart")  # exists, but not for this key
    with pytest.raises(openai.NotFoundError) as legacy:
        client.completions.create(model="fast", prompt="x")
    assert legacy.value.code == "unknown_route"
    assert all(f"{m} {p}" in legacy.value.message for m, p in ROUTES)


def test_413_and_the_context_window_reach_the_sdk(env: GatewayEnv, base_url: str, key: str) -> None:
    client = oai(base_url, key)
    with pytest.raises(openai.BadRequestError) as window:
        client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x " * 20_000}])
    assert window.value.code == "context_length_exceeded" and window.value.param == "messages"
    env.reconfigure(lambda c: c.update(limits={"max_body_bytes": 2048}))
    with pytest.raises(openai.APIStatusError) as large:
        client.responses.create(model="fast", input="x" * 5000)
    assert large.value.status_code == 413 and large.value.code == "request_too_large"
    assert large.value.response.headers["x-should-retry"] == "false"


def test_genai_semantic_convention_fields_and_time_to_first_token(
    env: GatewayEnv, base_url: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = oai(base_url, key)
    env.oa.piece_delay_s = 0.05
    list(client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "a b c d"}],
                                        stream=True, max_tokens=30, temperature=0.5))
    time.sleep(0.2)
    out = capsys.readouterr().out
    audit = log_lines(out, "audit")[-1]
    assert audit["gen_ai.operation.name"] == "chat" and audit["gen_ai.provider.name"] == "openai"
    assert (audit["gen_ai.request.model"], audit["gen_ai.response.model"]) == ("fast", "gpt-4o-mini")
    assert (audit["gen_ai.request.max_tokens"], audit["gen_ai.request.temperature"]) == (30, 0.5)
    assert audit["gen_ai.response.finish_reasons"] == ["stop"]
    assert 0 < audit["gen_ai.server.time_to_first_token"] < audit["latency_ms"] / 1000
    genai = log_lines(out, "genai")
    timing = next(r for r in genai if "gen_ai.client.operation.duration" in r)
    assert timing["gen_ai.server.time_to_first_token"] == pytest.approx(audit["gen_ai.server.time_to_first_token"],
                                                                        abs=1e-3)
    assert timing["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["gen_ai.operation.name",
                                                                     "gen_ai.request.model"]]
    tokens = {r["gen_ai.token.type"]: r["gen_ai.client.token.usage"] for r in genai if "gen_ai.token.type" in r}
    assert tokens == {"input": 11, "output": 7}
    json.dumps(audit)  # one JSON line


def test_the_new_api_modules_are_imported_only_when_their_route_is_called() -> None:
    """Cold start: importing the handler loads none of the Responses, Messages or embeddings modules (nor the
    provider adapters); each is imported by the first request for its route."""
    import subprocess
    import sys

    code = ("import sys, lambda_manifest.runtime.gateway.handler; "
            "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('lambda_manifest.runtime.gateway.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for module in ("api_responses", "api_messages", "api_embeddings", "streaming", "provider_openai",
                   "provider_anthropic", "provider_bedrock", "upstream"):
        assert f"'{module}'" not in loaded, module
    assert "'contract'" in loaded and "'routes'" in loaded
