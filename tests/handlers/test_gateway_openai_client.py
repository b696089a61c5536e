"""The official ``openai`` client library against the gateway handler, through a loopback HTTP adapter that
turns each request into an API Gateway payload-2.0 event."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from gateway_fakes import GatewayEnv, serve_handler


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv() as e:
        yield e


def test_chat_completion_with_usage(env: GatewayEnv) -> None:
    key = env.create_key(models=("fast", "claude"))
    with serve_handler() as base_url:
        client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=10)
        resp = client.chat.completions.create(
            model="fast",
            messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"}],
            temperature=0,
            max_tokens=20,
        )
        assert resp.object == "chat.completion" and resp.model == "fast"
        assert resp.choices[0].message.content == "oa: hello"
        assert resp.choices[0].finish_reason == "stop"
        assert resp.usage is not None
        assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (
            11,
            7,
            18,
        )

        raw = client.chat.completions.with_raw_response.create(
            model="fast",
            messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"}],
            temperature=0,
            max_tokens=20,
        )
        assert raw.headers["x-lm-cache"] == "hit"
        assert raw.parse().choices[0].message.content == "oa: hello"

        anthropic_backed = client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "yo"}]
        )
        assert anthropic_backed.choices[0].message.content == "an: yo"

        assert sorted(m.id for m in client.models.list()) == ["claude", "fast"]


def test_errors_map_to_the_client_exceptions(env: GatewayEnv) -> None:
    key = env.create_key(models=("fast",), rpm=1)
    with serve_handler() as base_url:
        bad = openai.OpenAI(api_key="lmg-wrong-0000000000000000000", base_url=base_url, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as auth:
            bad.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
        assert auth.value.status_code == 401 and auth.value.code == "invalid_api_key"

        client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0)
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
        client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
        assert limited.value.status_code == 429
        assert int(limited.value.response.headers["retry-after"]) >= 1


def test_streaming_on_a_gateway_without_it_is_a_clear_bad_request(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: c.pop("streaming"))
    key = env.create_key()
    with serve_handler() as base_url:
        client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0)
        with pytest.raises(openai.BadRequestError) as exc:
            client.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "x"}], stream=True
            )
        assert "AiGatewayFunction(streaming=True)" in str(exc.value)


def test_behind_an_api_authorizer_the_key_travels_in_x_api_key(env: GatewayEnv) -> None:
    # What the construct renders when an API authorizer reads Authorization.
    env.reconfigure(lambda c: c.update(auth={"key_header": "x-api-key"}))
    key = env.create_key(models=("fast",))
    with serve_handler() as base_url:
        # api_key is the identity provider's token for the API authorizer (sent as Bearer); the virtual key
        # goes in x-api-key.
        client = openai.OpenAI(api_key="eyJhbGciOiJSUzI1NiJ9.e30.c2ln", base_url=base_url, max_retries=0,
                               default_headers={"x-api-key": key})  # fmt: skip
        resp = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hello"}])
        assert resp.choices[0].message.content == "oa: hello"
        bearer_only = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as missing:
            bearer_only.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
        assert missing.value.code == "missing_api_key"


def test_the_sdks_default_retries_do_not_multiply_upstream_calls(env: GatewayEnv) -> None:
    """One SDK call with its default retries (2) against a failing provider: the gateway retries once itself
    and answers 502 with x-should-retry: false, so the provider sees 2 calls, not 3 x 2."""
    key = env.create_key()
    env.oa.default = 500
    with serve_handler() as base_url:
        client = openai.OpenAI(api_key=key, base_url=base_url, timeout=10)  # default max_retries
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
    assert failed.value.status_code == 502
    assert env.oa.calls == 2


def test_an_upstream_rate_limit_reaches_the_sdk_as_a_retryable_429(env: GatewayEnv) -> None:
    key = env.create_key()
    env.oa.push("429:1")  # then the provider recovers
    with serve_handler() as base_url:
        client = openai.OpenAI(api_key=key, base_url=base_url, timeout=10, max_retries=1)
        resp = client.chat.completions.with_raw_response.create(
            model="fast", messages=[{"role": "user", "content": "x"}])
    assert resp.parse().choices[0].message.content == "oa: x"
    assert env.oa.calls == 2  # the SDK waited the provider's Retry-After and retried once
