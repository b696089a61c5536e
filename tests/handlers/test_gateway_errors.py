"""Every error status and body the gateway returns, and a property test throwing malformed events at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_fakes import FakeContext, GatewayEnv, http_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_manifest.runtime.gateway import runtime
from lambda_manifest.runtime.gateway.handler import main

ALLOWED_STATUSES = {200, 400, 401, 403, 404, 405, 413, 429}


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv(lambda c: c.update(limits={"max_body_bytes": 4096})) as e:
        yield e


def assert_error(
    resp: tuple[int, dict[str, str], Any], status: int, code: str, type_: str | None = None
) -> dict[str, Any]:
    got_status, headers, body = resp
    assert got_status == status, body
    assert headers["content-type"] == "application/json"
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code", "param"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if type_ is not None:
        assert body["error"]["type"] == type_
    return dict(body["error"])


def chat_body(**kw: Any) -> dict[str, Any]:
    return {"model": "fast", "messages": [{"role": "user", "content": "hi"}], **kw}


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (chat_body(stream="yes"), "invalid_parameter", "stream"),
        (chat_body(n=2), "unsupported_parameter", "n"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "missing_parameter", "model"),
        (chat_body(messages=[]), "invalid_parameter", "messages"),
        (chat_body(messages=[{"role": "robot", "content": "x"}]), "invalid_parameter", "messages[0].role"),
        (chat_body(messages=[{"role": "user"}]), "invalid_parameter", "messages[0].content"),
        (
            chat_body(messages=[{"role": "tool", "content": "x"}]),
            "invalid_parameter",
            "messages[0].tool_call_id",
        ),
        (chat_body(temperature=3), "invalid_parameter", "temperature"),
        (chat_body(top_p=-1), "invalid_parameter", "top_p"),
        (chat_body(max_tokens=0), "invalid_parameter", "max_tokens"),
        (chat_body(stop=["a", "b", "c", "d", "e"]), "invalid_parameter", "stop"),
        (chat_body(response_format={"type": "xml"}), "invalid_parameter", "response_format"),
        (chat_body(tools=[{"type": "retrieval"}]), "invalid_parameter", "tools"),
        (chat_body(tool_choice="sometimes"), "invalid_parameter", "tool_choice"),
    ],
)
def test_400_invalid_chat_requests(env: GatewayEnv, body: dict[str, Any], code: str, param: str) -> None:
    key = env.create_key()
    err = assert_error(
        env.call("POST", "/v1/chat/completions", body, key=key), 400, code, "invalid_request_error"
    )
    assert err["param"] == param
    assert env.oa.calls == 0


def test_streaming_on_a_gateway_deployed_without_it_names_the_fix(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: c.pop("streaming"))
    key = env.create_key()
    err = assert_error(
        env.call("POST", "/v1/chat/completions", chat_body(stream=True), key=key),
        400,
        "streaming_not_supported",
    )
    assert "deploy it with AiGatewayFunction(streaming=True)" in err["message"]


@pytest.mark.parametrize(
    "extra",
    [{"stream": "yes"}, {"stream_options": {"include_usage": True}},
     {"stream": True, "stream_options": {"include_usage": "yes"}}, {"stream": True, "stream_options": {"x": 1}}],
)
def test_stream_parameters_are_validated(env: GatewayEnv, extra: dict[str, Any]) -> None:
    key = env.create_key()
    err = assert_error(env.call("POST", "/v1/chat/completions", chat_body(**extra), key=key), 400, "invalid_parameter")
    assert err["param"] in ("stream", "stream_options")


def test_400_malformed_bodies(env: GatewayEnv) -> None:
    key = env.create_key()
    for raw in ("{not json", "[1, 2]", "", '"text"'):
        assert_error(env.call("POST", "/v1/chat/completions", key=key, raw_body=raw), 400, "invalid_json")
    assert_error(env.call("POST", "/v1/chat/completions", key=key, raw_body="\xff\xfe"), 400, "invalid_json")


def test_401s(env: GatewayEnv) -> None:
    assert_error(
        env.call("POST", "/v1/chat/completions", chat_body()), 401, "missing_api_key", "authentication_error"
    )
    bad_scheme = env.call("POST", "/v1/chat/completions", chat_body(), headers={"authorization": "Basic abc"})
    assert_error(bad_scheme, 401, "invalid_api_key")
    assert_error(env.chat("lmg-unknown-key-000000000000000"), 401, "invalid_api_key")
    # Authentication is reported before anything else is wrong with the request.
    assert_error(
        env.call("POST", "/v1/chat/completions", key="nope", raw_body="{broken"), 401, "invalid_api_key"
    )
    assert_error(env.call("GET", "/v1/usage", key="nope"), 401, "invalid_api_key")


@pytest.mark.parametrize(
    "raw",
    [
        '{"model": "fast", "messages": [{"role": "user", "content": "\\ud800"}]}',  # a lone surrogate escape
        '{"model": "fast", "messages": [{"role": "user", "content": "\ud800"}]}',  # ... or the raw code point
        "[" * 50_000 + "]" * 50_000,
        '{"model": "fast", "messages": [{"role": "user", "content": "hi"}], "x": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"a": ' * 200 + "1" + "}" * 200,
    ],
    ids=["surrogate-escape", "surrogate-raw", "deep-array", "deep-field", "deep-object"],
)
def test_hostile_bodies_are_401_without_a_key_and_400_with_one(env: GatewayEnv, raw: str) -> None:
    env.reconfigure(lambda c: c.update(limits={"max_body_bytes": 1 << 20}))
    assert_error(env.call("POST", "/v1/chat/completions", key="lmg-bogus-000000000000000", raw_body=raw), 401,
                 "invalid_api_key")  # fmt: skip
    key = env.create_key()
    err = assert_error(env.call("POST", "/v1/chat/completions", key=key, raw_body=raw), 400, "invalid_json")
    assert "surrogate" in err["message"] or "nests deeper than 64" in err["message"]
    assert env.oa.calls == 0


def test_keys_that_cannot_be_keys_are_401s(env: GatewayEnv) -> None:
    for token in ("\ud800abc", "lmg-é", "x" * 600):
        assert_error(env.call("GET", "/v1/models", headers={"authorization": f"Bearer {token}"}), 401,
                     "invalid_api_key")  # fmt: skip


def test_403_404_405(env: GatewayEnv) -> None:
    key = env.create_key(models=("fast",))
    assert_error(env.chat(key, model="smart"), 403, "model_not_allowed", "permission_error")
    err = assert_error(env.chat(key, model="gpt-9"), 404, "model_not_found", "invalid_request_error")
    assert err["param"] == "model"
    assert_error(env.call("GET", "/v1/nothing", key=key), 404, "unknown_route")
    assert_error(env.call("POST", "/v1/prompts/zzz", {"variables": {}}, key=key), 404, "prompt_not_found")
    assert_error(env.call("GET", "/v1/conversations/none", key=key), 404, "conversation_not_found")
    status, headers, _ = env.call("GET", "/v1/chat/completions", key=key)
    assert status == 405 and headers["allow"] == "POST"


def test_413(env: GatewayEnv) -> None:
    key = env.create_key()
    big = chat_body(messages=[{"role": "user", "content": "x" * 5000}])
    assert_error(env.call("POST", "/v1/chat/completions", big, key=key), 413, "request_too_large")
    env.reconfigure(lambda c: c.update(limits={"max_body_bytes": 100_000}))
    huge_prompt = chat_body(
        messages=[{"role": "user", "content": "x" * 20_000}]
    )  # > 4096-token window of "fast"
    # Over the context window: a 400 with code context_length_exceeded, as OpenAI answers it (the SDK's
    # BadRequestError); an oversized body stays a 413.
    assert_error(
        env.call("POST", "/v1/chat/completions", huge_prompt, key=key), 400, "context_length_exceeded"
    )
    env.oa.push(413)
    assert_error(env.chat(key), 413, "provider_rejected_request")


def test_429_has_retry_after(env: GatewayEnv) -> None:
    key = env.create_key(rpm=1)
    assert env.chat(key)[0] == 200
    status, headers, body = env.chat(key)
    assert_error((status, headers, body), 429, "rate_limit_exceeded", "rate_limit_error")
    assert int(headers["retry-after"]) >= 1


def test_upstream_429_without_a_fallback_is_a_429_with_retry_after(env: GatewayEnv) -> None:
    key = env.create_key()
    env.oa.push("429:17")
    status, headers, body = env.chat(key)
    assert_error((status, headers, body), 429, "upstream_rate_limited", "rate_limit_error")
    assert headers["retry-after"] == "17" and headers["x-should-retry"] == "true"
    # Every provider of the alias limiting: the shortest wait they asked for.
    env.oa.push("429:30")
    env.an.push("429:4")
    status, headers, _ = env.chat(key, model="smart")
    assert status == 429 and headers["retry-after"] == "4"
    # A longer wait than the SDKs will sleep: they should not retry.
    env.oa.push("429:3600")
    status, headers, _ = env.chat(key)
    assert status == 429 and headers["x-should-retry"] == "false"


def test_502_and_504(env: GatewayEnv) -> None:
    key = env.create_key()
    env.oa.push(500, 500)
    status, headers, body = env.chat(key)
    assert_error((status, headers, body), 502, "upstream_error", "api_error")
    assert headers["x-should-retry"] == "false"  # the gateway has retried and fallen back already
    env.reconfigure(lambda c: c["providers"]["oa"].update(timeout_s=0.2))
    env.oa.push("timeout")
    assert_error(env.chat(key), 504, "upstream_timeout", "api_error")


def test_misconfiguration_is_a_json_500() -> None:
    try:
        runtime.configure({"providers": {}, "models": {}}, "t")
        resp = main(http_event("GET", "/v1/models", key="k"), FakeContext())
        assert resp["statusCode"] == 500
        body = json.loads(resp["body"])
        assert body["error"]["code"] == "gateway_misconfigured"
        assert "providers: at least one provider is required" in body["error"]["message"]
    finally:
        runtime.reset()


def test_stage_prefix_and_base64_bodies(env: GatewayEnv) -> None:
    key = env.create_key()
    status, _, body = env.call(
        "POST", "/prod/v1/chat/completions", raw_body=json.dumps(chat_body()), key=key, base64_body=True
    )
    assert status == 200 and body["choices"][0]["message"]["content"] == "oa: hi"
    event = http_event("POST", "/v1/chat/completions", key=key)
    event.update(body="%%%", isBase64Encoded=True)
    resp = main(event, FakeContext())
    assert resp["statusCode"] == 400 and json.loads(resp["body"])["error"]["code"] == "malformed_event"


def test_malformed_events() -> None:
    with GatewayEnv():
        for event in (
            None,
            [],
            "x",
            {},
            {"rawPath": "/v1/models"},
            {"requestContext": {"http": {"method": "GET"}}},
        ):
            resp = main(event, None)
            assert resp["statusCode"] == 400
            assert json.loads(resp["body"])["error"]["code"] == "malformed_event"
        resp = main({**http_event("GET", "/v1/models"), "headers": ["x"]}, None)
        assert resp["statusCode"] == 400


# ---------------------------------------------------------------------------------------------------------
# Property test: whatever arrives, the answer is a JSON response, never an exception nor a 500.

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
good_messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]), "content": st.text(max_size=30)}),
    min_size=1,
    max_size=3,
)
messages = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(["user", "system", "assistant", "tool", "developer", "x"]) | json_values,
            "content": st.text(max_size=30) | json_values,
            "tool_calls": json_values,
            "tool_call_id": st.text(max_size=5) | json_values,
            "name": json_values,
        },
    ),
    max_size=3,
)
maybe_bad = st.none() | json_values
chat_like = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["fast", "smart", "claude", "nope"]) | json_values,
        "messages": good_messages | good_messages | messages | json_values,
    },
    optional={
        "temperature": st.sampled_from([0, 0.5, 2]) | maybe_bad,
        "top_p": maybe_bad,
        "max_tokens": st.integers(1, 100) | maybe_bad,
        "stop": maybe_bad,
        "n": st.just(1) | maybe_bad,
        "stream": st.just(False) | maybe_bad,
        "tools": maybe_bad,
        "tool_choice": maybe_bad,
        "response_format": st.just({"type": "json_object"}) | maybe_bad,
        "user": st.text(max_size=5) | maybe_bad,
        "conversation_id": st.sampled_from(["c1", "c2"]) | maybe_bad,
        "variables": st.fixed_dictionaries({"name": st.text(max_size=5)}) | maybe_bad,
        "seed": maybe_bad,
    },
)
ROUTES = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/v1/usage"),
    ("POST", "/v1/prompts/greet"),
    ("POST", "/v1/prompts/greet/versions/1"),
    ("POST", "/v1/prompts/greet/versions/x"),
    ("GET", "/v1/conversations/c1"),
    ("DELETE", "/v1/conversations/c2"),
    ("GET", "/v1/conversations/%2F.."),
]
bodies = (
    chat_like.map(json.dumps)
    | chat_like.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=60)
    | st.binary(max_size=40).map(lambda b: b.decode("latin-1"))
)


@st.composite
def events(draw: st.DrawFn, key: str) -> Any:
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return draw(json_values)
    method, path = draw(st.sampled_from(ROUTES))
    if shape == 1:
        method = draw(st.sampled_from(["GET", "POST", "DELETE", "PUT", "post"]))
    if shape == 2:
        path = draw(st.text(max_size=30))
    event = http_event(
        method,
        path,
        raw_body=draw(st.none() | bodies),
        key=draw(st.sampled_from([key, key, key, "bad"])),
        headers=draw(
            st.dictionaries(
                st.sampled_from(["x-lm-conversation-id", "x-lm-cache", "authorization"]),
                st.text(max_size=10),
                max_size=1,
            )
            | st.just({})
        ),
        query=draw(
            st.none() | st.dictionaries(st.sampled_from(["date", "x"]), st.text(max_size=12), max_size=2)
        ),
    )
    if shape == 3:
        for field in draw(
            st.lists(
                st.sampled_from(["headers", "requestContext", "rawPath", "body", "isBase64Encoded"]),
                max_size=2,
            )
        ):
            event[field] = draw(json_values)
    return event


def test_malformed_input_never_escapes_as_an_exception() -> None:
    with GatewayEnv() as env:
        key = env.create_key()

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(event=events(key))
        def check(event: Any) -> None:
            resp = main(event, FakeContext())
            if not isinstance(resp, dict):  # a stream ("stream": true): a 200 of events, or a JSON error
                data = b"".join(resp.body)
                assert resp.status_code in ALLOWED_STATUSES, data
                assert data.endswith(b"data: [DONE]\n\n") or json.loads(data)["error"]
                return
            assert isinstance(resp["statusCode"], int)
            assert resp["statusCode"] in ALLOWED_STATUSES, resp
            body = json.loads(resp["body"])
            assert resp["headers"]["content-type"] == "application/json"
            if resp["statusCode"] >= 400:
                assert set(body["error"]) == {"message", "type", "code", "param"}

        check()
