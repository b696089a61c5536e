"""Latency the gateway adds per API, and the handler's cold import after the new API modules.

1. Added latency (``--rounds`` rounds of ``--requests`` requests; in each step the APIs are called in a rotating
   order, each through the gateway handler in-process and directly against the same loopback fake provider):
   chat completions, Responses, Anthropic Messages translated to an OpenAI-compatible provider, Anthropic
   Messages passed through to an Anthropic provider, and embeddings. *Added* is the handler's time minus its
   DynamoDB time (moto in process, counted by the store wrapper) minus the direct call. p50 and p99 per round;
   min / median / max over the rounds.
2. Cold import of ``lambda_manifest.runtime.gateway.handler`` in fresh interpreters (``-X importtime``) on each
   Python given (default: this one and Lambda's 3.14 when installed), with compiled bytecode (what a package
   should ship) and from source only, interleaved; and which API modules that import loaded (none may).

Usage: ``python bench/bench_gateway_apis.py [--rounds 5] [--requests 200] [--python PATH ...] [--compare TREE]``
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS_HANDLERS = ROOT / "tests" / "handlers"
PY314 = Path.home() / ".cache/lm-runtimes/python3.14/usr/bin/python3.14"
HANDLER = "lambda_manifest.runtime.gateway.handler"
API_MODULES = ("api_responses", "api_messages", "api_embeddings", "provider_openai", "provider_anthropic",
               "provider_bedrock", "streaming")

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def added_latency(rounds: int, requests: int) -> dict[str, dict[str, list[float]]]:
    sys.path[:0] = [str(TESTS_HANDLERS), str(ROOT)]
    from gateway_fakes import ANTHROPIC_KEY, OPENAI_KEY, FakeContext, GatewayEnv, http_event

    from lambda_manifest.runtime.gateway import store
    from lambda_manifest.runtime.gateway.handler import main

    def mutate(c: dict[str, Any]) -> None:
        c["cache"] = {"enabled": False}
        c["models"]["embed"] = {"targets": [{"provider": "oa", "model": "text-embedding-3-small"}]}

    user = [{"role": "user", "content": "hello there"}]
    # name -> (gateway path, gateway body, fake, direct path, direct body, direct headers)
    with GatewayEnv(mutate) as env, contextlib.redirect_stdout(io.StringIO()) as sink:
        key = env.create_key()
        oa_headers = {"content-type": "application/json", "authorization": f"Bearer {OPENAI_KEY}"}
        an_headers = {"content-type": "application/json", "x-api-key": ANTHROPIC_KEY,
                      "anthropic-version": "2023-06-01"}
        chat_direct = {"model": "gpt-4o-mini", "messages": user}
        cases = {
            "chat completions (OpenAI-compatible)": (
                "/v1/chat/completions", {"model": "fast", "messages": user}, env.oa, "/v1/chat/completions",
                chat_direct, oa_headers),
            "Responses (OpenAI-compatible)": (
                "/v1/responses", {"model": "fast", "input": "hello there", "store": False}, env.oa,
                "/v1/chat/completions", chat_direct, oa_headers),
            "Messages, translated (OpenAI-compatible)": (
                "/v1/messages", {"model": "fast", "max_tokens": 100, "messages": user}, env.oa,
                "/v1/chat/completions", chat_direct, oa_headers),
            "Messages, passed through (Anthropic)": (
                "/v1/messages", {"model": "claude", "max_tokens": 100, "messages": user}, env.an, "/v1/messages",
                {"model": "claude-haiku", "max_tokens": 100, "messages": user}, an_headers),
            "embeddings (OpenAI-compatible)": (
                "/v1/embeddings", {"model": "embed", "input": ["hello there"], "encoding_format": "float"}, env.oa,
                "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["hello there"]}, oa_headers),
        }
        conns = {id(f): http.client.HTTPConnection("127.0.0.1", f.server.server_address[1], timeout=5)
                 for f in (env.oa, env.an)}
        events = {name: http_event("POST", c[0], c[1], key=key) for name, c in cases.items()}

        def direct(name: str) -> float:
            _, _, fake, path, body, headers = cases[name]
            conn = conns[id(fake)]
            t0 = time.perf_counter()
            conn.request("POST", path, body=json.dumps(body), headers=headers)
            json.loads(conn.getresponse().read())
            return (time.perf_counter() - t0) * 1000

        def gateway(name: str) -> tuple[float, float]:
            m0 = store.TOTALS.ms
            t0 = time.perf_counter()
            resp = main(events[name], FakeContext())
            ms = (time.perf_counter() - t0) * 1000
            assert resp["statusCode"] == 200, resp
            return ms, store.TOTALS.ms - m0

        names = list(cases)
        for _ in range(20):  # warm-up: clients, connections, the lazily imported modules
            for name in names:
                direct(name)
                gateway(name)
        results: dict[str, dict[str, list[float]]] = {n: {"p50": [], "p99": []} for n in names}
        for r in range(rounds):
            added: dict[str, list[float]] = {n: [] for n in names}
            for i in range(requests):
                k = (i + r) % len(names)
                for name in names[k:] + names[:k]:  # every API in every position, interleaved
                    d = direct(name)
                    g, ddb = gateway(name)
                    added[name].append(g - ddb - d)
            for name in names:
                results[name]["p50"].append(_pct(added[name], 50))
                results[name]["p99"].append(_pct(added[name], 99))
            sink.truncate(0)
            sink.seek(0)
        for conn in conns.values():
            conn.close()
    return results


def _import_us(python: str, env: dict[str, str]) -> tuple[int, list[str]]:
    code = (f"import sys, {HANDLER}; "
            f"print(','.join(m for m in {API_MODULES!r} if 'lambda_manifest.runtime.gateway.' + m in sys.modules))")
    proc = subprocess.run([python, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True,
                          check=True, cwd=env["PYTHONPATH"])
    us = max(int(line.split("|")[1]) for line in proc.stderr.splitlines()
             if line.startswith("import time:") and line.rsplit("|", 1)[1].strip() == HANDLER)
    return us, [m for m in proc.stdout.strip().split(",") if m]


def cold_import(pythons: list[str], runs: int, roots: list[Path]) -> list[tuple[str, str, list[float], list[str]]]:
    """``roots``: source trees to compare (this one first), every cell interleaved with the others."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        variants = []
        for n, root in enumerate(roots):
            tree = "" if n == 0 else f" ({root})"
            env_root = {**base, "PYTHONPATH": str(root)}
            for python in pythons:
                version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                         capture_output=True, text=True, check=True).stdout.strip()
                compiled = {**env_root, "PYTHONPYCACHEPREFIX": f"{cache}/{n}/{version}"}
                _import_us(python, compiled)  # compile once: the shipped bytecode
                variants.append((python, version + tree, "bytecode", compiled))
                variants.append((python, version + tree, "source only", {
                    **env_root, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": f"{cache}/none-{n}-{version}"}))
        samples: dict[int, list[float]] = {i: [] for i in range(len(variants))}
        loaded: dict[int, list[str]] = {}
        for _ in range(runs):  # round-robin: every variant sees the same machine load
            for i, (python, _, _, env) in enumerate(variants):
                us, mods = _import_us(python, env)
                samples[i].append(us / 1000)
                loaded[i] = mods
        for i, (_, version, kind, _) in enumerate(variants):
            rows.append((version, kind, samples[i], loaded[i]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--python", action="append", help="interpreters for the cold import (repeatable)")
    parser.add_argument("--compare", type=Path, action="append", default=[],
                        help="another source tree whose handler import to measure interleaved (e.g. main's)")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)
    pythons = args.python or [sys.executable, *([str(PY314)] if PY314.exists() else [])]
    print(f"### Handler cold import ({args.runs} fresh interpreters per cell, round-robin; ms)\n")
    print("| Python | modules | min | median | max | API modules loaded |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for version, kind, samples, loaded in cold_import(pythons, args.runs, [ROOT, *args.compare]):
        print(f"| {version} | {kind} | {min(samples):.1f} | {statistics.median(samples):.1f} | {max(samples):.1f} "
              f"| {', '.join(loaded) or 'none'} |")
    if not args.skip_latency:
        results = added_latency(args.rounds, args.requests)
        print(f"\n### Added latency per API, DynamoDB excluded ({args.rounds} rounds x {args.requests} requests per "
              "API, interleaved; min / median / max over the rounds, ms)\n")
        print("| API (provider) | added p50 | added p99 |")
        print("| --- | ---: | ---: |")
        for name, r in results.items():
            print(f"| {name} | {_spread(r['p50'])} | {_spread(r['p99'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
