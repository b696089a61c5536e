"""Benchmarks for the AI gateway runtime (``lambda_manifest/runtime/gateway``); prints Markdown tables.

1. Cold start: ``python -X importtime -c "import lambda_manifest.runtime.gateway.handler"`` in fresh subprocesses, median of 7, with
   precompiled bytecode (what a deployment package should ship) and from source only (no ``.pyc``; what a
   read-only ``/var/task`` without bytecode costs on every cold start). ``boto3`` for scale, and ``litellm``
   when ``LITELLM_PYTHON`` names a Python that has it (``--setup-litellm`` builds ``/tmp/litellm-venv`` with
   ``pip install "litellm<1.109"``; litellm is never installed in the project venv).
2. Overhead: the time the gateway handler adds over calling the same loopback fake provider directly, per
   request (interleaved pairs), p50/p99, with DynamoDB calls per request counted through the store wrapper,
   and the same overhead with DynamoDB round trips (moto in-process) subtracted.

Usage: ``python bench/bench_gateway.py [--requests 300] [--setup-litellm]``
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = ROOT / "lambda_src"
TESTS_HANDLERS = ROOT / "tests" / "handlers"
LITELLM_VENV = Path("/tmp/litellm-venv")

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


# ---------------------------------------------------------------------------------------------------------
# 1. Cold start


def _importtime_us(python: str, module: str, env: dict[str, str]) -> int:
    """Cumulative import time of ``module`` (microseconds) in a fresh interpreter."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    top_level = [
        int(line.split("|")[1])
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
        and line.rsplit("|", 1)[1] == f" {module}"  # not a nested re-import
    ]
    if top_level:
        return max(top_level)
    raise RuntimeError(f"no importtime line for {module}: {proc.stderr[-500:]}")


def median_import_ms(python: str, module: str, env: dict[str, str], runs: int = 7) -> float:
    return statistics.median(_importtime_us(python, module, env) for _ in range(runs)) / 1000


def setup_litellm() -> str:
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys._base_executable, "-m", "venv", str(LITELLM_VENV)], check=True)  # type: ignore[attr-defined]
        subprocess.run([str(python), "-m", "pip", "install", "-q", "litellm<1.109"], check=True)
    return str(python)


def cold_start(litellm_python: str | None) -> list[tuple[str, float]]:
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**base_env, "PYTHONPATH": str(LAMBDA_SRC), "PYTHONPYCACHEPREFIX": cache}
        _importtime_us(sys.executable, "lambda_manifest.runtime.gateway.handler", env)  # compile once
        rows.append(
            (
                "`import lambda_manifest.runtime.gateway.handler` (bytecode compiled)",
                median_import_ms(sys.executable, "lambda_manifest.runtime.gateway.handler", env),
            )
        )
    env = {**base_env, "PYTHONPATH": str(LAMBDA_SRC), "PYTHONDONTWRITEBYTECODE": "1"}
    rows.append(
        (
            "`import lambda_manifest.runtime.gateway.handler` (source only, no .pyc)",
            median_import_ms(sys.executable, "lambda_manifest.runtime.gateway.handler", env),
        )
    )
    rows.append(
        ("`import boto3` (deferred to first use)", median_import_ms(sys.executable, "boto3", base_env))
    )
    if litellm_python:
        rows.append(
            (
                "`import litellm` (litellm<1.109, own venv)",
                median_import_ms(litellm_python, "litellm", base_env),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------------------
# 2. Per-request overhead


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def overhead(requests: int) -> list[dict[str, Any]]:
    sys.path[:0] = [str(LAMBDA_SRC), str(TESTS_HANDLERS), str(ROOT)]
    from gateway_fakes import FakeContext, GatewayEnv, http_event

    from lambda_manifest.runtime.gateway import store
    from lambda_manifest.runtime.gateway.handler import main

    scenarios: list[tuple[str, dict[str, Any], dict[str, Any] | None, float]] = [
        ("miss, no limits, cache off", {}, {"cache": {"enabled": False}}, 0.7),
        (
            "miss, key+tenant rpm/tpd/budget, cache on",
            {"rpm": 10**6, "tpd": 10**9, "budget_usd": Decimal(10**6)},
            None,
            0.7,
        ),
        (
            "cache hit (no provider call), key+tenant limits",
            {"rpm": 10**6, "tpd": 10**9, "budget_usd": Decimal(10**6)},
            None,
            0.0,
        ),
    ]
    results = []
    for name, key_limits, config_patch, temperature in scenarios:

        def mutate(
            c: dict[str, Any], patch: dict[str, Any] | None = config_patch, limited: bool = bool(key_limits)
        ) -> None:
            if patch:
                c.update(patch)
            if limited:
                c["tenants"]["acme"] = {"rpm": 10**6, "tpd": 10**9, "budget_usd": 10**6}

        with GatewayEnv(mutate) as env, contextlib.redirect_stdout(io.StringIO()) as sink:
            key = env.create_key(**key_limits)
            body = {
                "model": "fast",
                "messages": [{"role": "user", "content": "hello there"}],
                "temperature": temperature,
            }
            event = http_event("POST", "/v1/chat/completions", body, key=key)
            direct_body = json.dumps({**body, "model": "gpt-4o-mini"})
            port = env.oa.server.server_address[1]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            headers = {
                "content-type": "application/json",
                "authorization": "Bearer sk-test-openai-0123456789abcdef",
            }

            def direct(
                conn: Any = conn, direct_body: str = direct_body, headers: dict[str, str] = headers
            ) -> float:
                t0 = time.perf_counter()
                conn.request("POST", "/v1/chat/completions", body=direct_body, headers=headers)
                json.loads(conn.getresponse().read())
                return (time.perf_counter() - t0) * 1000

            def gateway(event: dict[str, Any] = event) -> tuple[float, int, float]:
                c0, m0 = store.TOTALS.calls, store.TOTALS.ms
                t0 = time.perf_counter()
                resp = main(event, FakeContext())
                ms = (time.perf_counter() - t0) * 1000
                assert resp["statusCode"] == 200, resp
                return ms, store.TOTALS.calls - c0, store.TOTALS.ms - m0

            for _ in range(30):  # warm-up: clients, connections, caches
                direct()
                gateway()
            d_ms: list[float] = []
            g_ms: list[float] = []
            over: list[float] = []
            over_no_ddb: list[float] = []
            calls: list[int] = []
            ddb_ms: list[float] = []
            for _ in range(requests):
                d = direct()
                g, n, dm = gateway()
                d_ms.append(d)
                g_ms.append(g)
                over.append(g - d)
                over_no_ddb.append(g - dm - d)
                calls.append(n)
                ddb_ms.append(dm)
            conn.close()
            sink.truncate(0)
        results.append(
            {
                "scenario": name,
                "direct_p50": _pct(d_ms, 50),
                "gateway_p50": _pct(g_ms, 50),
                "over_p50": _pct(over, 50),
                "over_p99": _pct(over, 99),
                "over_no_ddb_p50": _pct(over_no_ddb, 50),
                "over_no_ddb_p99": _pct(over_no_ddb, 99),
                "ddb_ms_p50": _pct(ddb_ms, 50),
                "calls": sorted(set(calls)),
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--setup-litellm", action="store_true", help=f"create {LITELLM_VENV} with litellm<1.109"
    )
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args(argv)

    litellm_python = os.environ.get("LITELLM_PYTHON") or None
    if args.setup_litellm:
        litellm_python = setup_litellm()
    rows = cold_start(litellm_python)
    gateway_ms = rows[0][1]
    print("### Cold start: import time (fresh subprocess, `-X importtime`, median of 7)\n")
    print("| what | ms | vs gateway |")
    print("| --- | ---: | ---: |")
    for label, ms in rows:
        print(f"| {label} | {ms:.1f} | {ms / gateway_ms:.1f}x |")
    if not litellm_python:
        print("\n(litellm not measured: set LITELLM_PYTHON or pass --setup-litellm)")

    if not args.skip_overhead:
        results = overhead(args.requests)
        print(
            f"\n### Per-request overhead over calling the loopback provider directly ({args.requests} requests)\n"
        )
        print("| scenario | direct p50 ms | gateway p50 ms | overhead p50 ms | overhead p99 ms "
              "| DynamoDB calls/request | DynamoDB (moto) p50 ms | overhead excl. DynamoDB p50 ms | excl. DynamoDB p99 ms |")  # fmt: skip
        print("| --- | ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: |")
        for r in results:
            print(
                f"| {r['scenario']} | {r['direct_p50']:.2f} | {r['gateway_p50']:.2f} | {r['over_p50']:.2f} | "
                f"{r['over_p99']:.2f} | {'/'.join(map(str, r['calls']))} | {r['ddb_ms_p50']:.2f} | "
                f"{r['over_no_ddb_p50']:.2f} | {r['over_no_ddb_p99']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
