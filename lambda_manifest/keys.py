"""Virtual API keys for the AI gateway: ``python -m lambda_manifest.keys {create,list,revoke} --table T``.

A key is printed once, at creation; the table only ever holds its SHA-256 (``pk = KEY#<sha256 hex>``) plus a
``KEYID#<key_id>`` pointer used to revoke by id. The item layout is the one documented in
``lambda_manifest/runtime/gateway/store.py``; revocation takes effect on the gateway's next request (key items are read
with a consistent read on every request, never cached).

Examples::

    python -m lambda_manifest.keys create --table T --tenant acme --models gpt-fast,claude --rpm 60 --tpd 200000 \\
        --budget-usd 25 --name "acme backend"
    python -m lambda_manifest.keys list --table T [--tenant acme] [--json]
    python -m lambda_manifest.keys revoke --table T --key-id key_0123456789abcdef
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from lambda_manifest.runtime.mcp import contract as mcp_contract

KEY_PREFIX = "lmg-"
KEY_SK = "KEY"
_TENANT_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MODEL_RE = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127})$")
# MCP tool names, or * for every tool.
_TOOL_RE = re.compile(rf"^(\*|{mcp_contract.TOOL_NAME})$")


@dataclass
class KeyRecord:
    key_id: str
    tenant: str
    name: str
    models: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    rpm: int | None = None
    tpd: int | None = None
    budget_usd: str | None = None
    cache: bool = False
    revoked: bool = False
    created_at: str = ""
    revoked_at: str | None = None


@dataclass
class CreatedKey:
    key_id: str
    api_key: str
    record: KeyRecord


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def generate_key() -> tuple[str, str]:
    """A new (key_id, api_key); 256 bits of randomness in the key."""
    return f"key_{secrets.token_hex(8)}", KEY_PREFIX + secrets.token_urlsafe(32)


def _iso(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def default_region() -> str | None:
    """``AWS_REGION``, then ``AWS_DEFAULT_REGION``: boto3 reads only the second, but Lambda, CodeBuild and
    most CI set the first, and the AWS CLI prefers it too."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3

    return boto3.client("dynamodb", region_name=region or default_region(), endpoint_url=endpoint_url)


def create_key(
    client: Any,
    table: str,
    *,
    tenant: str,
    models: list[str],
    name: str = "",
    rpm: int | None = None,
    tpd: int | None = None,
    budget_usd: Decimal | None = None,
    cache: bool = False,
    tools: list[str] | None = None,
    now: float | None = None,
) -> CreatedKey:
    """Create a key; ``tools`` are the MCP tools it may call through an ``McpToolGateway`` (``*``: all;
    none: no tool)."""
    if not _TENANT_RE.match(tenant):
        raise ValueError(f"invalid tenant {tenant!r}: 1-64 letters, digits and ._-")
    if not models or any(not _MODEL_RE.match(m) for m in models):
        raise ValueError(f"invalid model list {models!r}: comma-separated aliases or *")
    tools = list(tools or [])
    if any(not _TOOL_RE.match(t) for t in tools):
        raise ValueError(f"invalid tool list {tools!r}: comma-separated MCP tool names or *")
    for label, value in (("rpm", rpm), ("tpd", tpd)):
        if value is not None and value < 1:
            raise ValueError(f"--{label} must be >= 1")
    if budget_usd is not None and budget_usd <= 0:
        raise ValueError("--budget-usd must be > 0")
    ts = _iso(time.time() if now is None else now)
    key_id, api_key = generate_key()
    key_hash = hash_key(api_key)
    item: dict[str, Any] = {
        "pk": {"S": f"KEY#{key_hash}"},
        "sk": {"S": KEY_SK},
        "key_id": {"S": key_id},
        "tenant": {"S": tenant},
        "name": {"S": name},
        "models": {"L": [{"S": m} for m in models]},
        "cache": {"BOOL": cache},
        **({"tools": {"L": [{"S": t} for t in tools]}} if tools else {}),
        "revoked": {"BOOL": False},
        "created_at": {"S": ts},
    }
    if rpm is not None:
        item["rpm"] = {"N": str(rpm)}
    if tpd is not None:
        item["tpd"] = {"N": str(tpd)}
    if budget_usd is not None:
        item["budget_usd"] = {"N": str(budget_usd)}
    pointer = {
        "pk": {"S": f"KEYID#{key_id}"},
        "sk": {"S": KEY_SK},
        "key_hash": {"S": key_hash},
        "tenant": {"S": tenant},
        "name": {"S": name},
        "revoked": {"BOOL": False},
        "created_at": {"S": ts},
    }
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": table, "Item": pointer, "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
    )
    record = KeyRecord(
        key_id=key_id,
        tenant=tenant,
        name=name,
        models=list(models),
        tools=tools,
        rpm=rpm,
        tpd=tpd,
        budget_usd=str(budget_usd) if budget_usd is not None else None,
        cache=cache,
        created_at=ts,
    )
    return CreatedKey(key_id=key_id, api_key=api_key, record=record)


def _record(item: dict[str, Any]) -> KeyRecord:
    def s(name: str) -> str | None:
        v = item.get(name)
        return str(v["S"]) if isinstance(v, dict) and "S" in v else None

    def n(name: str) -> str | None:
        v = item.get(name)
        return str(v["N"]) if isinstance(v, dict) and "N" in v else None

    def b(name: str) -> bool:
        v = item.get(name)
        return bool(v.get("BOOL")) if isinstance(v, dict) else False

    models_av = item.get("models", {})
    models = [str(m.get("S", "")) for m in models_av.get("L", [])] if isinstance(models_av, dict) else []
    tools_av = item.get("tools", {})
    tools = [str(t.get("S", "")) for t in tools_av.get("L", [])] if isinstance(tools_av, dict) else []
    rpm, tpd = n("rpm"), n("tpd")
    return KeyRecord(
        key_id=s("key_id") or "",
        tenant=s("tenant") or "",
        name=s("name") or "",
        models=models,
        tools=tools,
        rpm=int(rpm) if rpm is not None else None,
        tpd=int(tpd) if tpd is not None else None,
        budget_usd=n("budget_usd"),
        cache=b("cache"),
        revoked=b("revoked"),
        created_at=s("created_at") or "",
        revoked_at=s("revoked_at"),
    )


def list_keys(client: Any, table: str, tenant: str | None = None) -> list[KeyRecord]:
    """Every key item (a Scan: an admin operation, not on the request path)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(pk, :p)",
        "ExpressionAttributeValues": {":p": {"S": "KEY#"}},
    }
    if tenant is not None:
        kwargs["FilterExpression"] += " AND tenant = :t"
        kwargs["ExpressionAttributeValues"][":t"] = {"S": tenant}
    records: list[KeyRecord] = []
    while True:
        resp: dict[str, Any] = client.scan(**kwargs)
        records.extend(_record(i) for i in resp.get("Items", []))
        last = resp.get("LastEvaluatedKey")
        if not last:
            break
        kwargs["ExclusiveStartKey"] = last
    records.sort(key=lambda r: (r.tenant, r.created_at, r.key_id))
    return records


def revoke_key(client: Any, table: str, key_id: str, now: float | None = None) -> bool:
    """Mark the key revoked; False when no such key id exists."""
    resp: dict[str, Any] = client.get_item(
        TableName=table, Key={"pk": {"S": f"KEYID#{key_id}"}, "sk": {"S": KEY_SK}}, ConsistentRead=True
    )
    item = resp.get("Item")
    if not item:
        return False
    key_hash = str(item["key_hash"]["S"])
    ts = {"S": _iso(time.time() if now is None else now)}
    client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": f"KEY#{key_hash}"}, "sk": {"S": KEY_SK}},
                    "UpdateExpression": "SET revoked = :t, revoked_at = :ts",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":t": {"BOOL": True}, ":ts": ts},
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": f"KEYID#{key_id}"}, "sk": {"S": KEY_SK}},
                    "UpdateExpression": "SET revoked = :t, revoked_at = :ts",
                    "ExpressionAttributeValues": {":t": {"BOOL": True}, ":ts": ts},
                }
            },
        ]
    )
    return True


# ---------------------------------------------------------------------------------------------------------
# CLI


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lambda_manifest.keys", description="Manage AI gateway virtual keys."
    )
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--table", required=True, help="DynamoDB table of the gateway")
    common.add_argument(
        "--region", default=None, help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, then the SDK's)"
    )
    common.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint (local testing)")
    common.add_argument("--json", action="store_true", help="machine-readable output")

    c = sub.add_parser("create", parents=[common], help="create a key and print it once")
    c.add_argument("--tenant", required=True)
    c.add_argument("--models", default="*", help="comma-separated model aliases, or * (default)")
    c.add_argument("--tools", default="", help="comma-separated MCP tools the key may call through an "
                   "McpToolGateway, or * (default: none)")
    c.add_argument("--name", default="", help="a label for humans")
    c.add_argument("--rpm", type=_positive_int, default=None, help="requests per minute for this key")
    c.add_argument("--tpd", type=_positive_int, default=None, help="tokens per UTC day for this key")
    c.add_argument("--budget-usd", type=_usd, default=None, help="monthly spend budget for this key (USD)")
    c.add_argument(
        "--cache", action="store_true", help="opt this key in to response caching at any temperature"
    )

    ls = sub.add_parser("list", parents=[common], help="list keys (never the key itself)")
    ls.add_argument("--tenant", default=None)

    r = sub.add_parser("revoke", parents=[common], help="revoke a key; refused by the gateway within its key cache TTL (10 s by default)")
    r.add_argument("--key-id", required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from botocore.exceptions import NoRegionError

    try:
        client = _client(args.region, args.endpoint_url)
    except NoRegionError:
        print("error: no AWS region: pass --region or set AWS_REGION", file=sys.stderr)
        return 2
    out = sys.stdout
    if args.command == "create":
        models = [m.strip() for m in str(args.models).split(",") if m.strip()]
        try:
            created = create_key(
                client,
                args.table,
                tenant=args.tenant,
                models=models,
                name=args.name,
                rpm=args.rpm,
                tpd=args.tpd,
                budget_usd=args.budget_usd,
                cache=args.cache,
                tools=[t.strip() for t in str(args.tools).split(",") if t.strip()],
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.json:
            out.write(json.dumps({"api_key": created.api_key, **asdict(created.record)}) + "\n")
        else:
            out.write(f"key_id:  {created.key_id}\n")
            out.write(f"tenant:  {created.record.tenant}\n")
            out.write(f"models:  {','.join(created.record.models)}\n")
            if created.record.tools:
                out.write(f"tools:   {','.join(created.record.tools)}\n")
            out.write(f"api_key: {created.api_key}\n")
            out.write("Store the api_key now: it is not stored and cannot be shown again.\n")
        return 0
    if args.command == "list":
        records = list_keys(client, args.table, args.tenant)
        if args.json:
            out.write(json.dumps([asdict(r) for r in records]) + "\n")
            return 0
        header = (
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
        )
        rows = [
            (
                r.key_id, r.tenant, r.name, ",".join(r.models), ",".join(r.tools) or "-", str(r.rpm or "-"), str(r.tpd or "-"),
                r.budget_usd or "-", "yes" if r.cache else "no", "revoked" if r.revoked else "active", r.created_at,
            )
            for r in records
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
        return 0
    # revoke
    if not revoke_key(client, args.table, args.key_id):
        print(f"error: no key with id {args.key_id}", file=sys.stderr)
        return 1
    out.write(
        json.dumps({"key_id": args.key_id, "revoked": True}) + "\n"
        if args.json
        else f"revoked {args.key_id}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
