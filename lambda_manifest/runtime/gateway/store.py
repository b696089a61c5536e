"""DynamoDB single-table store: keys, quotas, usage, response cache, conversations.

Table (name in env ``LM_GATEWAY_TABLE``)
---------------------------------------
* Key schema: ``pk`` (S, partition key) + ``sk`` (S, sort key). No GSI, no LSI. On-demand billing suggested.
* TTL attribute: ``expires_at`` (N, epoch seconds). DynamoDB deletes lazily (up to days later), so every read
  of a TTL'd item also checks ``expires_at`` itself.

=================  ==============================  =====================  =====================================
item               pk                              sk                     attributes (expires_at)
=================  ==============================  =====================  =====================================
virtual key        ``KEY#<sha256(key) hex>``       ``KEY``                key_id, tenant, name, models (L of S,
                                                                          "*" = any), rpm?, tpd?, budget_usd?,
                                                                          cache (BOOL), revoked (BOOL),
                                                                          created_at, revoked_at? (never)
key-id pointer     ``KEYID#<key_id>``              ``KEY``                key_hash, tenant, name, created_at,
                                                                          revoked (never) - for revoke by id
rate window        ``Q#K#<key_id>`` / ``Q#T#<t>``  ``MIN#YYYYMMDDHHMM``   n (window end + 120 s)
daily usage        ``Q#K#<key_id>`` / ``Q#T#<t>``  ``DAY#YYYY-MM-DD``     requests, prompt_tokens,
                                                                          completion_tokens, tokens, cost_usd,
                                                                          cached_tokens, cache_write_tokens,
                                                                          cache_hits, errors,
                                                                          ``m:<alias>:requests|tokens|cost_usd``,
                                                                          quota_tokens (day end + usage_ttl_days)
monthly spend      ``Q#K#<key_id>`` / ``Q#T#<t>``  ``MON#YYYY-MM``        requests, tokens, cost_usd, quota_cost
                                                                          (month end + usage_ttl_days)
response cache     ``CACHE#<sha256(request)>``     ``RESP``               tenant, body (S, JSON), created_at
                                                                          (now + cache.ttl_s)
conversation       ``CONV#<tenant>#<id>``          ``CONV``               messages (S, JSON list), system?,
                                                                          summary?, updated_at
                                                                          (now + context.ttl_s)
=================  ==============================  =====================  =====================================

``tokens``/``cost_usd`` are what requests used. ``quota_tokens``/``quota_cost`` are what the limits count: the
usage of settled requests plus what requests in flight hold (see ``Store.admit``).

DynamoDB calls per request (every call goes through ``Store._call`` which counts and times it)
------------------------------------------------------------------------------------------------
Chat completion / prompt endpoint, cache miss, no conversation - at most 4:

1. ``GetItem`` (ConsistentRead) of the key item, before the body is even parsed: a caller without a valid key
   costs no parsing and learns nothing about the body. Keys are never cached, so a revoked key is refused at
   once.
2. ``GetItem`` of the cache item, when the request is cacheable (else no call).
3. Admission, one call: ``TransactWriteItems`` of conditional ``ADD``s, only on the items whose limit is set
   (a single one becomes a conditional ``UpdateItem``; no limits at all -> no call): ``n`` of the key's and
   the tenant's ``MIN#`` window (``n < rpm``), ``quota_tokens`` of the ``DAY#`` items
   (``quota_tokens <= tpd - reserve``) and ``quota_cost`` of the ``MON#`` items
   (``quota_cost <= budget - reserve``). All-or-nothing: a refused request holds nothing, and the counters
   hold across concurrent containers (no in-memory counters).
4. Settlement, one ``TransactWriteItems``: ``ADD`` actual tokens/cost (and actual - reserved to ``quota_*``) to
   the key's and tenant's ``DAY#`` and ``MON#`` items (+ ``Put`` of the cache item on a cacheable miss). A
   streamed answer settles when its stream ends, also when the client went away.

A cache hit also uses 4 (no tokens are reserved for it). A conversation adds one ``GetItem`` before routing and
one ``PutItem`` after. ``GET /v1/models`` uses 1, ``GET /v1/usage`` 2, ``GET|DELETE /v1/conversations/{id}`` 2.
A ``TransactionConflict`` (concurrent transactions on a hot tenant item) is retried up to 3 times with jitter;
those retries are extra, counted calls. The tenant ``DAY#``/``MON#``/``MIN#`` items are the hot items: one
tenant tops out around the per-item write rate of DynamoDB (~1,000 writes/s, fewer under transaction conflicts).

Why this module is longer than 500 lines: the table layout above is one contract, and every reader and writer
of it (keys, rate windows, usage, cache, conversations) sits beside it, so a change to an item's shape is one
reviewed diff (the layout and its call counts are sixty of its lines).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

KEY_SK = "KEY"
CACHE_SK = "RESP"
CONV_SK = "CONV"
MAX_CONFLICT_RETRIES = 3
RECENT_OPS = 64


def key_pk(key_hash: str) -> str:
    return f"KEY#{key_hash}"


def keyid_pk(key_id: str) -> str:
    return f"KEYID#{key_id}"


def quota_pk(scope: str, ident: str) -> str:
    return f"Q#{scope}#{ident}"


def cache_pk(cache_key: str) -> str:
    return f"CACHE#{cache_key}"


def conv_pk(tenant: str, conversation_id: str) -> str:
    return f"CONV#{tenant}#{conversation_id}"


# ---------------------------------------------------------------------------------------------------------
# Time windows (UTC)


def minute_id(now: float) -> str:
    return time.strftime("%Y%m%d%H%M", time.gmtime(now))


def day_id(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def month_id(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


def seconds_to_next_minute(now: float) -> int:
    return max(1, int(60 - (now % 60) + 0.999))


def seconds_to_next_day(now: float) -> int:
    return max(1, int(86400 - (now % 86400) + 0.999))


def seconds_to_next_month(now: float) -> int:
    t = time.gmtime(now)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return max(1, int(_days_from_civil(year, month, 1) * 86400 - now + 0.999))


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; avoids importing calendar)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


# ---------------------------------------------------------------------------------------------------------
# Attribute-value helpers for the low-level client (no boto3.resource: it is slow to import).


def S(value: str) -> dict[str, str]:
    return {"S": value}


def N(value: int | Decimal | str) -> dict[str, str]:
    return {"N": str(value)}


def plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """Low-level item -> plain dict (N -> int or Decimal)."""
    if item is None:
        return None
    return {k: _from_av(v) for k, v in item.items()}


def _from_av(av: dict[str, Any]) -> Any:
    (kind, value), *_ = av.items()
    if kind == "S":
        return value
    if kind == "N":
        d = Decimal(value)
        return int(d) if d == d.to_integral_value() and "." not in value and "E" not in value.upper() else d
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "L":
        return [_from_av(x) for x in value]
    if kind == "M":
        return {k: _from_av(v) for k, v in value.items()}
    if kind in ("SS", "NS"):
        return list(value)
    return value


# ---------------------------------------------------------------------------------------------------------
# Call counting


@dataclass
class CallStats:
    calls: int = 0
    ms: float = 0.0
    ops: list[str] = field(default_factory=list)


class _Totals:
    """Process-wide totals (thread-safe) that the tests and the bench read and reset: counters, and the last
    ``RECENT_OPS`` operation names (bounded, so a warm container's memory does not grow with its traffic)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.ms = 0.0
        self._ops: deque[str] = deque(maxlen=RECENT_OPS)

    @property
    def ops(self) -> list[str]:
        with self._lock:
            return list(self._ops)

    def add(self, op: str, ms: float) -> None:
        with self._lock:
            self.calls += 1
            self.ms += ms
            self._ops.append(op)

    def reset(self) -> None:
        with self._lock:
            self.calls, self.ms = 0, 0.0
            self._ops.clear()


TOTALS = _Totals()


class QuotaExceeded(Exception):
    def __init__(self, kind: str, scope: str, retry_after: int, *, never: bool = False) -> None:
        super().__init__(f"{scope} {kind} quota exceeded")
        self.kind = kind  # "rpm" | "tpd" | "budget" | "contention"
        self.scope = scope  # "key" | "tenant"
        self.retry_after = retry_after
        self.never = never  # this request alone reserves more than the whole limit


@dataclass
class Limits:
    rpm: int | None = None
    tpd: int | None = None
    budget_usd: Decimal | None = None


@dataclass
class Hold:
    """What admission reserved, per scope (``K`` key, ``T`` tenant): settled (and so released) by ``record``."""

    tokens: dict[str, int] = field(default_factory=dict)
    cost: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class UsageDelta:
    alias: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    cached_tokens: int = 0  # prompt tokens read from the provider's cache (included in prompt_tokens)
    cache_write_tokens: int = 0  # prompt tokens written to it (included in prompt_tokens)
    cache_hit: bool = False
    error: bool = False

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _day_expiry(now: float, usage_ttl_days: int) -> int:
    return int(now // 86400 * 86400) + 86400 + usage_ttl_days * 86400


def _month_expiry(now: float, usage_ttl_days: int) -> int:
    return int(now) + seconds_to_next_month(now) + usage_ttl_days * 86400


class Store:
    """Thin wrapper over a low-level DynamoDB client; one instance per request (it carries the stats)."""

    def __init__(self, client: Any, table: str, stats: CallStats | None = None) -> None:
        self.client = client
        self.table = table
        self.stats = stats if stats is not None else CallStats()

    def _call(self, op: str, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return getattr(self.client, op)(**kwargs)
        finally:
            ms = (time.perf_counter() - t0) * 1000
            self.stats.calls += 1
            self.stats.ms += ms
            self.stats.ops.append(op)
            TOTALS.add(op, ms)

    def _k(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": S(pk), "sk": S(sk)}

    # -- 1. key, then cache -----------------------------------------------------------------------------------

    def get_key(self, key_hash: str) -> dict[str, Any] | None:
        """The key item, read consistently: a revoked key is refused at once."""
        r = self._call("get_item", TableName=self.table, Key=self._k(key_pk(key_hash), KEY_SK), ConsistentRead=True)
        return plain(r.get("Item"))

    def get_cache(self, cache_key: str) -> dict[str, Any] | None:
        """The cached answer (an eventually consistent read: a miss right after a write only costs a call)."""
        r = self._call("get_item", TableName=self.table, Key=self._k(cache_pk(cache_key), CACHE_SK))
        return plain(r.get("Item"))

    # -- 2. admission ---------------------------------------------------------------------------------------

    def admit(
        self,
        key_id: str,
        tenant: str,
        key_limits: Limits,
        tenant_limits: Limits,
        now: float,
        *,
        reserve_tokens: int = 0,
        reserve_cost: Decimal = Decimal(0),
        usage_ttl_days: int = 400,
    ) -> Hold:
        """Count this request against the rate windows and reserve its tokens and cost, atomically.

        Every limited counter is one conditional ``ADD``: ``n < rpm`` for the minute window, and
        ``quota_tokens <= tpd - reserve`` / ``quota_cost <= budget - reserve`` for the day and month, where
        ``quota_*`` is what settled requests used plus what requests in flight hold. DynamoDB applies each
        conditional update atomically and the transaction all-or-nothing, so concurrent callers in any number
        of containers can never hold more than the limit together, and a refused request holds nothing.
        """
        items: list[dict[str, Any]] = []
        meta: list[tuple[str, str, int]] = []
        hold = Hold()
        minute, day, month = minute_id(now), day_id(now), month_id(now)
        window_exp = int(now // 60 * 60) + 60 + 120
        for scope, ident, lim in (("key", key_id, key_limits), ("tenant", tenant, tenant_limits)):
            code = "K" if scope == "key" else "T"
            pk = quota_pk(code, ident)
            if lim.rpm is not None:
                items.append(self._conditional_add(pk, f"MIN#{minute}", "n", N(1), N(lim.rpm - 1), window_exp))
                meta.append(("rpm", scope, seconds_to_next_minute(now)))
            if lim.tpd is not None:
                if reserve_tokens > lim.tpd:
                    raise QuotaExceeded("tpd", scope, seconds_to_next_day(now), never=True)
                items.append(self._conditional_add(pk, f"DAY#{day}", "quota_tokens", N(reserve_tokens),
                                                   N(lim.tpd - reserve_tokens), _day_expiry(now, usage_ttl_days)))
                meta.append(("tpd", scope, seconds_to_next_day(now)))
                hold.tokens[code] = reserve_tokens
            if lim.budget_usd is not None:
                if reserve_cost > lim.budget_usd:
                    raise QuotaExceeded("budget", scope, seconds_to_next_month(now), never=True)
                items.append(self._conditional_add(pk, f"MON#{month}", "quota_cost", N(reserve_cost),
                                                   N(lim.budget_usd - reserve_cost),
                                                   _month_expiry(now, usage_ttl_days)))
                meta.append(("budget", scope, seconds_to_next_month(now)))
                hold.cost[code] = reserve_cost
        if not items:
            return hold
        from botocore.exceptions import ClientError

        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            try:
                if len(items) == 1:
                    self._call("update_item", **items[0]["Update"])
                else:
                    self._call("transact_write_items", TransactItems=items)
                return hold
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ConditionalCheckFailedException":
                    raise QuotaExceeded(*meta[0]) from None
                if code != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                for i, reason in enumerate(reasons):
                    if reason == "ConditionalCheckFailed" and i < len(meta):
                        raise QuotaExceeded(*meta[i]) from None
                if attempt == MAX_CONFLICT_RETRIES:
                    raise QuotaExceeded("contention", "tenant", 1) from None
                time.sleep(random.uniform(0.005, 0.02 * (2**attempt)))
        return hold  # pragma: no cover

    def _conditional_add(
        self, pk: str, sk: str, attr: str, amount: dict[str, str], at_most: dict[str, str], expires_at: int
    ) -> dict[str, Any]:
        """``ADD attr amount`` if ``attr`` is at most ``at_most`` before it (absent counts as 0)."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": self._k(pk, sk),
                "UpdateExpression": "ADD #a :amount SET #e = if_not_exists(#e, :exp)",
                "ConditionExpression": "attribute_not_exists(#a) OR #a <= :max",
                "ExpressionAttributeNames": {"#a": attr, "#e": "expires_at"},
                "ExpressionAttributeValues": {":amount": amount, ":max": at_most, ":exp": N(expires_at)},
            }
        }

    # -- 3. accounting --------------------------------------------------------------------------------------

    def record(
        self,
        key_id: str,
        tenant: str,
        usage: UsageDelta,
        now: float,
        usage_ttl_days: int,
        cache_put: tuple[str, str, int] | None = None,
        hold: Hold | None = None,
    ) -> None:
        """ADD the request's usage to the daily and monthly items, settle what admission held (the difference
        between the actual usage and the reservation, so a failed request releases all of it), and put the cache
        item: one call."""
        hold = hold or Hold()
        day, month = day_id(now), month_id(now)
        day_exp = _day_expiry(now, usage_ttl_days)
        mon_exp = _month_expiry(now, usage_ttl_days)
        day_names = {
            "#rq": "requests", "#pt": "prompt_tokens", "#ct": "completion_tokens", "#tk": "tokens",
            "#c": "cost_usd", "#ch": "cache_hits", "#er": "errors", "#e": "expires_at", "#qt": "quota_tokens",
            "#mr": f"m:{usage.alias}:requests", "#mt": f"m:{usage.alias}:tokens", "#mc": f"m:{usage.alias}:cost_usd",
            "#cr": "cached_tokens", "#cw": "cache_write_tokens",
        }  # fmt: skip
        day_expr = (
            "ADD #rq :one, #pt :pt, #ct :ct, #tk :tk, #c :c, #ch :ch, #er :er, #mr :one, #mt :tk, #mc :c, #qt :qt, "
            "#cr :cr, #cw :cw SET #e = if_not_exists(#e, :exp)"
        )
        mon_names = {"#rq": "requests", "#tk": "tokens", "#c": "cost_usd", "#e": "expires_at", "#qc": "quota_cost"}
        mon_expr = "ADD #rq :one, #tk :tk, #c :c, #qc :qc SET #e = if_not_exists(#e, :exp)"
        items: list[dict[str, Any]] = []
        for code, ident in (("K", key_id), ("T", tenant)):
            pk = quota_pk(code, ident)
            day_values = {
                ":one": N(1), ":pt": N(usage.prompt_tokens), ":ct": N(usage.completion_tokens),
                ":tk": N(usage.tokens), ":c": N(usage.cost_usd), ":ch": N(1 if usage.cache_hit else 0),
                ":er": N(1 if usage.error else 0), ":exp": N(day_exp),
                ":qt": N(usage.tokens - hold.tokens.get(code, 0)), ":cr": N(usage.cached_tokens),
                ":cw": N(usage.cache_write_tokens),
            }  # fmt: skip
            mon_values = {
                ":one": N(1), ":tk": N(usage.tokens), ":c": N(usage.cost_usd), ":exp": N(mon_exp),
                ":qc": N(usage.cost_usd - hold.cost.get(code, Decimal(0))),
            }  # fmt: skip
            items.append(self._update(pk, f"DAY#{day}", day_expr, day_names, day_values))
            items.append(self._update(pk, f"MON#{month}", mon_expr, mon_names, mon_values))
        if cache_put is not None:
            ckey, body, ttl_s = cache_put
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            **self._k(cache_pk(ckey), CACHE_SK),
                            "tenant": S(tenant),
                            "body": S(body),
                            "created_at": N(int(now)),
                            "expires_at": N(int(now) + ttl_s),
                        },
                    }
                }
            )
        from botocore.exceptions import ClientError

        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            try:
                self._call("transact_write_items", TransactItems=items)
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException" or (
                    attempt == MAX_CONFLICT_RETRIES
                ):
                    raise
                time.sleep(random.uniform(0.005, 0.02 * (2**attempt)))

    def _update(
        self, pk: str, sk: str, expr: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table,
                "Key": self._k(pk, sk),
                "UpdateExpression": expr,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    # -- usage endpoint -------------------------------------------------------------------------------------

    def get_usage(self, key_id: str, day: str) -> dict[str, Any]:
        r = self._call(
            "get_item",
            TableName=self.table,
            Key=self._k(quota_pk("K", key_id), f"DAY#{day}"),
            ConsistentRead=True,
        )
        return plain(r.get("Item")) or {}

    # -- conversations --------------------------------------------------------------------------------------

    def get_conversation(self, tenant: str, conversation_id: str, now: float) -> dict[str, Any] | None:
        r = self._call(
            "get_item",
            TableName=self.table,
            Key=self._k(conv_pk(tenant, conversation_id), CONV_SK),
            ConsistentRead=True,
        )
        item = plain(r.get("Item"))
        if item is None or int(item.get("expires_at", 0)) <= now:
            return None
        return item

    def put_conversation(
        self,
        tenant: str,
        conversation_id: str,
        messages_json: str,
        system: str | None,
        summary: str | None,
        now: float,
        ttl_s: int,
    ) -> None:
        item: dict[str, Any] = {
            **self._k(conv_pk(tenant, conversation_id), CONV_SK),
            "messages": S(messages_json),
            "updated_at": N(int(now)),
            "expires_at": N(int(now) + ttl_s),
        }
        if system:
            item["system"] = S(system)
        if summary:
            item["summary"] = S(summary)
        self._call("put_item", TableName=self.table, Item=item)

    def delete_conversation(self, tenant: str, conversation_id: str, now: float) -> bool:
        r = self._call(
            "delete_item",
            TableName=self.table,
            Key=self._k(conv_pk(tenant, conversation_id), CONV_SK),
            ReturnValues="ALL_OLD",
        )
        old = plain(r.get("Attributes"))
        return old is not None and int(old.get("expires_at", 0)) > now
