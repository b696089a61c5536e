"""Time to first token (TTFT) the AI gateway adds to a streamed completion; prints Markdown tables.

Five ways to the same loopback fake provider (OpenAI-compatible SSE, ``tests/handlers/gateway_fakes.py``),
interleaved request by request in one run (the order rotates each time):

* **direct**: a ``stream: true`` POST to the provider, until its first content event;
* **handler**: the gateway handler in-process with ``"stream": true`` (virtual key check, per-key rpm and
  tokens-per-day admission with its reservation, the provider's stream opened, the first chunk built), until its
  first content chunk;
* **runtime loop**: the same through the stream runtime's loop and the local runner's Runtime API (the chunked
  POST a Lambda function makes), until the first content chunk reaches the Runtime API;
* **handler, key without limits**: the handler for a key whose tenant has no limits either, so no admission call.

Each gateway path runs twice: with the key read on every request (``auth.key_cache_ttl_s`` 0, the gateway before
its key cache) and with the key cache (the default 10 s, on the real clock, so the key is read again every 10 s
as in a warm container serving a busy key).

TTFT added = that path minus the direct one of the same iteration. DynamoDB is moto in-process; its time before
the first token (the key read, when there is one, and the admission) is also reported subtracted, since in AWS
those calls cost what DynamoDB costs (single-digit ms) rather than what moto costs here. Each round gives
p50/p99; the tables show the min/median/max of those over the rounds.

Usage: ``python bench/bench_gateway_stream.py [--rounds 5] [--requests 200]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "handlers"), str(ROOT / "lambda_src"), str(ROOT)]
for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                    ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_REGION", "us-east-1")):  # fmt: skip
    os.environ.setdefault(name, value)

from lambda_manifest.runtime.gateway.contract import KEY_CACHE_TTL_SECONDS  # noqa: E402 (after sys.path)

CONTENT = b'"delta":{"content":"'
KEY_CACHE_TTL_S = float(KEY_CACHE_TTL_SECONDS)  # the default of auth.key_cache_ttl_s


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def run(rounds: int, requests: int) -> dict[str, dict[str, list[float]]]:
    from gateway_fakes import OPENAI_KEY, FakeContext, GatewayEnv, http_event

    from lambda_manifest.local.runtime_api import Pending, RuntimeApiServer
    from lambda_manifest.runtime.gateway import runtime, store, upstream
    from lambda_manifest.runtime.gateway.handler import main
    from lambda_manifest.runtime.stream import loop as stream_loop

    stats: dict[str, dict[str, list[float]]] = {}

    def note(side: str, metric: str, value: float) -> None:
        stats.setdefault(side, {}).setdefault(metric, []).append(value)

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), GatewayEnv() as env:
        key = env.create_key(rpm=10**6, tpd=10**9)
        env.reconfigure(lambda c: c.update(cache={"enabled": False}))
        body = {"model": "fast", "messages": [{"role": "user", "content": "hello there"}], "stream": True,
                "max_tokens": 50}  # fmt: skip
        event = http_event("POST", "/v1/chat/completions", body, key=key)
        # A key of a tenant without limits: no admission call (nothing to count or reserve).
        unlimited = http_event("POST", "/v1/chat/completions", body, key=env.create_key(tenant="globex"))
        direct_body = json.dumps({**body, "model": "gpt-4o-mini", "stream_options": {"include_usage": True}}).encode()
        direct_url = f"{env.oa.url}/v1/chat/completions"
        direct_headers = {"content-type": "application/json", "authorization": f"Bearer {OPENAI_KEY}"}

        def direct() -> tuple[float, float]:
            t0 = time.perf_counter()
            resp = upstream.request("POST", direct_url, direct_headers, direct_body, time.monotonic() + 10)
            first = 0.0
            for line in resp.iter_lines(time.monotonic() + 10):
                if first == 0.0 and line and line.startswith(b"data: {"):
                    choices = json.loads(line[6:]).get("choices") or [{}]
                    if choices[0].get("delta", {}).get("content"):
                        first = (time.perf_counter() - t0) * 1000
            return first, 0.0

        rt = runtime.get()
        rt.keys.clock = time.monotonic  # the real clock: a busy key is read again every 10 s

        def key_cache(ttl_s: float) -> None:
            rt.keys.ttl_s = ttl_s

        def handler(request: dict[str, object] = event) -> tuple[float, float]:
            m0 = store.TOTALS.ms
            t0 = time.perf_counter()
            resp = main(request, FakeContext())
            first, ddb = 0.0, 0.0
            for piece in resp.body:
                if first == 0.0 and CONTENT in piece:
                    first = (time.perf_counter() - t0) * 1000
                    ddb = store.TOTALS.ms - m0
            return first, ddb

        api = RuntimeApiServer()

        def serve() -> None:
            with contextlib.suppress(OSError):  # the Runtime API stops at the end of the run
                stream_loop.serve(stream_loop.RuntimeApi(api.address), main)

        threading.Thread(target=serve, daemon=True).start()
        sequence = [0]

        def runtime_loop() -> tuple[float, float]:
            sequence[0] += 1
            seen: dict[str, float] = {}
            m0 = store.TOTALS.ms
            t0 = time.perf_counter()

            def arrived(data: bytes) -> None:
                if "first" not in seen and CONTENT in data:
                    seen["first"] = (time.perf_counter() - t0) * 1000
                    seen["ddb"] = store.TOTALS.ms - m0

            pending = Pending({"id": sequence[0], "request_id": f"r{sequence[0]}", "event": event,
                               "deadline_ms": int(time.time() * 1000) + 30_000, "invoked_function_arn": "arn",
                               "trace_id": "Root=1-0"}, arrived)  # fmt: skip
            api.submit(pending)
            assert pending.done.wait(10) and pending.result.get("ok"), pending.result
            return seen["first"], seen["ddb"]

        def with_key_cache(ttl_s: float, fn: Callable[[], tuple[float, float]]) -> Callable[[], tuple[float, float]]:
            def side() -> tuple[float, float]:
                key_cache(ttl_s)
                return fn()

            return side

        sides = {"direct": direct,
                 "handler, key read per request": with_key_cache(0, handler),
                 f"handler, key cache {KEY_CACHE_TTL_S:g} s": with_key_cache(KEY_CACHE_TTL_S, handler),
                 "runtime loop, key read per request": with_key_cache(0, runtime_loop),
                 f"runtime loop, key cache {KEY_CACHE_TTL_S:g} s": with_key_cache(KEY_CACHE_TTL_S, runtime_loop),
                 f"handler, key without limits, key cache {KEY_CACHE_TTL_S:g} s":
                     with_key_cache(KEY_CACHE_TTL_S, lambda: handler(unlimited))}
        for _ in range(30):  # warm-up: connections, clients, imports
            for fn in sides.values():
                fn()
        order = list(sides)
        for _ in range(rounds):
            ttft: dict[str, list[float]] = {s: [] for s in sides}
            added: dict[str, list[float]] = {s: [] for s in sides if s != "direct"}
            added_no_ddb: dict[str, list[float]] = {s: [] for s in sides if s != "direct"}
            for i in range(requests):
                results: dict[str, tuple[float, float]] = {}
                shift = i % len(order)
                for side in order[shift:] + order[:shift]:  # rotate who goes first
                    results[side] = sides[side]()
                for side, (first, ddb) in results.items():
                    ttft[side].append(first)
                    if side != "direct":
                        added[side].append(first - results["direct"][0])
                        added_no_ddb[side].append(first - ddb - results["direct"][0])
            for side, values in ttft.items():
                note(side, "ttft_p50", pct(values, 50))
                note(side, "ttft_p99", pct(values, 99))
            for side in added:
                note(side, "added_p50", pct(added[side], 50))
                note(side, "added_p99", pct(added[side], 99))
                note(side, "added_no_ddb_p50", pct(added_no_ddb[side], 50))
                note(side, "added_no_ddb_p99", pct(added_no_ddb[side], 99))
        api.stop()
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    stats = run(args.rounds, args.requests)
    print(f"### Time to first token, streamed ({args.rounds} rounds x {args.requests} interleaved requests; "
          "min / median / max over the rounds, ms)\n")
    print("| path | TTFT p50 | TTFT p99 | added p50 | added p99 | added excl. DynamoDB p50 | excl. DynamoDB p99 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for side, m in stats.items():
        if side == "direct":
            print(f"| {side} | {spread(m['ttft_p50'])} | {spread(m['ttft_p99'])} | - | - | - | - |")
        else:
            print(f"| {side} | {spread(m['ttft_p50'])} | {spread(m['ttft_p99'])} | {spread(m['added_p50'])} | "
                  f"{spread(m['added_p99'])} | {spread(m['added_no_ddb_p50'])} | {spread(m['added_no_ddb_p99'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
