"""Prompt endpoints, conversation context, token/cost accounting, usage records, EMF metrics and the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from gateway_fakes import OPENAI_KEY, GatewayEnv, log_lines

from lambda_manifest.runtime.gateway import accounting
from lambda_manifest.runtime.gateway.config import ConfigError, Price, load_config
from lambda_manifest.runtime.gateway.schema import validate


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv() as e:
        yield e


def post_prompt(env: GatewayEnv, key: str | None, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
    return env.call("POST", path, body, key=key)


# ---------------------------------------------------------------------------------------------------------
# Prompt templates


def test_prompt_latest_version_renders_and_applies_params(env: GatewayEnv) -> None:
    key = env.create_key()
    status, headers, body = post_prompt(
        env, key, "/v1/prompts/greet", {"variables": {"name": "Bob", "lang": "fr", "count": 2}}
    )
    assert status == 200, body
    assert headers["x-lm-prompt"] == "greet@2"
    sent = env.oa.requests[-1]["body"]
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse. Literal {braces}."},
        {"role": "user", "content": "Greet Bob in fr, 2 times"},
    ]
    assert sent["temperature"] == 0 and sent["max_tokens"] == 50
    assert body["model"] == "fast"


def test_prompt_specific_version_and_overrides(env: GatewayEnv) -> None:
    key = env.create_key()
    status, headers, _ = post_prompt(
        env,
        key,
        "/v1/prompts/greet/versions/1",
        {"variables": {"name": "Ann"}, "max_tokens": 20, "user": "u9"},
    )
    assert status == 200
    assert headers["x-lm-prompt"] == "greet@1"
    sent = env.oa.requests[-1]["body"]
    assert sent["messages"] == [{"role": "user", "content": "Say hi to Ann"}]
    assert sent["max_tokens"] == 20 and sent["user"] == "u9"


def test_prompt_missing_variables_are_named(env: GatewayEnv) -> None:
    key = env.create_key()
    status, _, body = post_prompt(env, key, "/v1/prompts/greet", {"variables": {"count": 2}})
    assert status == 400
    assert body["error"] == {
        "message": "missing variable(s): name, lang",
        "type": "invalid_request_error",
        "code": "missing_variables",
        "param": "variables",
    }
    status, _, body = post_prompt(env, key, "/v1/prompts/greet/versions/1", {})
    assert status == 400 and body["error"]["message"] == "missing variable(s): name"
    assert env.oa.calls == 0


def test_prompt_invalid_variables_are_named(env: GatewayEnv) -> None:
    key = env.create_key()
    status, _, body = post_prompt(
        env, key, "/v1/prompts/greet", {"variables": {"name": "B0b!", "lang": "de", "count": 9}}
    )
    assert status == 400 and body["error"]["code"] == "invalid_variables"
    msg = body["error"]["message"]
    assert "variables.name: does not match pattern" in msg
    assert "variables.lang: must be one of 'en', 'fr'" in msg
    assert "variables.count: must be <= 3" in msg
    status, _, body = post_prompt(
        env, key, "/v1/prompts/greet", {"variables": {"name": "Bo", "lang": "en", "count": "x"}}
    )
    assert status == 400 and "variables.count: expected integer" in body["error"]["message"]
    status, _, body = post_prompt(env, key, "/v1/prompts/greet", {"variables": ["Bob"]})
    assert status == 400 and body["error"]["code"] == "invalid_variables"


def test_prompt_unknown_name_version_or_field(env: GatewayEnv) -> None:
    key = env.create_key()
    status, _, body = post_prompt(env, key, "/v1/prompts/nope", {"variables": {}})
    assert status == 404 and body["error"]["code"] == "prompt_not_found"
    for v in ("3", "abc", "0"):
        status, _, body = post_prompt(env, key, f"/v1/prompts/greet/versions/{v}", {"variables": {}})
        assert status == 404 and body["error"]["code"] == "prompt_version_not_found"
    status, _, body = post_prompt(env, key, "/v1/prompts/greet", {"variables": {}, "model": "smart"})
    assert (
        status == 400 and body["error"]["code"] == "unknown_parameter" and body["error"]["param"] == "model"
    )


def test_prompt_requires_auth_first_and_model_permission(env: GatewayEnv) -> None:
    status, _, body = post_prompt(env, "lmg-not-a-key-0000000000000000", "/v1/prompts/nope", {})
    assert status == 401
    key = env.create_key(models=("smart",))
    status, _, body = post_prompt(env, key, "/v1/prompts/greet/versions/1", {"variables": {"name": "A"}})
    assert status == 403 and body["error"]["code"] == "model_not_allowed"


def test_schema_subset_validator() -> None:
    schema = {
        "type": "object",
        "required": ["a"],
        "additionalProperties": False,
        "properties": {
            "a": {"type": "array", "items": {"type": "number", "minimum": 0}},
            "b": {"type": ["string", "null"], "minLength": 2},
            "c": {"type": "boolean"},
        },
    }
    assert validate({"a": [1, 2.5], "b": None, "c": True}, schema, "v") == []
    assert validate({"a": [1, -1], "b": "x", "d": 1}, schema, "v") == [
        "v.a[1]: must be >= 0",
        "v.b: shorter than 2 characters",
        "v.d: is not allowed",
    ]
    assert validate({"a": "no"}, schema, "v") == ["v.a: expected array"]
    assert validate({"b": "xx"}, schema, "v") == ["v.a: is required"]
    assert validate(True, {"type": "integer"}, "v") == ["v: expected integer"]
    assert validate(3.0, {"type": "integer"}, "v") == []


def test_invalid_prompt_schema_is_a_config_error() -> None:
    base: dict[str, Any] = {
        "providers": {"p": {"type": "openai", "base_url": "http://x"}},
        "models": {"m": {"targets": [{"provider": "p", "model": "x"}]}},
    }
    with pytest.raises(ConfigError, match=r"prompts.t.versions.1.schema: .*unsupported keyword\(s\) oneOf"):
        load_config(
            {
                **base,
                "prompts": {"t": {"versions": {"1": {"model": "m", "user": "u", "schema": {"oneOf": []}}}}},
            }
        )
    with pytest.raises(ConfigError, match=r"prompts.t.versions.1.model: unknown model alias 'zz'"):
        load_config({**base, "prompts": {"t": {"versions": {"1": {"model": "zz", "user": "u"}}}}})


# ---------------------------------------------------------------------------------------------------------
# Conversation context


def test_conversation_history_is_prepended_and_appended(env: GatewayEnv) -> None:
    key = env.create_key()
    status, headers, _ = env.chat(key, content="hello", conversation_id="conv-1")
    assert status == 200 and headers["x-lm-conversation-id"] == "conv-1"
    status, _, _ = env.chat(key, content="again", headers={"x-lm-conversation-id": "conv-1"})
    assert status == 200
    assert env.oa.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "oa: hello"},
        {"role": "user", "content": "again"},
    ]
    status, _, body = env.call("GET", "/v1/conversations/conv-1", key=key)
    assert status == 200 and body["object"] == "conversation"
    assert [m["content"] for m in body["messages"]] == ["hello", "oa: hello", "again", "oa: again"]


def test_conversations_are_tenant_private_and_deletable(env: GatewayEnv) -> None:
    acme, globex = env.create_key(), env.create_key(tenant="globex")
    assert env.chat(acme, content="secret plan", conversation_id="c")[0] == 200
    assert env.call("GET", "/v1/conversations/c", key=globex)[0] == 404
    assert env.call("DELETE", "/v1/conversations/c", key=globex)[0] == 404
    assert env.chat(globex, content="hi", conversation_id="c")[0] == 200  # globex's own "c": no acme history
    assert env.oa.requests[-1]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    status, _, body = env.call("DELETE", "/v1/conversations/c", key=acme)
    assert status == 200 and body == {"id": "c", "object": "conversation.deleted", "deleted": True}
    status, _, body = env.call("GET", "/v1/conversations/c", key=acme)
    assert status == 404 and body["error"]["code"] == "conversation_not_found"
    assert env.call("GET", "/v1/conversations/c", key=globex)[0] == 200


def _tiny(c: dict[str, Any]) -> None:
    c["models"]["tiny"] = {"targets": [{"provider": "oa", "model": "gpt-4o-mini"}], "context_window": 300}


def test_context_is_trimmed_to_the_token_budget(env: GatewayEnv) -> None:
    env.reconfigure(_tiny)
    env.oa.reply = "ok"
    key = env.create_key()
    user = "u" * 196  # 4 + 49 = 53 tokens; each reply "ok" is 4 + 1 = 5; system "sys" is 5
    for i in range(4):
        body = {
            "model": "tiny",
            "max_tokens": 100,  # budget = 300 - 100 = 200
            "conversation_id": "t",
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": f"{i}{user[1:]}"}],
        }
        assert env.call("POST", "/v1/chat/completions", body, key=key)[0] == 200
    sent = env.oa.requests[-1]["body"]["messages"]
    # system (kept) + 2 most recent earlier turns (2 * 58) + the new turn (53) = 174 <= 200; 3 turns would be 232.
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["content"][0] for m in sent if m["role"] == "user"] == ["1", "2", "3"]
    assert accounting.estimate_prompt_tokens(sent) <= 200
    status, _, conv = env.call("GET", "/v1/conversations/t", key=key)
    assert status == 200 and conv["system"] == "sys"
    assert [m["content"][0] for m in conv["messages"] if m["role"] == "user"] == ["1", "2", "3"]


def test_new_turn_larger_than_the_budget_is_400(env: GatewayEnv) -> None:
    env.reconfigure(_tiny)
    key = env.create_key()
    body = {
        "model": "tiny",
        "max_tokens": 200,
        "conversation_id": "t",
        "messages": [{"role": "user", "content": "x" * 500}],
    }
    status, _, err = env.call("POST", "/v1/chat/completions", body, key=key)
    assert status == 400 and err["error"]["code"] == "context_length_exceeded"
    assert env.oa.calls == 0


def test_dropped_turns_are_summarized(env: GatewayEnv) -> None:
    def cfg(c: dict[str, Any]) -> None:
        _tiny(c)
        c["context"] = {"summarize_with": "claude", "summary_max_tokens": 40}

    env.reconfigure(cfg)
    env.oa.reply = "ok"
    env.an.reply = "They talked."
    key = env.create_key()
    user = "u" * 196
    for i in range(4):
        body = {
            "model": "tiny",
            "max_tokens": 100,
            "conversation_id": "s",
            "messages": [{"role": "user", "content": f"{i}{user[1:]}"}],
        }
        assert env.call("POST", "/v1/chat/completions", body, key=key)[0] == 200
    sent = env.oa.requests[-1]["body"]["messages"]
    assert sent[0] == {"role": "system", "content": "Summary of the earlier conversation: They talked."}
    assert accounting.estimate_prompt_tokens(sent) <= 200
    summary_req = env.an.requests[-1]["body"]
    assert summary_req["max_tokens"] == 40 and "user: 0" in summary_req["messages"][0]["content"][0]["text"]
    assert env.call("GET", "/v1/conversations/s", key=key)[2]["summary"] == "They talked."
    usage = env.call("GET", "/v1/usage", key=key)[2]
    assert usage["total_tokens"] == 18 * (4 + env.an.calls)  # summaries are billed to the same key


def test_invalid_conversation_ids(env: GatewayEnv) -> None:
    key = env.create_key()
    status, _, body = env.chat(key, conversation_id="bad id!")
    assert status == 400 and body["error"]["param"] == "conversation_id"
    status, _, body = env.chat(key, conversation_id="a", headers={"x-lm-conversation-id": "b"})
    assert status == 400
    env.reconfigure(lambda c: c.update(context={"enabled": False}))
    status, _, body = env.chat(key, conversation_id="a")
    assert status == 400 and body["error"]["code"] == "conversations_disabled"


# ---------------------------------------------------------------------------------------------------------
# Accounting, usage, metrics, audit


def test_token_and_cost_arithmetic(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    env.oa.prompt_tokens, env.oa.completion_tokens = 1000, 2000
    key = env.create_key()
    for _ in range(2):
        assert env.chat(key, model="fast")[0] == 200  # oa/gpt-4o-mini: 0.15 in, 0.60 out per 1M
    assert env.chat(key, model="smart")[0] == 200  # gpt-4o (price keyed by model only): 2.5 / 10
    usage = env.call("GET", "/v1/usage", key=key)[2]
    fast_cost = Decimal(1000) * Decimal("0.15") / 10**6 + Decimal(2000) * Decimal("0.6") / 10**6  # 0.00135
    smart_cost = Decimal(1000) * Decimal("2.5") / 10**6 + Decimal(2000) * Decimal(10) / 10**6  # 0.0225
    assert (
        usage["prompt_tokens"] == 3000
        and usage["completion_tokens"] == 6000
        and usage["total_tokens"] == 9000
    )
    assert Decimal(str(usage["cost_usd"])) == 2 * fast_cost + smart_cost == Decimal("0.0252")
    assert usage["requests"] == 3
    assert usage["models"]["fast"] == {"requests": 2, "tokens": 6000, "cost_usd": 0.0027}
    a = log_lines(capsys.readouterr().out, "audit")
    assert [x["cost_usd"] for x in a[:3]] == ["0.00135", "0.00135", "0.0225"]


def test_cost_helpers() -> None:
    assert accounting.cost_usd(None, 10, 10) == 0
    assert accounting.cost_usd(Price(Decimal(3), Decimal(15)), 1_000_000, 1_000_000) == 18
    assert accounting.cost_usd(Price(Decimal("0.8"), Decimal(4)), 1, 1) == Decimal("0.0000048")
    assert accounting.estimate_text_tokens("") == 0
    assert accounting.estimate_text_tokens("abcd") == 1 and accounting.estimate_text_tokens("abcde") == 2


def test_usage_is_estimated_when_the_provider_omits_it(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env.oa.usage = False
    key = env.create_key()
    status, headers, body = env.chat(key, content="hello world!")  # 12 chars -> 3 + 4 overhead
    assert status == 200 and headers["x-lm-usage-estimated"] == "true"
    # reply "oa: hello world!" = 16 chars -> 4 tokens
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11,
                             "prompt_tokens_details": {"cached_tokens": 0}}
    assert log_lines(capsys.readouterr().out, "audit")[-1]["usage_estimated"] is True


def test_unpriced_target_costs_zero(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    env.reconfigure(lambda c: c.update(prices={}))
    key = env.create_key()
    assert env.chat(key)[0] == 200
    audit = log_lines(capsys.readouterr().out, "audit")[-1]
    assert audit["cost_usd"] == "0" and audit["priced"] is False


def test_usage_endpoint_per_key_and_day(env: GatewayEnv) -> None:
    k1, k2 = env.create_key(), env.create_key()
    assert env.chat(k1)[0] == 200
    env.oa.push(400)
    assert env.chat(k1)[0] == 400
    status, _, u1 = env.call("GET", "/v1/usage", key=k1)
    assert status == 200
    assert (u1["date"], u1["requests"], u1["errors"], u1["total_tokens"]) == ("2024-06-01", 2, 1, 18)
    assert env.call("GET", "/v1/usage", key=k2)[2]["requests"] == 0  # a key sees only its own
    other_day = env.call("GET", "/v1/usage", key=k1, query={"date": "2024-05-31"})[2]
    assert other_day["requests"] == 0 and other_day["date"] == "2024-05-31"
    for bad in ("2024-13-01", "yesterday"):
        status, _, body = env.call("GET", "/v1/usage", key=k1, query={"date": bad})
        assert status == 400 and body["error"]["param"] == "date"


def test_emf_metrics_line(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    key = env.create_key(rpm=2)
    env.oa.push(500, 500)
    assert env.chat(key, model="smart", temperature=0)[0] == 200
    assert env.chat(key, model="smart", temperature=0)[1]["x-lm-cache"] == "hit"
    assert env.chat(key, model="smart")[0] == 429
    records = log_lines(capsys.readouterr().out, "emf")
    emf = [r for r in records if "Requests" in r]  # one per request; the others are per-provider failures
    assert len(emf) == 3
    assert [(r["Provider"], r["ProviderFailures"]) for r in records if "Requests" not in r] == [("oa", 2)]
    meta = emf[0]["_aws"]["CloudWatchMetrics"][0]
    assert meta["Namespace"] == "LmGateway"
    assert (
        ["Tenant"] in meta["Dimensions"]
        and ["Model"] in meta["Dimensions"]
        and ["Provider"] in meta["Dimensions"]
    )
    names = {m["Name"] for m in meta["Metrics"]}
    assert {"Requests", "PromptTokens", "CompletionTokens", "CostUSD", "LatencyMs", "Fallbacks", "CacheHits",
            "QuotaRejections"} <= names  # fmt: skip
    first, hit, rejected = emf
    assert (first["Tenant"], first["Model"], first["Provider"]) == ("acme", "smart", "an")
    assert (first["Fallbacks"], first["PromptTokens"], first["CompletionTokens"]) == (1, 11, 7)
    assert first["CostUSD"] == pytest.approx((11 * 3 + 7 * 15) / 1e6)
    assert (hit["CacheHits"], hit["CostUSD"], hit["Provider"]) == (1, 0.0, "cache")
    assert (rejected["QuotaRejections"], rejected["Errors"]) == (1, 1)
    assert (first["Served"], first["ProviderFailures"], first["UpstreamFailures"]) == (1, 2, 0)
    assert (hit["Served"], rejected["Served"]) == (0, 0)


def test_audit_line_fields_and_no_secrets(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    key = env.create_key()
    env.oa.push(503)
    assert env.chat(key, model="smart", content="my email is bob@example.com")[0] == 200
    out = capsys.readouterr().out
    audit = log_lines(out, "audit")[-1]
    for field in ("request_id", "tenant", "key_id", "gen_ai.request.model", "provider", "gen_ai.response.model",
                  "gen_ai.provider.name", "gen_ai.operation.name", "latency_ms",
                  "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "cost_usd", "cache", "fallback_path",
                  "status"):  # fmt: skip
        assert field in audit, field
    assert audit["key_id"].startswith("key_") and audit["status"] == 200
    assert audit["fallback_path"] == ["oa/gpt-4o:server(503)", "oa/gpt-4o:ok"]
    assert key not in out and OPENAI_KEY not in out
    assert "bob@example.com" not in out and "request_messages" not in audit  # bodies are off by default


def test_audit_bodies_are_redacted_when_enabled(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    env.reconfigure(lambda c: c.update(audit={"log_bodies": True}))
    env.oa.reply = "Call +1 (415) 555-0199 or use AKIAIOSFODNN7EXAMPLE"
    key = env.create_key()
    content = "I am bob@example.com, token Bearer abcdefghijklmnop1234 and key sk-proj-abcdefghijklmnopqrstu"
    assert env.chat(key, content=content)[0] == 200
    out = capsys.readouterr().out
    audit = log_lines(out, "audit")[-1]
    logged = audit["request_messages"][0]["content"]
    assert "[REDACTED:EMAIL]" in logged and "[REDACTED:TOKEN]" in logged and "[REDACTED:API_KEY]" in logged
    assert audit["completion"] == "Call [REDACTED:PHONE] or use [REDACTED:AWS_KEY]"
    for leaked in (
        "bob@example.com",
        "abcdefghijklmnop1234",
        "sk-proj-abcdefghijklmnopqrstu",
        "555-0199",
        "AKIAIOSFODNN7EXAMPLE",
    ):
        assert leaked not in out


def test_stored_history_is_capped_by_count_and_bytes() -> None:
    from lambda_manifest.runtime.gateway.context import cap_history

    turn = [{"role": "user", "content": "x" * 100_000}, {"role": "assistant", "content": "y"}]
    assert len(cap_history(turn * 6, 200)) == 6  # ~600 KB of JSON -> the last 3 turns (~300 KB)
    assert len(cap_history(turn * 6, 3)) == 2


def test_a_failed_history_write_does_not_fail_the_completion(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from lambda_manifest.runtime.gateway.store import Store

    def boom(*args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "too big"}}, "PutItem")

    monkeypatch.setattr(Store, "put_conversation", boom)
    key = env.create_key()
    assert env.chat(key, conversation_id="c")[0] == 200
    assert log_lines(capsys.readouterr().out, "audit")[-1]["conversation_write_error"] == "ClientError"


def emf_records(out: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(request records, per-provider failure records), each checked against what CloudWatch requires."""
    records = log_lines(out, "emf")
    for record in records:
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                assert all(isinstance(record[d], str) and record[d] for d in dimensions), dimensions
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                assert isinstance(value, int | float) and not isinstance(value, bool), metric
    return [r for r in records if "Requests" in r], [r for r in records if "Requests" not in r]


def gateway_wide(record: dict[str, Any]) -> dict[str, Any]:
    """The metrics a request record publishes without dimensions (one gateway-wide metric each)."""
    directives = [d for d in record["_aws"]["CloudWatchMetrics"] if d["Dimensions"] == [[]]]
    assert len(directives) == 1
    return {m["Name"]: record[m["Name"]] for m in directives[0]["Metrics"]}


def test_provider_and_upstream_failures_are_metrics(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["routing"]["breaker_threshold"] = 100
        for target in c["models"]["smart"]["targets"]:
            target["timeout_s"] = 0.2

    env.reconfigure(mutate)
    key = env.create_key()
    env.oa.push(500, 500)
    env.an.push(503, 429)
    assert env.chat(key, model="smart")[0] == 502
    env.oa.push("timeout")
    env.an.push("timeout")
    assert env.chat(key, model="smart")[0] == 504
    env.oa.push(400)
    assert env.chat(key, model="smart")[0] == 400  # the provider refused the request itself: not its failure
    env.oa.push(503)
    assert env.chat(key, model="smart")[0] == 200  # retried on the same target, which then answered
    requests, failures = emf_records(capsys.readouterr().out)
    failed, timed_out, refused, served = requests
    quiet = {"Fallbacks": 0, "QuotaRejections": 0, "CacheHits": 0}
    assert gateway_wide(failed) == {"Requests": 1, "Served": 0, "Errors": 1, "UpstreamFailures": 1,
                                    "ProviderFailures": 4, **quiet}  # fmt: skip
    assert failed["Provider"] == "none" and failed["UpstreamFailures"] == 1
    assert gateway_wide(timed_out) == {**gateway_wide(failed), "ProviderFailures": 2}
    assert gateway_wide(refused) == {"Requests": 1, "Served": 0, "Errors": 1, "UpstreamFailures": 0,
                                     "ProviderFailures": 0, **quiet}  # fmt: skip
    assert gateway_wide(served) == {"Requests": 1, "Served": 1, "Errors": 0, "UpstreamFailures": 0,
                                    "ProviderFailures": 1, **quiet}  # fmt: skip
    assert served["Provider"] == "oa"
    assert [(f["Provider"], f["ProviderFailures"]) for f in failures] == [
        ("an", 2), ("oa", 2), ("an", 1), ("oa", 1), ("oa", 1)
    ]  # fmt: skip
    for f in failures:
        assert f["Model"] == "smart"
        assert f["_aws"]["CloudWatchMetrics"] == [{"Namespace": "LmGateway", "Dimensions": [["Provider"]],
                                                   "Metrics": [{"Name": "ProviderFailures", "Unit": "Count"}]}]  # fmt: skip


def test_open_circuits_and_quota_refusals_are_not_provider_failures(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambda_manifest.runtime.gateway import router

    monkeypatch.setattr(router, "monotonic", lambda: 5.0)
    for label in ("oa/gpt-4o", "an/claude-sonnet"):
        for _ in range(3):
            env.runtime.breaker.failure(label, 5.0, 3, 30)
    key = env.create_key(rpm=1)
    assert env.chat(key, model="smart")[0] == 502  # every circuit open: no call, still an upstream failure
    assert env.chat(key, model="smart")[0] == 429
    requests, failures = emf_records(capsys.readouterr().out)
    assert failures == []
    unavailable, limited = (gateway_wide(r) for r in requests)
    assert (unavailable["UpstreamFailures"], unavailable["ProviderFailures"]) == (1, 0)
    assert (limited["QuotaRejections"], limited["UpstreamFailures"], limited["Errors"]) == (1, 0, 1)


# ---------------------------------------------------------------------------------------------------------
# Where the virtual key travels


def test_virtual_key_from_authorization_else_x_api_key(env: GatewayEnv) -> None:
    key = env.create_key()
    assert env.chat(None, headers={"x-api-key": key})[0] == 200
    assert env.call("GET", "/v1/models", headers={"x-api-key": key})[0] == 200
    assert env.chat(key, headers={"x-api-key": "lmg-not-a-key"})[0] == 200  # Authorization wins...
    status, _, body = env.chat(None, headers={"authorization": "Bearer lmg-not-a-key", "x-api-key": key})
    assert status == 401 and body["error"]["code"] == "invalid_api_key"  # ...even when it is wrong
    status, _, body = env.chat(None)
    assert status == 401 and body["error"]["code"] == "missing_api_key"
    assert body["error"]["message"] == "missing API key: send Authorization: Bearer <key> or x-api-key: <key>"


def test_configured_key_header_is_the_only_one_read(env: GatewayEnv) -> None:
    key = env.create_key()
    idp_token = {"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"}  # the API authorizer's
    env.reconfigure(lambda c: c.update(auth={"key_header": "X-Api-Key"}))
    assert env.chat(None, headers={**idp_token, "x-api-key": key})[0] == 200
    status, _, body = env.chat(key)  # a Bearer virtual key is not looked for
    assert status == 401 and body["error"]["message"] == "missing API key: send x-api-key: <key>"
    assert env.chat(None, headers={"x-api-key": f"Bearer {key}"})[2]["error"]["code"] == "invalid_api_key"
    env.reconfigure(lambda c: c.update(auth={"key_header": "authorization"}))
    assert env.chat(None, headers={"x-api-key": key})[2]["error"]["code"] == "missing_api_key"
    assert env.chat(key)[0] == 200
    env.reconfigure(lambda c: c.update(auth={"key_header": "x-lm-key"}))
    both_taken = {**idp_token, "x-api-key": "authorizer-api-key"}
    assert env.chat(None, headers={**both_taken, "x-lm-key": key})[0] == 200
    assert env.call("GET", "/v1/usage", headers={**both_taken, "x-lm-key": key})[0] == 200


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"key_header": ""}, r"auth.key_header: expected a non-empty string"),
        ({"key_header": "x api key"}, r"auth.key_header: invalid header name 'x api key'"),
        ({"key_header": "Content-Type"}, r"auth.key_header: invalid header name 'Content-Type'"),
        ({"header": "x-api-key"}, r"auth: unknown field\(s\) header"),
    ],
)
def test_key_header_config_is_validated(auth: dict[str, Any], message: str) -> None:
    minimal = {"providers": {"a": {"type": "openai", "base_url": "http://a"}},
               "models": {"m": {"targets": [{"provider": "a", "model": "x"}]}}}  # fmt: skip
    assert load_config(minimal).auth.key_header is None
    assert load_config({**minimal, "auth": {"key_header": "X-Api-Key"}}).auth.key_header == "x-api-key"
    with pytest.raises(ConfigError, match=message):
        load_config({**minimal, "auth": auth})


def test_a_failed_summary_counts_its_provider_failures(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    def cfg(c: dict[str, Any]) -> None:
        _tiny(c)
        c["context"] = {"summarize_with": "claude"}

    env.reconfigure(cfg)
    env.oa.reply = "ok"
    env.an.default = 503  # the summarizer's provider is down: turns are dropped without a summary
    key = env.create_key()
    body = {"model": "tiny", "max_tokens": 100, "conversation_id": "f",
            "messages": [{"role": "user", "content": "u" * 196}]}  # fmt: skip
    for _ in range(4):
        assert env.call("POST", "/v1/chat/completions", body, key=key)[0] == 200
    requests, failures = emf_records(capsys.readouterr().out)
    assert env.an.calls > 0 and all(r["Provider"] == "oa" and r["Served"] == 1 for r in requests)
    assert sum(f["ProviderFailures"] for f in failures if f["Provider"] == "an") == env.an.calls
    assert sum(gateway_wide(r)["ProviderFailures"] for r in requests) == env.an.calls
    assert all(gateway_wide(r)["UpstreamFailures"] == 0 for r in requests)
