"""Gateway routing against real loopback fake providers: fallback and retry order, timeouts, deadline,
circuit breaker, weighted first tier, and the provider wire formats (OpenAI, Azure style, Anthropic, Bedrock)."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from gateway_fakes import ANTHROPIC_KEY, OPENAI_KEY, FakeProvider, GatewayEnv, cached_client, log_lines

from lambda_manifest.runtime.gateway import aws, router
from lambda_manifest.runtime.gateway.config import load_config


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv() as e:
        yield e


def last_audit(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return log_lines(capsys.readouterr().out, "audit")[-1]


def test_5xx_is_retried_with_backoff_then_falls_back(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    key = env.create_key()
    env.oa.push(500, 503)
    status, headers, body = env.chat(key, model="smart")
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "an: hello"
    assert headers["x-lm-provider"] == "an" and headers["x-lm-target-model"] == "claude-sonnet"
    audit = last_audit(capsys)
    assert audit["fallback_path"] == ["oa/gpt-4o:server(500)", "oa/gpt-4o:server(503)", "an/claude-sonnet:ok"]
    assert (env.oa.calls, env.an.calls) == (2, 1)
    assert len(env.sleeps) == 1 and 0 <= env.sleeps[0] <= 0.005  # backoff_base_ms=5, first retry


def test_429_falls_back_at_once_without_same_target_retry(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    key = env.create_key()
    env.oa.push(429)
    status, _, body = env.chat(key, model="smart")
    assert status == 200 and body["choices"][0]["message"]["content"] == "an: hello"
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o:rate_limited(429)", "an/claude-sonnet:ok"]
    assert env.sleeps == []


def test_timeout_falls_back_within_the_per_target_timeout(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env.reconfigure(lambda c: c["models"]["smart"]["targets"][0].update(timeout_s=0.3))
    key = env.create_key()
    env.oa.push("timeout")
    status, _, body = env.chat(key, model="smart")
    # The attempt ended as a timeout and the fallback answered: what the test checks is the path, never how
    # long it took (a wall-clock bound fails on a busy machine; bench/ measures time).
    assert status == 200 and body["choices"][0]["message"]["content"] == "an: hello"
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o:timeout", "an/claude-sonnet:ok"]


def test_client_4xx_is_not_retried_nor_falls_back(env: GatewayEnv) -> None:
    key = env.create_key()
    env.oa.push(400)
    status, _, body = env.chat(key, model="smart")
    assert status == 400
    assert body["error"]["code"] == "provider_rejected_request"
    assert body["error"]["type"] == "invalid_request_error"
    assert "fault 400" in body["error"]["message"]
    assert (env.oa.calls, env.an.calls) == (1, 0)


def test_a_reset_after_the_request_was_sent_is_never_sent_again(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    """The provider read the whole request, then reset the connection: it may have accepted (and billed) it, so
    the same target is not asked again; the fallback answers, and each provider saw the request once."""
    key = env.create_key()
    env.oa.push("reset")
    status, headers, body = env.chat(key, model="smart")
    assert status == 200 and body["choices"][0]["message"]["content"] == "an: hello"
    audit = last_audit(capsys)
    assert audit["fallback_path"] == ["oa/gpt-4o:reset", "an/claude-sonnet:ok"]
    assert audit["attempts"] == 2 and headers["x-lm-attempts"] == "2"
    assert (env.oa.calls, env.an.calls) == (1, 1)


def test_malformed_json_counts_as_a_failure(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    key = env.create_key()
    env.oa.push("malformed", "malformed")
    status, _, body = env.chat(key, model="smart")
    assert status == 200 and body["choices"][0]["message"]["content"] == "an: hello"
    assert last_audit(capsys)["fallback_path"] == [
        "oa/gpt-4o:bad_response",
        "oa/gpt-4o:bad_response",
        "an/claude-sonnet:ok",
    ]


def test_connection_refused_falls_back(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    env.reconfigure(lambda c: c["providers"]["oa"].update(base_url=f"http://127.0.0.1:{dead_port}/v1"))
    key = env.create_key()
    status, _, _ = env.chat(key, model="smart")
    assert status == 200
    assert last_audit(capsys)["fallback_path"] == [
        "oa/gpt-4o:connection",
        "oa/gpt-4o:connection",
        "an/claude-sonnet:ok",
    ]


def test_every_provider_failing_is_502_with_the_path(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    key = env.create_key()
    env.oa.push(500, 500)
    env.an.push(503, 429)
    status, _, body = env.chat(key, model="smart")
    assert status == 502
    assert body["error"]["type"] == "api_error" and body["error"]["code"] == "upstream_error"
    assert "oa/gpt-4o:server(500)" in body["error"]["message"]
    assert last_audit(capsys)["fallback_path"] == [
        "oa/gpt-4o:server(500)",
        "oa/gpt-4o:server(500)",
        "an/claude-sonnet:server(503)",
        "an/claude-sonnet:rate_limited(429)",
    ]


def test_every_provider_timing_out_is_504(env: GatewayEnv) -> None:
    env.reconfigure(
        lambda c: [t.update(timeout_s=0.2) for t in c["models"]["smart"]["targets"]]  # type: ignore[func-returns-value]
    )
    key = env.create_key()
    env.oa.push("timeout")
    env.an.push("timeout")
    status, _, body = env.chat(key, model="smart")
    assert status == 504 and body["error"]["code"] == "upstream_timeout"


def test_attempts_are_bounded_by_the_lambda_remaining_time(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    key = env.create_key()
    assert env.chat(key, model="smart")[0] == 200  # warm the clients: the timing below is the routing
    env.oa.push("timeout")
    # 700 ms left - 250 ms margin: the first attempt gets < 450 ms, then there is no time for the fallback.
    status, _, body = env.chat(key, model="smart", remaining_ms=700)
    assert status == 504, body
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o:timeout"]
    assert env.an.calls == 0


def test_no_backoff_sleep_past_the_deadline(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    env.reconfigure(lambda c: c["routing"].update(backoff_base_ms=60_000, backoff_max_ms=60_000))
    key = env.create_key()
    env.oa.push(500)
    rng_values = iter([50_000.0])
    env.runtime.rng.uniform = lambda a, b: next(rng_values)  # type: ignore[method-assign]
    status, _, _ = env.chat(key, model="smart", remaining_ms=5_000)
    assert status == 200
    assert env.sleeps == []  # a 50 s backoff does not fit in 5 s: go to the next target instead
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o:server(500)", "an/claude-sonnet:ok"]


def test_exponential_backoff_with_full_jitter(env: GatewayEnv) -> None:
    env.reconfigure(
        lambda c: c["routing"].update(
            retries=3, backoff_base_ms=100, backoff_max_ms=250, breaker_threshold=10
        )
    )
    key = env.create_key()
    env.oa.default = 500
    status, _, body = env.chat(key, model="fast")
    assert status == 502 and body["error"]["code"] == "upstream_error"
    assert env.oa.calls == 4
    assert len(env.sleeps) == 3
    for slept, cap in zip(env.sleeps, (0.1, 0.2, 0.25), strict=True):
        assert 0 <= slept <= cap


def test_weighted_first_tier_then_fallback_order() -> None:
    cfg = load_config(
        {
            "providers": {
                "a": {"type": "openai", "base_url": "http://a"},
                "b": {"type": "openai", "base_url": "http://b"},
            },
            "models": {
                "m": {
                    "targets": [
                        {"provider": "a", "model": "x", "weight": 3},
                        {"provider": "b", "model": "y", "weight": 1},
                        {"provider": "a", "model": "z"},
                        {"provider": "b", "model": "w", "weight": 5},
                    ]
                }
            },
        }
    )
    rng = random.Random(7)
    firsts: Counter[str] = Counter()
    for _ in range(4000):
        plan = [t.label for t in router.attempt_plan(cfg.models["m"], rng)]
        assert sorted(plan[:2]) == ["a/x", "b/y"]  # the weighted tier, in some order
        assert plan[2:] == [
            "a/z",
            "b/w",
        ]  # then config order (a weight after an unweighted target is no tier)
        firsts[plan[0]] += 1
    assert 0.72 < firsts["a/x"] / 4000 < 0.78


def test_circuit_breaker_opens_skips_and_closes(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(router, "monotonic", lambda: clock[0])
    key = env.create_key()
    env.oa.default = 500
    # threshold 3: request 1 fails twice on oa (attempt + retry), request 2 fails once more -> open.
    assert env.chat(key, model="smart")[0] == 200
    assert env.chat(key, model="smart")[0] == 200
    assert env.oa.calls == 3
    paths = [a["fallback_path"] for a in log_lines(capsys.readouterr().out, "audit")]
    assert paths[1] == ["oa/gpt-4o:server(500)", "an/claude-sonnet:ok"]  # no retry once the circuit opened
    # While open, oa is skipped without a call.
    assert env.chat(key, model="smart")[0] == 200
    assert env.oa.calls == 3
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o:circuit_open", "an/claude-sonnet:ok"]
    # After the cool-down one trial goes through (half-open); a failure re-opens at once.
    clock[0] += 31
    assert env.chat(key, model="smart")[0] == 200
    assert env.oa.calls == 4
    assert env.chat(key, model="smart")[0] == 200
    assert env.oa.calls == 4
    # Next cool-down: the provider has recovered, the trial succeeds and the circuit closes.
    clock[0] += 31
    env.oa.default = None
    status, headers, _ = env.chat(key, model="smart")
    assert status == 200 and headers["x-lm-provider"] == "oa"
    env.oa.push(500)
    assert (
        env.chat(key, model="smart")[2]["choices"][0]["message"]["content"] == "oa: hello"
    )  # retried: closed


def test_all_circuits_open_is_502_without_calls(env: GatewayEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(router, "monotonic", lambda: 5.0)
    for label in ("oa/gpt-4o", "an/claude-sonnet"):
        for _ in range(3):
            env.runtime.breaker.failure(label, 5.0, 3, 30)
    key = env.create_key()
    status, _, body = env.chat(key, model="smart")
    assert status == 502 and body["error"]["code"] == "upstream_unavailable"
    assert env.oa.calls == env.an.calls == 0


# ---------------------------------------------------------------------------------------------------------
# Wire formats


def test_openai_wire_format_and_passthrough(env: GatewayEnv) -> None:
    key = env.create_key()
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    status, _, _ = env.chat(
        key,
        model="smart",
        temperature=0.5,
        top_p=0.9,
        max_tokens=33,
        stop="END",
        user="u-1",
        seed=42,
        response_format={"type": "json_object"},
        tools=tools,
        tool_choice="auto",
        n=1,
    )
    assert status == 200
    req = env.oa.requests[-1]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    body = req["body"]
    assert body["model"] == "gpt-4o"
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["max_tokens"] == 33
    assert body["stop"] == ["END"] and body["user"] == "u-1" and body["seed"] == 42
    assert body["response_format"] == {"type": "json_object"}
    assert body["tools"] == tools and body["tool_choice"] == "auto"
    assert "n" not in body and "stream" not in body


def test_openai_tool_calls_are_returned(env: GatewayEnv) -> None:
    key = env.create_key()
    env.oa.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    status, _, body = env.chat(key, model="fast", tools=tools)
    assert status == 200
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }


def test_azure_style_endpoint(env: GatewayEnv) -> None:
    azure = FakeProvider("openai", "azure", api_key="azure-key-123", auth_header="api-key")
    try:
        secret = boto3.client("secretsmanager").create_secret(Name="az", SecretString="azure-key-123")["ARN"]

        def mutate(c: dict[str, Any]) -> None:
            c["providers"]["az"] = {
                "type": "openai",
                "base_url": f"{azure.url}/openai/deployments/{{model}}",
                "secret_arn": secret,
                "auth_header": "api-key",
                "auth_scheme": "",
                "query": {"api-version": "2024-10-21"},
                "headers": {"x-ms-client": "lm-gateway"},
            }
            c["models"]["az"] = {"targets": [{"provider": "az", "model": "gpt4o-prod"}]}

        env.reconfigure(mutate)
        key = env.create_key()
        status, _, body = env.chat(key, model="az")
        assert status == 200, body
        req = azure.requests[-1]
        assert req["path"] == "/openai/deployments/gpt4o-prod/chat/completions"
        assert req["query"] == {"api-version": "2024-10-21"}
        assert req["headers"]["api-key"] == "azure-key-123"
        assert "authorization" not in req["headers"]
        assert req["headers"]["x-ms-client"] == "lm-gateway"
    finally:
        azure.close()


def test_anthropic_wire_format(env: GatewayEnv) -> None:
    key = env.create_key()
    env.an.prompt_tokens, env.an.completion_tokens = 21, 9
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "what is "}, {"type": "text", "text": "2+2?"}]},
    ]
    status, _, body = env.call(
        "POST",
        "/v1/chat/completions",
        {"model": "claude", "messages": messages, "stop": ["\n\n"], "temperature": 0.2},
        key=key,
    )
    assert status == 200, body
    req = env.an.requests[-1]
    assert req["path"] == "/v1/messages"
    assert req["headers"]["x-api-key"] == ANTHROPIC_KEY
    assert req["headers"]["anthropic-version"] == "2023-06-01"
    sent = req["body"]
    assert sent["model"] == "claude-haiku"
    assert sent["system"] == "Be brief."
    assert sent["max_tokens"] == 1024
    assert sent["stop_sequences"] == ["\n\n"] and sent["temperature"] == 0.2
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
        {"role": "user", "content": [{"type": "text", "text": "what is 2+2?"}]},
    ]
    assert body["choices"][0]["message"]["content"] == "an: what is 2+2?"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30,
                             "prompt_tokens_details": {"cached_tokens": 0}}


def test_anthropic_tools_round_trip(env: GatewayEnv) -> None:
    key = env.create_key()
    env.an.tool_call = {"name": "lookup", "input": {"q": "x"}}
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "d", "parameters": {"type": "object"}},
        }
    ]
    messages = [
        {"role": "user", "content": "find x"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "y"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "result y"},
    ]
    status, _, body = env.call(
        "POST",
        "/v1/chat/completions",
        {"model": "claude", "messages": messages, "tools": tools, "tool_choice": "required"},
        key=key,
    )
    assert status == 200, body
    sent = env.an.requests[-1]["body"]
    assert sent["tools"] == [{"name": "lookup", "description": "d", "input_schema": {"type": "object"}}]
    assert sent["tool_choice"] == {"type": "any"}
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "y"}}],
    }
    assert sent["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "result y"}],
    }
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    ]


def test_bad_provider_credentials_fall_back_and_are_never_logged(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env.oa.api_key = "sk-some-other-key-0000000000"
    key = env.create_key()
    status, _, _ = env.chat(key, model="smart")
    assert status == 200
    out = capsys.readouterr().out
    assert "oa/gpt-4o:auth(401)" in out
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, key):
        assert secret not in out


def test_secrets_are_cached_per_container(env: GatewayEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_manifest.runtime.gateway.credentials import SecretCache

    fetched: list[str] = []
    original = SecretCache._fetch

    def counting(arn: str) -> str:
        fetched.append(arn)
        return original(arn)

    monkeypatch.setattr(SecretCache, "_fetch", staticmethod(counting))
    key = env.create_key()
    for _ in range(3):
        assert env.chat(key, model="fast")[0] == 200
    assert fetched == [env.oa_secret]
    env.runtime.secrets.ttl_s = 0  # expired entries are fetched again
    assert env.chat(key, model="fast")[0] == 200
    assert env.chat(key, model="fast")[0] == 200
    assert len(fetched) == 3


def test_missing_secret_is_an_auth_failure_and_falls_back(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env.reconfigure(
        lambda c: c["providers"]["oa"].update(
            secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:nope"
        )
    )
    key = env.create_key()
    status, _, _ = env.chat(key, model="smart")
    assert status == 200
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o:auth", "an/claude-sonnet:ok"]


# ---------------------------------------------------------------------------------------------------------
# Bedrock Converse through botocore's Stubber


@pytest.fixture
def bedrock(env: GatewayEnv) -> Iterator[Stubber]:
    client = cached_client("bedrock-runtime")
    with Stubber(client) as stub:
        aws.set_client("bedrock-runtime", client)
        yield stub


def test_bedrock_converse(env: GatewayEnv, bedrock: Stubber) -> None:
    bedrock.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "hi from bedrock"}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16},
            "metrics": {"latencyMs": 5},
        },
        {
            "modelId": "anthropic.claude-3-haiku",
            "messages": [{"role": "user", "content": [{"text": "hello"}]}],
            "system": [{"text": "sys"}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.1, "topP": 0.5, "stopSequences": ["x"]},
        },
    )
    key = env.create_key()
    status, headers, body = env.call(
        "POST",
        "/v1/chat/completions",
        {
            "model": "bedrock",
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}],
            "max_tokens": 64,
            "temperature": 0.1,
            "top_p": 0.5,
            "stop": "x",
        },
        key=key,
    )
    assert status == 200, body
    assert headers["x-lm-provider"] == "br"
    assert body["choices"][0]["message"]["content"] == "hi from bedrock"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16,
                             "prompt_tokens_details": {"cached_tokens": 0}}
    bedrock.assert_no_pending_responses()


def test_bedrock_throttling_falls_back(
    env: GatewayEnv, bedrock: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    env.reconfigure(
        lambda c: c["models"]["bedrock"]["targets"].append({"provider": "oa", "model": "gpt-4o-mini"})
    )
    bedrock.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
    key = env.create_key()
    status, _, body = env.chat(key, model="bedrock")
    assert status == 200 and body["choices"][0]["message"]["content"] == "oa: hello"
    assert last_audit(capsys)["fallback_path"] == [
        "anthropic.claude-3-haiku".join(["br/", ":rate_limited(429)"]),
        "oa/gpt-4o-mini:ok",
    ]


def test_bedrock_validation_error_is_a_400(env: GatewayEnv, bedrock: Stubber) -> None:
    bedrock.add_client_error(
        "converse",
        service_error_code="ValidationException",
        service_message="bad input",
        http_status_code=400,
    )
    key = env.create_key()
    status, _, body = env.chat(key, model="bedrock")
    assert status == 400 and body["error"]["code"] == "provider_rejected_request"
    assert "bad input" in body["error"]["message"]


def test_bedrock_tool_config(env: GatewayEnv, bedrock: Stubber) -> None:
    bedrock.add_response(
        "converse",
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [{"toolUse": {"toolUseId": "tu1", "name": "lookup", "input": {"q": 1}}}],
                }
            },
            "stopReason": "tool_use",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1},
        },
        {
            "modelId": ANY,
            "messages": ANY,
            "inferenceConfig": ANY,
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "lookup",
                            "description": "lookup",
                            "inputSchema": {"json": {"type": "object"}},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": "lookup"}},
            },
        },
    )
    key = env.create_key()
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    status, _, body = env.chat(
        key, model="bedrock", tools=tools, tool_choice={"type": "function", "function": {"name": "lookup"}}
    )
    assert status == 200, body
    assert body["choices"][0]["message"]["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"q": 1}',
    }
    assert body["choices"][0]["finish_reason"] == "tool_calls"


# ---------------------------------------------------------------------------------------------------------
# Per-attempt timeout when none is configured: a share of the remaining time


def test_attempt_timeout_formula() -> None:
    assert router.attempt_timeout(5.0, 20_000, 3) == 5.0  # configured: used as is...
    assert router.attempt_timeout(30.0, 20_000, 1) == 20.0  # ...capped at the budget
    assert router.attempt_timeout(None, 24_750, 1) == 24.75  # a lone target may use the whole budget
    assert router.attempt_timeout(None, 24_750, 2) == 12.375  # the first of two leaves half to its fallback
    assert router.attempt_timeout(None, 150, 3) == router.MIN_ATTEMPT_MS / 1000  # never below the minimum


def three_targets(**routing: Any) -> Any:
    return load_config(
        {
            "providers": {p: {"type": "openai", "base_url": f"http://{p}"} for p in ("a", "b", "c")},
            "models": {"m": {"targets": [{"provider": p, "model": "x"} for p in ("a", "b", "c")]}},
            "routing": {"retries": 0, **routing},
        }
    )


def test_default_timeouts_share_the_remaining_time_among_the_targets_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lambda_manifest.runtime.gateway.credentials import SecretCache
    from lambda_manifest.runtime.gateway.providers import ChatRequest, ProviderError

    cfg = three_targets()
    assert cfg.providers["a"].timeout_s is None
    remaining = [10_250.0]  # ms; the deadline margin is 250 ms
    seen: list[tuple[str, float]] = []

    def hang(provider: Any, target: Any, req: Any, deadline: float, secrets: Any) -> Any:
        timeout = deadline - time.monotonic()
        seen.append((target.label, round(timeout, 2)))
        remaining[0] -= timeout * 1000
        raise ProviderError("timeout", "slow")

    monkeypatch.setattr(router, "call_target", hang)

    def run(breaker: router.CircuitBreaker) -> router.RoutingFailed:
        with pytest.raises(router.RoutingFailed) as failed:
            router.route(cfg, cfg.models["m"], ChatRequest([{"role": "user", "content": "hi"}], {}),
                         lambda: remaining[0], SecretCache(300), breaker, random.Random(1))  # fmt: skip
        return failed.value

    # Every target hangs: each gets a third of the 10 s budget, and the last one ends at the margin.
    assert run(router.CircuitBreaker()).status == 504
    assert seen == [("a/x", 3.33), ("b/x", 3.33), ("c/x", 3.33)]
    # A target whose circuit is open is skipped, so it takes no share.
    seen.clear()
    remaining[0] = 10_250.0
    breaker = router.CircuitBreaker()
    breaker.failure("c/x", router.monotonic(), 1, 30)
    failed = run(breaker)
    assert seen == [("a/x", 5.0), ("b/x", 5.0)]
    assert [a.label() for a in failed.attempts] == ["a/x:timeout", "b/x:timeout", "c/x:circuit_open"]


def test_without_timeouts_a_hung_primary_leaves_time_for_the_fallback(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env.reconfigure(lambda c: [p.pop("timeout_s", None) for p in c["providers"].values()])  # type: ignore[func-returns-value]
    key = env.create_key()
    assert env.chat(key, model="smart")[0] == 200  # warm the clients: the timing below is the routing
    env.oa.push("timeout")
    # ~2,000 ms left - 250 ms margin, two targets: the primary gets ~875 ms and the fallback the rest.
    status, _, body = env.chat(key, model="smart", remaining_ms=2_000)
    assert status == 200 and body["choices"][0]["message"]["content"] == "an: hello"
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o:timeout", "an/claude-sonnet:ok"]


# ---------------------------------------------------------------------------------------------------------
# Total deadlines and re-sending


def test_a_slow_drip_answer_fails_over_on_time(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """A provider that sends a byte every 100 ms never leaves a socket idle: only a total deadline stops it."""
    env.reconfigure(lambda c: c["models"]["smart"]["targets"][0].update(timeout_s=0.5))
    key = env.create_key()
    env.oa.push(("drip", 0.1))
    status, _, body = env.chat(key, model="smart")
    assert status == 200 and body["choices"][0]["message"]["content"] == "an: hello"
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o:timeout", "an/claude-sonnet:ok"]


def test_a_slow_drip_never_runs_past_the_invocation(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: c["providers"]["oa"].pop("timeout_s"))
    key = env.create_key()
    env.oa.push(("drip", 0.05))
    status, _, _ = env.chat(key, remaining_ms=900)  # 900 ms left - 250 ms margin
    assert status == 504  # the drip would go on for ever: only the invocation's deadline ends it


class OneShotServer:
    """HTTP/1.1 that answers one request per connection and then closes it without saying so (as a provider
    closing an idle keep-alive connection does), counting connections and requests."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.connections = 0
        self.requests = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(next(v for k, v in (h.split(b": ", 1) for h in head.split(b"\r\n")[1:])
                              if k.lower() == b"content-length"))  # fmt: skip
            while len(rest) < length:
                rest += conn.recv(65536)
            self.requests += 1
            body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "ok"},
                                            "finish_reason": "stop"}]}).encode()  # fmt: skip
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                         % len(body) + body)  # fmt: skip
            time.sleep(0.05)
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_a_kept_alive_connection_the_provider_closed_is_never_used(env: GatewayEnv) -> None:
    server = OneShotServer()
    try:
        env.reconfigure(lambda c: c["providers"].update(oa={"type": "openai", "base_url": server.url}))
        key = env.create_key()
        assert env.chat(key)[0] == 200
        time.sleep(0.2)  # the provider has closed the idle connection by now
        assert env.chat(key)[0] == 200
        assert (server.requests, server.connections) == (2, 2)  # checked before reuse: nothing sent twice
    finally:
        server.close()


def test_a_reset_after_sending_is_not_sent_again_even_on_a_single_target(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    key = env.create_key()
    assert env.chat(key)[0] == 200  # leaves a kept-alive connection in the pool
    env.oa.push("reset")
    status, _, body = env.chat(key)
    assert status == 502 and body["error"]["code"] == "upstream_error"
    assert last_audit(capsys)["fallback_path"] == ["oa/gpt-4o-mini:reset"]
    assert env.oa.calls == 2  # one per request


def test_chunked_answers_split_anywhere_are_read_whole() -> None:
    from lambda_manifest.runtime.gateway import upstream

    payload = json.dumps({"text": "x" * 3000}).encode()
    raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    for i in range(0, len(payload), 700):
        piece = payload[i : i + 700]
        raw += b"%x\r\n" % len(piece) + piece + b"\r\n"
    raw += b"0\r\nx-trailer: 1\r\n\r\n"
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(65536)
        for i in range(0, len(raw), 13):  # 13-byte writes: sizes, data and CRLFs split across reads
            conn.sendall(raw[i : i + 13])
            time.sleep(0.0005)
        time.sleep(0.2)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    resp = upstream.request("POST", f"http://127.0.0.1:{srv.getsockname()[1]}/x", {}, b"{}",
                            time.monotonic() + 5, pool=upstream.Pool())  # fmt: skip
    assert resp.status == 200
    assert resp.read(time.monotonic() + 5) == payload
    srv.close()
