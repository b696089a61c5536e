"""``python -m lambda_manifest.keys {create,list,revoke}`` against moto, and keys it creates used on the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from gateway_fakes import TABLE, GatewayEnv

from lambda_manifest import keys


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv() as e:
        yield e


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = keys.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_prints_the_key_once_and_stores_only_its_hash(
    env: GatewayEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "create", "--table", TABLE, "--tenant", "acme", "--models", "fast, smart", "--rpm", "5", "--tpd", "1000",
        "--budget-usd", "2.50", "--name", "backend",
    )  # fmt: skip
    assert code == 0
    lines = dict(
        line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("Store")
    )
    api_key = lines["api_key"].strip()
    key_id = lines["key_id"].strip()
    assert api_key.startswith("lmg-") and len(api_key) > 40
    assert "cannot be shown again" in out
    items = env.ddb.scan(TableName=TABLE)["Items"]
    assert api_key not in json.dumps(items)
    key_item = next(i for i in items if i["pk"]["S"] == f"KEY#{keys.hash_key(api_key)}")
    assert key_item["key_id"]["S"] == key_id and key_item["tenant"]["S"] == "acme"
    assert [m["S"] for m in key_item["models"]["L"]] == ["fast", "smart"]
    assert (key_item["rpm"]["N"], key_item["tpd"]["N"], key_item["budget_usd"]["N"]) == ("5", "1000", "2.50")
    # The gateway accepts it, with its model list.
    assert env.chat(api_key, model="fast", max_tokens=50)[0] == 200  # fits the 1,000 tokens a day
    assert env.chat(api_key, model="claude", max_tokens=50)[0] == 403


def test_list_and_revoke(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "create", "--table", TABLE, "--tenant", "acme", "--json", "--cache")
    created = json.loads(out)
    assert code == 0 and created["cache"] is True and created["models"] == ["*"]
    run(capsys, "create", "--table", TABLE, "--tenant", "globex", "--name", "other")
    code, out, _ = run(capsys, "list", "--table", TABLE)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "KEY_ID",
        "TENANT",
        "NAME",
        "MODELS",
        "TOOLS",
        "RPM",
        "TPD",
        "BUDGET_USD",
        "CACHE",
        "STATUS",
        "CREATED",
    ]
    assert len(rows) == 2 and created["key_id"] in out and "lmg-" not in out
    assert all(row.split()[4] == "-" for row in rows)  # no MCP tools unless --tools names them
    code, out, _ = run(capsys, "list", "--table", TABLE, "--tenant", "acme", "--json")
    listed = json.loads(out)
    assert [r["key_id"] for r in listed] == [created["key_id"]] and listed[0]["revoked"] is False

    assert env.chat(created["api_key"])[0] == 200
    capsys.readouterr()
    code, out, _ = run(capsys, "revoke", "--table", TABLE, "--key-id", created["key_id"])
    assert code == 0 and out.strip() == f"revoked {created['key_id']}"
    env.now += 10  # the key cache's TTL (auth.key_cache_ttl_s, 10 s by default)
    assert env.chat(created["api_key"])[0] == 401
    capsys.readouterr()
    listed = json.loads(run(capsys, "list", "--table", TABLE, "--tenant", "acme", "--json")[1])
    assert listed[0]["revoked"] is True and listed[0]["revoked_at"]


def test_create_with_mcp_tools_stores_the_allowlist(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "create", "--table", TABLE, "--tenant", "acme", "--tools", "lookup_item, summarize_text",
                       "--json")
    created = json.loads(out)
    assert code == 0 and created["tools"] == ["lookup_item", "summarize_text"]
    item = env.ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"KEY#{keys.hash_key(created['api_key'])}"},
                                                  "sk": {"S": "KEY"}})["Item"]
    assert [t["S"] for t in item["tools"]["L"]] == ["lookup_item", "summarize_text"]
    code, _, err = run(capsys, "create", "--table", TABLE, "--tenant", "acme", "--tools", "bad tool!")
    assert code == 2 and "invalid tool list" in err


def test_errors(env: GatewayEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "revoke", "--table", TABLE, "--key-id", "key_missing")
    assert code == 1 and "no key with id key_missing" in err
    code, _, err = run(capsys, "create", "--table", TABLE, "--tenant", "bad tenant!")
    assert code == 2 and "invalid tenant" in err
    code, _, err = run(capsys, "create", "--table", TABLE, "--tenant", "acme", "--models", "ok,bad model")
    assert code == 2 and "invalid model list" in err
    for argv in (
        ["create", "--table", TABLE, "--tenant", "acme", "--rpm", "0"],
        ["create", "--table", TABLE, "--tenant", "acme", "--budget-usd", "abc"],
        ["create", "--tenant", "acme"],
        ["frobnicate", "--table", TABLE],
    ):
        with pytest.raises(SystemExit) as exc:
            keys.main(argv)
        assert exc.value.code == 2
    capsys.readouterr()


def test_generated_keys_are_unique_and_hashed_with_sha256() -> None:
    import hashlib

    generated = {keys.generate_key() for _ in range(200)}
    assert len({k for _, k in generated}) == 200 and len({i for i, _ in generated}) == 200
    key_id, api_key = next(iter(generated))
    assert keys.hash_key(api_key) == hashlib.sha256(api_key.encode()).hexdigest()
    assert key_id.startswith("key_")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),  # boto3 alone would raise NoRegionError here
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, "eu-west-1"),
    ],
)
def test_region_comes_from_aws_region_then_aws_default_region(
    variables: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import boto3
    from gateway_fakes import create_table
    from moto import mock_aws

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")  # no profile region to fall back on
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        regional = boto3.client("dynamodb", region_name=expected)
        create_table(regional)  # the table exists only in the expected region
        code, out, err = run(capsys, "create", "--table", TABLE, "--tenant", "acme", "--json")
        assert code == 0, err
        key_id = json.loads(out)["key_id"]
        assert any(i.get("key_id", {}).get("S") == key_id for i in regional.scan(TableName=TABLE)["Items"])


def test_region_flag_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert keys._client("ap-south-1", None).meta.region_name == "ap-south-1"
    assert keys._client(None, None).meta.region_name == "eu-west-1"


def test_no_region_anywhere_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    code, _, err = run(capsys, "list", "--table", TABLE)
    assert code == 2 and "pass --region or set AWS_REGION" in err
