"""Cold-start import cost of the API handlers and the authorizer's per-request cost.

(a) ``python -X importtime -c "import <handler>"`` in fresh interpreters (median of 7 after one warm-up run
    that fills the bytecode cache). Self is the handler module's own line; cumulative is the sum of the
    cumulative times of every top-level import the statement triggered (the handler's package ``__init__``
    plus the handler module), i.e. everything the import cost beyond interpreter start-up. The last column
    checks that boto3 stayed lazy.
(b) The authorizer deciding an RS256 bearer token with the JWKS already cached (served once by a loopback
    HTTP server), ~2000 calls in-process: ``Authorizer.decide`` alone and the full ``handler.main`` (with
    Powertools' Lambda-context injection and its JSON log line, written to /dev/null).

Run: ``.venv/bin/python bench/bench_api_handlers.py [--runs 7] [--calls 2000]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "lambda_src"
MODULES = ("lambda_manifest.runtime.authorizer.handler", "items_api.handler", "partner_api.handler")
MARK = "--lm-bench-mark--"


# --- (a) import time -------------------------------------------------------------------------------------


def _import_once(module: str) -> tuple[float, float, bool]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "POWERTOOLS_SERVICE_NAME": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("POWERTOOLS_DEV", None)
    code = (
        f"import sys; sys.stderr.write({MARK!r} + '\\n'); sys.stderr.flush(); import {module}; "
        "print('boto3' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, cwd=SRC
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{result.stderr[-2000:]}")
    lines = result.stderr.split(MARK, 1)[1].splitlines()
    self_us = cumulative_us = 0
    for line in lines:
        if not line.startswith("import time:"):
            continue
        self_part, cumulative_part, name = line.removeprefix("import time:").split("|")
        if not name.startswith("  "):  # top level: one separating space, no nesting indentation
            cumulative_us += int(cumulative_part)
        if name.strip() == module:
            self_us = int(self_part)
    return self_us / 1000, cumulative_us / 1000, result.stdout.strip() == "True"


def import_times(runs: int) -> list[tuple[str, float, float, bool]]:
    rows = []
    for module in MODULES:
        _import_once(module)
        samples = [_import_once(module) for _ in range(runs)]
        rows.append(
            (
                module,
                statistics.median(s[0] for s in samples),
                statistics.median(s[1] for s in samples),
                any(s[2] for s in samples),
            )
        )
    return rows


# --- (b) authorizer per-request time ----------------------------------------------------------------------


def _rsa_key() -> tuple[int, int, int]:
    """(n, e, d) for a 2048-bit key: from ``cryptography`` when installed, else generated here."""
    try:
        from cryptography.hazmat.primitives.asymmetric import rsa

        numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
        return numbers.public_numbers.n, numbers.public_numbers.e, numbers.d
    except ImportError:
        pass

    def probable_prime(bits: int) -> int:
        while True:
            candidate = random.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
            if all(candidate % p for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)) and _miller_rabin(
                candidate
            ):
                return candidate

    e = 65537
    while True:
        p, q = probable_prime(1024), probable_prime(1024)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            return p * q, e, pow(e, -1, phi)


def _miller_rabin(n: int, rounds: int = 40) -> bool:
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(random.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _serve_jwks(document: dict[str, Any]) -> ThreadingHTTPServer:
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) / 1000, p99 / 1000


def _time(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    for _ in range(50):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return _percentiles(samples)


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-request"


def authorizer_times(calls: int) -> list[tuple[str, float, float]]:
    sys.path.insert(0, str(SRC))
    from lambda_manifest.runtime.authorizer import handler
    from lambda_manifest.runtime.authorizer.jwt import public_jwk, sign_rs256

    n, e, d = _rsa_key()
    server = _serve_jwks({"keys": [public_jwk(n, e, "bench-key")]})
    os.environ.update(
        {
            "LM_AUTH_JWKS_URL": f"http://127.0.0.1:{server.server_address[1]}/jwks.json",
            "LM_AUTH_ISSUER": "https://idp.example.com/",
            "LM_AUTH_AUDIENCE": "bench-api",
        }
    )
    now = int(time.time())
    claims = {
        "sub": "user-1",
        "iss": "https://idp.example.com/",
        "aud": "bench-api",
        "iat": now,
        "exp": now + 3600,
        "tenant": "acme",
        "scope": "items:read items:write",
    }
    token = sign_rs256(claims, n=n, d=d, kid="bench-key")
    event = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/items",
        "identitySource": [f"Bearer {token}"],
        "routeKey": "GET /items",
        "rawPath": "/items",
        "headers": {"authorization": f"Bearer {token}", "host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "requestId": "bench-req",
            "stage": "$default",
            "http": {"method": "GET", "path": "/items"},
        },
    }
    handler.reset()
    with open(os.devnull, "w") as devnull:
        handler.logger.registered_handler.setStream(devnull)  # type: ignore[attr-defined]
        try:
            authorizer = handler.authorizer()
            first = authorizer.decide(event)
            if not first.allow:
                raise RuntimeError(f"benchmark token was denied: {first.reason}")
            rows = [
                ("`Authorizer.decide` (RS256, JWKS cached)", *_time(lambda: authorizer.decide(event), calls)),
                (
                    "`handler.main` (same, plus Powertools log line)",
                    *_time(lambda: handler.main(event, _Context()), calls),
                ),
            ]
        finally:
            handler.logger.registered_handler.setStream(sys.stdout)  # type: ignore[attr-defined]
            server.shutdown()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}, {args.runs} fresh-interpreter runs per module (median)\n")
    print("| handler import | self (ms) | cumulative (ms) | boto3 imported |")
    print("| --- | ---: | ---: | --- |")
    for module, self_ms, cumulative_ms, boto3_loaded in import_times(args.runs):
        print(f"| `{module}` | {self_ms:.2f} | {cumulative_ms:.1f} | {'yes' if boto3_loaded else 'no'} |")

    print(f"\n| authorizer per request ({args.calls} calls) | median (µs) | p99 (µs) |")
    print("| --- | ---: | ---: |")
    for label, median_us, p99_us in authorizer_times(args.calls):
        print(f"| {label} | {median_us:.0f} | {p99_us:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
