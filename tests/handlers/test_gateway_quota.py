"""Virtual keys, quotas (per key and per tenant, atomic in DynamoDB), the DynamoDB call budget and the cache."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from gateway_fakes import TABLE, GatewayEnv, log_lines, serialized_moto_server

from lambda_manifest.keys import revoke_key
from lambda_manifest.runtime.gateway import store


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv() as e:
        yield e


def audits(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return log_lines(capsys.readouterr().out, "audit")


def key_id_of(env: GatewayEnv, key: str) -> str:
    from lambda_manifest.runtime.gateway.auth import hash_key

    item = env.ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"KEY#{hash_key(key)}"}, "sk": {"S": "KEY"}})[
        "Item"
    ]
    return str(item["key_id"]["S"])


def counter_item(env: GatewayEnv, pk: str, sk: str) -> dict[str, Any]:
    item = env.ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get(
        "Item"
    )
    return store.plain(item) or {}


def _patient_provider(config: dict[str, Any]) -> None:
    """Many callers at once on a loaded machine: the provider's 2 s timeout would turn slowness into 504s."""
    config["providers"]["oa"]["timeout_s"] = 30


# ---------------------------------------------------------------------------------------------------------
# Keys


def test_keys_are_stored_hashed_never_in_plaintext(env: GatewayEnv) -> None:
    key = env.create_key()
    items = env.ddb.scan(TableName=TABLE)["Items"]
    assert len(items) == 2  # key item + key-id pointer
    assert key not in repr(items)
    assert env.chat(key)[0] == 200


REVOKED = {"message": "this API key has been revoked", "type": "authentication_error", "code": "invalid_api_key",
           "param": None}


def test_revoked_key_is_refused_once_the_key_cache_ttl_has_passed(env: GatewayEnv) -> None:
    """A warm container keeps a valid key for auth.key_cache_ttl_s (10 s by default): the revocation takes
    effect there when that has passed; a container that had not read the key refuses it at once."""
    key = env.create_key()
    store.TOTALS.reset()
    assert env.chat(key)[0] == 200 and env.chat(key)[0] == 200
    assert store.TOTALS.ops.count("get_item") == 1  # the second request used the cached key
    assert revoke_key(env.ddb, TABLE, key_id_of(env, key))
    env.now += 9.9
    assert env.chat(key)[0] == 200
    env.now += 0.1
    status, _, body = env.chat(key)
    assert (status, body["error"]) == (401, REVOKED)
    env.now += 60  # a refused key is never cached: it stays refused
    assert env.chat(key)[0] == 401
    fresh = env.create_key()
    assert revoke_key(env.ddb, TABLE, key_id_of(env, fresh))
    assert env.chat(fresh)[0] == 401


def test_key_cache_ttl_0_refuses_a_revoked_key_at_once(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: c.update(auth={"key_cache_ttl_s": 0}))
    key = env.create_key()
    store.TOTALS.reset()
    assert env.chat(key)[0] == 200 and env.chat(key)[0] == 200
    assert store.TOTALS.ops.count("get_item") == 2  # read on every request
    assert revoke_key(env.ddb, TABLE, key_id_of(env, key))
    status, _, body = env.chat(key)
    assert (status, body["error"]) == (401, REVOKED)


def test_a_changed_key_limit_applies_once_the_key_cache_ttl_has_passed(env: GatewayEnv) -> None:
    key = env.create_key(rpm=100)
    assert env.chat(key)[0] == 200
    from lambda_manifest.runtime.gateway.auth import hash_key

    env.ddb.update_item(TableName=TABLE, Key={"pk": {"S": f"KEY#{hash_key(key)}"}, "sk": {"S": "KEY"}},
                        UpdateExpression="SET rpm = :one", ExpressionAttributeValues={":one": {"N": "1"}})
    assert env.chat(key)[0] == 200  # still the cached limit of 100 a minute
    env.now += 60  # past the key cache's TTL, and a new minute window: it allows one request
    assert env.chat(key)[0] == 200
    assert env.chat(key)[0] == 429


def test_model_not_allowed_for_the_key_is_403(env: GatewayEnv) -> None:
    key = env.create_key(models=("fast", "claude"))
    assert env.chat(key, model="fast")[0] == 200
    status, _, body = env.chat(key, model="smart")
    assert status == 403
    assert body["error"]["type"] == "permission_error" and body["error"]["code"] == "model_not_allowed"
    assert env.oa.calls == 1
    status, _, body = env.call("GET", "/v1/models", key=key)
    assert status == 200
    assert [m["id"] for m in body["data"]] == ["claude", "fast"]


# ---------------------------------------------------------------------------------------------------------
# Quotas


def test_key_rpm_is_exact_with_retry_after_and_resets_next_minute(env: GatewayEnv) -> None:
    key = env.create_key(rpm=3)
    env.now = 1_717_243_200.0 + 15  # 12:00:15 UTC
    assert [env.chat(key)[0] for _ in range(3)] == [200, 200, 200]
    status, headers, body = env.chat(key)
    assert status == 429
    assert headers["retry-after"] == "45"
    assert body["error"]["type"] == "rate_limit_error" and body["error"]["code"] == "rate_limit_exceeded"
    assert "key quota exceeded: requests per minute" in body["error"]["message"]
    assert env.oa.calls == 3
    env.now += 45
    assert env.chat(key)[0] == 200


def test_tenant_rpm_spans_keys_and_refusals_consume_nothing(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: c["tenants"]["acme"].update(rpm=3))
    k1 = env.create_key(rpm=2)
    k2 = env.create_key()
    assert [env.chat(k1)[0] for _ in range(2)] == [200, 200]
    status, _, body = env.chat(k1)  # refused by the key window: the tenant window must not count it
    assert status == 429 and "key quota" in body["error"]["message"]
    assert env.chat(k2)[0] == 200  # tenant: 3 of 3
    status, _, body = env.chat(k2)
    assert status == 429 and "tenant quota" in body["error"]["message"]
    other_tenant = env.create_key(tenant="globex")
    assert env.chat(other_tenant)[0] == 200


def test_tokens_per_day_are_reserved_before_and_settled_after(env: GatewayEnv) -> None:
    """Each call reserves its worst case (a 12-token bound for "hello" + max_tokens 7 = 19) and settles what it
    used (11 + 7 = 18): a call is admitted only while the settled usage plus its reservation fits."""
    key = env.create_key(tpd=40)
    kid = key_id_of(env, key)
    assert env.chat(key, max_tokens=7)[0] == 200  # 0 + 19 <= 40
    assert counter_item(env, f"Q#K#{kid}", "DAY#2024-06-01")["quota_tokens"] == 18  # the unused 1 came back
    assert env.chat(key, max_tokens=7)[0] == 200  # 18 + 19 <= 40
    status, headers, body = env.chat(key, max_tokens=7)  # 36 + 19 > 40
    assert status == 429 and body["error"]["code"] == "token_quota_exceeded"
    assert headers["retry-after"] == str(12 * 3600)  # until 00:00 UTC
    assert headers["x-should-retry"] == "false"  # hours away: an SDK retry cannot help
    item = counter_item(env, f"Q#K#{kid}", "DAY#2024-06-01")
    assert item["tokens"] == item["quota_tokens"] == 36  # never above the limit, nothing left held
    env.now += 12 * 3600
    assert env.chat(key, max_tokens=7)[0] == 200


def test_a_failed_call_releases_its_reservation(env: GatewayEnv) -> None:
    key = env.create_key(tpd=40)
    kid = key_id_of(env, key)
    env.oa.push(500, 500)  # both attempts of "fast" fail
    assert env.chat(key, max_tokens=7)[0] == 502
    item = counter_item(env, f"Q#K#{kid}", "DAY#2024-06-01")
    assert item["quota_tokens"] == 0 and item["errors"] == 1
    assert [env.chat(key, max_tokens=7)[0] for _ in range(2)] == [200, 200]


def test_a_request_larger_than_the_whole_limit_is_refused_for_good(env: GatewayEnv) -> None:
    key = env.create_key(tpd=100)
    status, headers, body = env.chat(key)  # no max_tokens: reserves the 1,024-token default
    assert status == 429 and body["error"]["code"] == "token_quota_exceeded"
    assert "this request alone reserves 1036 tokens" in body["error"]["message"]
    assert headers["x-should-retry"] == "false"
    assert env.oa.calls == 0
    assert env.chat(key, max_tokens=50)[0] == 200


def test_tenant_tokens_per_day(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: c["tenants"]["acme"].update(tpd=40))
    k1, k2 = env.create_key(), env.create_key()
    assert env.chat(k1, max_tokens=7)[0] == 200
    assert env.chat(k2, max_tokens=7)[0] == 200
    status, _, body = env.chat(k1, max_tokens=7)
    assert status == 429 and body["error"]["code"] == "token_quota_exceeded"
    assert "tenant quota" in body["error"]["message"]


def test_monthly_budget(env: GatewayEnv) -> None:
    from decimal import Decimal

    # fast: $0.15 / $0.60 per 1M tokens. A call reserves 12 x 0.15 + 7 x 0.60 = 6.00 per 1M and costs 5.85.
    key = env.create_key(budget_usd=Decimal("0.000012"))
    assert env.chat(key, max_tokens=7)[0] == 200
    assert env.chat(key, max_tokens=7)[0] == 200
    status, headers, body = env.chat(key, max_tokens=7)
    assert status == 429 and body["error"]["code"] == "budget_exceeded"
    assert headers["retry-after"] == str(30 * 86400 - 12 * 3600)  # 2024-06-01 12:00 -> 2024-07-01 00:00
    kid = key_id_of(env, key)
    item = counter_item(env, f"Q#K#{kid}", "MON#2024-06")
    assert item["cost_usd"] == item["quota_cost"] == Decimal("0.0000117")


def test_quota_is_exact_under_concurrency() -> None:
    """Many threads, one key, rpm=7: never more than 7 accepted, and the usage adds up exactly."""
    with serialized_moto_server() as endpoint, GatewayEnv(_patient_provider, moto_endpoint=endpoint) as env:
        env.reconfigure(lambda c: c["tenants"]["acme"].update(rpm=9))
        key = env.create_key(rpm=7)
        other = env.create_key()
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda i: env.chat(key if i % 4 else other)[0], range(36)))
        counts = Counter(results)
        assert counts[200] == 9 and counts[429] == 27, counts  # tenant limit 9 binds overall
        ok_key = sum(1 for i, r in enumerate(results) if r == 200 and i % 4)
        assert ok_key <= 7
        kid = key_id_of(env, key)
        assert counter_item(env, f"Q#K#{kid}", "MIN#202406011200")["n"] == ok_key
        assert counter_item(env, "Q#T#acme", "MIN#202406011200")["n"] == 9
        assert counter_item(env, "Q#T#acme", "DAY#2024-06-01")["tokens"] == 9 * 18
        assert env.oa.calls == 9


def test_quota_alone_under_concurrency_per_key() -> None:
    with serialized_moto_server() as endpoint, GatewayEnv(_patient_provider, moto_endpoint=endpoint) as env:
        key = env.create_key(rpm=5)
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda i: env.chat(key)[0], range(20)))
        assert Counter(results) == {200: 5, 429: 15}


# ---------------------------------------------------------------------------------------------------------
# DynamoDB call budget


def test_dynamodb_calls_per_request(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    from decimal import Decimal

    env.reconfigure(lambda c: c["tenants"]["acme"].update(rpm=100, tpd=10**6, budget_usd=100))
    key = env.create_key(rpm=10, tpd=10**5, budget_usd=Decimal(5))
    capsys.readouterr()
    store.TOTALS.reset()
    assert env.chat(key, temperature=0, max_tokens=20)[1]["x-lm-cache"] == "miss"
    # key (before the body is parsed), cache, admission + reservation, settlement + cache write
    assert store.TOTALS.ops == ["get_item", "get_item", "transact_write_items", "transact_write_items"]
    # The key is now in the container's key cache: no key read until auth.key_cache_ttl_s has passed.
    store.TOTALS.reset()
    assert env.chat(key, temperature=0, max_tokens=20)[1]["x-lm-cache"] == "hit"
    assert store.TOTALS.ops == ["get_item", "transact_write_items", "transact_write_items"]
    store.TOTALS.reset()
    assert env.chat(key, temperature=0.5, max_tokens=20)[0] == 200  # not cacheable: no cache read
    assert store.TOTALS.ops == ["transact_write_items", "transact_write_items"]
    env.now += 10  # the key cache's TTL has passed: the key is read again
    store.TOTALS.reset()
    assert env.chat(key, temperature=0.5, max_tokens=20)[0] == 200
    assert store.TOTALS.calls == 3
    a = audits(capsys)
    assert [x["ddb_calls"] for x in a] == [4, 3, 2, 3]
    assert all(x["ddb_ms"] > 0 for x in a)


def test_without_limits_or_cache_two_calls(env: GatewayEnv) -> None:
    env.reconfigure(lambda c: c.update(cache={"enabled": False}))
    key = env.create_key()
    store.TOTALS.reset()
    assert env.chat(key)[0] == 200
    assert store.TOTALS.ops == ["get_item", "transact_write_items"]


def test_conversation_adds_one_read_and_one_write(env: GatewayEnv) -> None:
    key = env.create_key(rpm=100)
    store.TOTALS.reset()
    status, _, _ = env.chat(key, conversation_id="c1")
    assert status == 200
    assert store.TOTALS.ops == ["get_item", "update_item", "get_item", "put_item", "transact_write_items"]


# ---------------------------------------------------------------------------------------------------------
# Response cache


def test_cache_hit_and_miss(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    key = env.create_key()
    s1, h1, b1 = env.chat(key, temperature=0)
    s2, h2, b2 = env.chat(key, temperature=0.0)  # same normalized request
    assert (s1, s2) == (200, 200)
    assert (h1["x-lm-cache"], h2["x-lm-cache"]) == ("miss", "hit")
    assert b2["choices"] == b1["choices"] and b2["usage"] == b1["usage"] and b2["id"] != b1["id"]
    assert env.oa.calls == 1
    assert env.chat(key, content="other", temperature=0)[1]["x-lm-cache"] == "miss"
    assert env.chat(key, temperature=0, max_tokens=5)[1]["x-lm-cache"] == "miss"  # params are part of the key
    assert env.oa.calls == 3
    a = audits(capsys)
    assert [x["cache"] for x in a] == ["miss", "hit", "miss", "miss"]
    assert a[1]["provider"] == "cache" and "prompt_tokens" not in a[1]


def test_cache_only_at_temperature_zero_unless_the_key_opts_in(env: GatewayEnv) -> None:
    key = env.create_key()
    assert [env.chat(key, temperature=0.7)[1]["x-lm-cache"] for _ in range(2)] == ["miss", "miss"]
    assert [env.chat(key)[1]["x-lm-cache"] for _ in range(2)] == ["miss", "miss"]  # default temperature
    assert env.oa.calls == 4
    opted = env.create_key(cache=True)
    assert [env.chat(opted, temperature=0.7)[1]["x-lm-cache"] for _ in range(2)] == ["miss", "hit"]


def test_cache_is_per_tenant_expires_and_can_be_bypassed(env: GatewayEnv) -> None:
    acme, globex = env.create_key(), env.create_key(tenant="globex")
    assert env.chat(acme, temperature=0)[1]["x-lm-cache"] == "miss"
    assert env.chat(globex, temperature=0)[1]["x-lm-cache"] == "miss"  # never another tenant's entry
    assert env.chat(globex, temperature=0)[1]["x-lm-cache"] == "hit"
    assert env.chat(globex, temperature=0, headers={"x-lm-cache": "bypass"})[1]["x-lm-cache"] == "miss"
    env.now += 3601  # ttl 3600 s: expired even if DynamoDB has not deleted the item yet
    assert env.chat(globex, temperature=0)[1]["x-lm-cache"] == "miss"


def test_rate_limit_applies_to_cache_hits(env: GatewayEnv) -> None:
    key = env.create_key(rpm=2)
    assert env.chat(key, temperature=0)[0] == 200
    assert env.chat(key, temperature=0)[1]["x-lm-cache"] == "hit"
    assert env.chat(key, temperature=0)[0] == 429


# ---------------------------------------------------------------------------------------------------------
# No overshoot under concurrency: 60 OpenAI clients at once, DynamoDB served by moto's server


CONCURRENT_CALLERS = 60
# Each call: "hello" bounds to 12 prompt tokens, max_tokens 7 -> reserves 19 tokens and $6.00 per million;
# the provider answers with 11 + 7 = 18 tokens, $5.85 per million.
LIMITS: dict[str, dict[str, Any]] = {
    "rpm": {"rpm": 10},
    "tpd": {"tpd": 200},
    "budget": {"budget_usd": "0.00006"},
}


@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_no_overshoot_with_60_concurrent_callers(limit: str) -> None:
    from decimal import Decimal

    from gateway_fakes import concurrent_completions

    with serialized_moto_server() as endpoint, GatewayEnv(_patient_provider, moto_endpoint=endpoint) as env:
        kw = {k: Decimal(v) if k == "budget_usd" else v for k, v in LIMITS[limit].items()}
        key = env.create_key(**kw)
        results = concurrent_completions(key, CONCURRENT_CALLERS)
        served = [u for u in results if u is not None]
        kid = key_id_of(env, key)
        day = counter_item(env, f"Q#K#{kid}", "DAY#2024-06-01")
        month = counter_item(env, f"Q#K#{kid}", "MON#2024-06")
        minute = counter_item(env, f"Q#K#{kid}", "MIN#202406011200")
        assert env.oa.calls == len(served)
        assert day.get("requests", 0) == len(served)
        if limit == "rpm":
            assert len(served) == 10 and minute["n"] == 10  # exact
        elif limit == "tpd":
            used = sum(u.total_tokens for u in served)
            assert used == day["tokens"] <= 200  # overshoot 0
            assert len(served) >= 200 // 19  # the ones that fit whatever the order were served
            assert day["quota_tokens"] == day["tokens"]  # every hold settled
        else:
            cost = Decimal("0.00000585") * len(served)
            assert month["cost_usd"] == cost <= Decimal("0.00006")  # overshoot 0
            assert len(served) >= int(Decimal("0.00006") / Decimal("0.000006"))
            assert month["quota_cost"] == month["cost_usd"]


def test_the_process_wide_operation_log_is_bounded() -> None:
    class Client:
        def get_item(self, **kw: Any) -> dict[str, Any]:
            return {}

    store.TOTALS.reset()
    s = store.Store(Client(), "t")
    for _ in range(10 * store.RECENT_OPS):
        s.get_key("x")
    assert store.TOTALS.calls == 10 * store.RECENT_OPS
    assert len(store.TOTALS.ops) == store.RECENT_OPS  # a warm container does not grow with its traffic
