"""Cold-start cost of encrypting a function's environment with the stack key instead of Lambda's AWS-managed key.

What Lambda does (AWS documentation, not measurable here): environment variables are always encrypted at rest
with a KMS key, ``aws/lambda`` unless ``KmsKeyArn`` names another. When an execution environment starts, the
Lambda service decrypts them with that key, before the runtime and the handler's init run. Switching to a
customer-managed key changes which key and whose permission (the execution role's ``kms:Decrypt``) the call
uses, not how many calls a cold start makes: one Decrypt either way, inside the Lambda service, in-region.

What cannot be measured on this machine: that in-region Decrypt (no AWS account; the network reaches only the
package registries). What this benchmark measures instead, interleaved in one run:

* A: one KMS ``Decrypt`` of a 4 KB environment blob (Lambda's limit) under key A, standing in for aws/lambda;
* B: the same under key B, standing in for the stack's customer-managed key;
* C: parsing the same environment without any KMS call (the floor).

KMS is moto's, over HTTP on 127.0.0.1, called with boto3 and a warm connection. So A and B measure the
client-side and loopback cost of one Decrypt round trip, and B - A shows whether the choice of key changes
it; neither is the figure Lambda pays in AWS, which is one in-region KMS round trip in both configurations.
The price side is exact: a customer-managed key's Decrypt is a billed KMS request.

Run: ``.venv/bin/python bench/bench_env_encryption.py [--rounds 300]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

KMS_REQUEST_PRICE = 0.03 / 10_000  # USD per request, us-east-1 list price (2025-06); 20,000 free per month
ENV_BYTES = 4096  # Lambda's limit for all environment variables of a function
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench"


def environment() -> dict[str, str]:
    env = {"POWERTOOLS_SERVICE_NAME": "bench", "POWERTOOLS_METRICS_NAMESPACE": "LambdaManifest",
           "POWERTOOLS_LOG_LEVEL": "INFO", "TABLE_NAME": "bench-table-0123456789"}
    env["LM_GATEWAY_CONFIG"] = "x" * (ENV_BYTES - len(json.dumps(env)) - 30)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stats(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{min(ms):.3f} | {statistics.median(ms):.3f} | {max(ms):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        kms = boto3.client("kms", endpoint_url=f"http://127.0.0.1:{port}")
        plaintext = json.dumps(environment()).encode()
        context = {"aws:lambda:FunctionArn": FUNCTION_ARN}
        blobs = {}
        for name in ("A", "B"):
            key = kms.create_key(Description=f"bench key {name}")["KeyMetadata"]["KeyId"]
            blobs[name] = kms.encrypt(KeyId=key, Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]

        def decrypt(name: str) -> Callable[[], object]:
            return lambda: json.loads(kms.decrypt(CiphertextBlob=blobs[name], EncryptionContext=context)["Plaintext"])

        sides: dict[str, Callable[[], object]] = {"A": decrypt("A"), "B": decrypt("B"),
                                                 "C": lambda: json.loads(plaintext)}
        for side in sides.values():  # warm the connection and moto's code paths
            side()
        samples: dict[str, list[float]] = {name: [] for name in sides}
        order = list(sides)
        for round_ in range(args.rounds):
            for name in order if round_ % 2 == 0 else reversed(order):
                start = time.perf_counter()
                sides[name]()
                samples[name].append(time.perf_counter() - start)
    finally:
        server.stop()

    print(f"Environment decrypt at cold start ({args.rounds} interleaved rounds, {len(plaintext):,}-byte environment, "
          "KMS = moto over loopback)\n")
    print("| side | min (ms) | median (ms) | max (ms) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| A: Decrypt, key A (stands in for aws/lambda) | {stats(samples['A'])} |")
    print(f"| B: Decrypt, key B (stands in for the stack key) | {stats(samples['B'])} |")
    print(f"| C: no KMS call, parse only | {stats(samples['C'])} |")
    delta = statistics.median(samples["B"]) - statistics.median(samples["A"])
    print(f"\nB - A, medians: {delta * 1000:+.3f} ms. Both configurations make one Decrypt per cold start; "
          f"with a customer-managed key it is a billed request: ${KMS_REQUEST_PRICE * 1e6:.2f} per million cold "
          "starts (the first 20,000 requests a month are free).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
