"""What the MCP tool gateway adds: latency per ``tools/call`` over invoking the tool function directly, and the
cold import of its handler.

Added latency (in-process fakes): the tool is a Python function behind a fake Lambda Invoke that serializes the
event and the result as Lambda does (JSON both ways). Side A invokes it directly, as a caller with
``lambda:InvokeFunction`` would; side B sends the same arguments as a 2026-07-28 ``tools/call`` request event
through ``lambda_manifest.runtime.mcp.handler`` (REST payload 1.0 in, proxy response out), with a virtual key
checked and the key's rpm counted against a fake DynamoDB client that answers at once. So B - A is the
gateway's own work: parsing the event and the JSON-RPC envelope, the key check and rpm admission code, schema
validation of the arguments, result shaping, the audit line and its metrics. On AWS each call adds two
DynamoDB round trips (the key's GetItem and the rpm UpdateItem, a few ms each in-region) and the API Gateway
hop, which this bench does not measure. A and B alternate call by call in each process (ABAB...), and several
fresh processes run, half starting with B; every process reports p50/p99 of both sides and of the per-pair
difference, and the table shows min / median / max of those over the processes.

Cold import: the MCP handler of the synthesized ``McpToolsStack`` laid out as Lambda lays it out
(``lambda_like.py``), imported in fresh Python 3.14 interpreters with the bytecode synth ships and without it,
interleaved. Target: under 60 ms with bytecode.

Run: ``.venv/bin/python bench/bench_mcp.py [--processes 6] [--calls 2000] [--runs 9] [--assembly cdk.out]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lambda_like import ROOT, Interpreter, Layout, functions, synthesized

TARGET_MS = 60.0

PROGRAM = r"""
import hashlib, json, os, statistics, sys, time
from decimal import Decimal

calls, first = int(sys.argv[1]), sys.argv[2]
KEY = "lmg-bench-key-0123456789abcdefghijklmnop"
ITEM = {"pk": {"S": "KEY#" + hashlib.sha256(KEY.encode()).hexdigest()}, "sk": {"S": "KEY"},
        "key_id": {"S": "key_bench"}, "tenant": {"S": "bench"}, "models": {"L": [{"S": "*"}]},
        "tools": {"L": [{"S": "*"}]}, "rpm": {"N": "1000000000"}, "revoked": {"BOOL": False}}

class FakeDynamoDB:
    def get_item(self, **kwargs):
        return {"Item": ITEM}
    def update_item(self, **kwargs):
        return {}
    def transact_write_items(self, **kwargs):
        return {}

def tool(event, context):
    return {"id": event["id"], "name": "Teapot", "price": 12.5, "tags": ["kitchen", "tea"]}

def invoke(function, payload, timeout_s):
    return json.dumps(tool(json.loads(payload), None)).encode(), None

os.environ["LM_MCP_CONFIG"] = json.dumps({"auth": {"mode": "keys"}, "metrics_namespace": "Bench", "tools": [
    {"name": "lookup_item", "description": "Look an item up", "validate": True, "timeout_s": 10,
     "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}}]})
os.environ["LM_MCP_FUNCTIONS"] = json.dumps({"lookup_item": "arn:aws:lambda:us-east-1:1:function:lookup"})
os.environ["LM_MCP_KEYS_TABLE"] = "bench"
from lambda_manifest.runtime.gateway import aws
from lambda_manifest.runtime.mcp import handler
aws.set_client("dynamodb", FakeDynamoDB())
sys.stdout = open(os.devnull, "w")  # the audit lines

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
def event(i):
    body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "lookup_item", "arguments": {"id": f"sku-{i}"}, "_meta": META}}
    return {"httpMethod": "POST", "path": "/mcp", "requestContext": {"requestId": f"r{i}"}, "body": json.dumps(body),
            "headers": {"authorization": "Bearer " + KEY, "content-type": "application/json",
                        "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "lookup_item"}}

def direct(i):
    payload, _ = invoke("lookup", json.dumps({"id": f"sku-{i}"}).encode(), 10)
    return json.loads(payload)

def gateway(i):
    reply = handler.handle(event(i), None, invoke=invoke)
    return json.loads(reply["body"])["result"]["structuredContent"]

for i in range(200):  # warm: lazy imports, first config read
    assert direct(i) == gateway(i)
a, b = [], []
clock = time.perf_counter
for i in range(calls):
    order = (("A", direct), ("B", gateway)) if (i % 2 == 0) == (first == "A") else (("B", gateway), ("A", direct))
    for side, run in order:
        started = clock()
        run(i)
        (a if side == "A" else b).append((clock() - started) * 1e6)
def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]
added = [y - x for x, y in zip(a, b)]
sys.stdout = sys.__stdout__
print(json.dumps({"a50": q(a, .5), "a99": q(a, .99), "b50": q(b, .5), "b99": q(b, .99),
                  "d50": q(added, .5), "d99": q(added, .99)}))
"""


def spread(values: list[float], unit: str = "") -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}{unit}"


def added_latency(processes: int, calls: int, python: str) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for index in range(processes):
        first = "A" if index % 2 == 0 else "B"
        out = subprocess.run([python, "-c", PROGRAM, str(calls), first], capture_output=True, text=True, env=env,
                             check=True)
        for name, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
            results.setdefault(name, []).append(value)
    return results


def cold_import(assembly: Path, runs: int) -> dict[str, list[float]]:
    targets = [f for f in functions(assembly) if f.handler.startswith("lambda_manifest.runtime.mcp.")]
    if not targets:
        raise SystemExit("no MCP gateway function in the assembly (synthesize app.py with McpToolsStack)")
    py314 = os.environ.get("LM_PYTHON3_14") or str(ROOT / ".venv-3.14" / "bin" / "python")
    if not Path(py314).exists():
        print("(no Python 3.14: set LM_PYTHON3_14 or run make install; cold import skipped)", file=sys.stderr)
        return {}
    samples: dict[str, list[float]] = {"source": [], "bytecode": []}
    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as tmp:
        interpreter = Interpreter(py314, Path(tmp))
        layouts = {"source": Layout(targets[0], interpreter, False, Path(tmp)),
                   "bytecode": Layout(targets[0], interpreter, True, Path(tmp))}
        floors = []
        for _ in range(runs):
            for name, layout in layouts.items():
                samples[name].append(layout.sample()["ms"])
            floors.append(interpreter.floor_ms())
        samples["floor"] = floors
        samples["modules"] = [layouts["bytecode"].sample()["modules"]]
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--assembly", type=Path)
    parser.add_argument("--python", default=os.environ.get("LM_PYTHON3_14") or str(ROOT / ".venv-3.14" / "bin" / "python"),
                        help="interpreter of the latency bench (default: the 3.14 venv, Lambda's version)")
    args = parser.parse_args()
    python = args.python if Path(args.python).exists() else sys.executable
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    r = added_latency(args.processes, args.calls, python)
    print(f"Added latency per tools/call, Python {version}, {args.calls} interleaved pairs in each of "
          f"{args.processes} processes; min / median / max over the processes, microseconds:\n")
    print("| | p50 (µs) | p99 (µs) |")
    print("| --- | ---: | ---: |")
    print(f"| A: invoke the tool function directly (fake Invoke, JSON both ways) | {spread(r['a50'])} | {spread(r['a99'])} |")
    print(f"| B: the same call as an MCP tools/call through the gateway handler | {spread(r['b50'])} | {spread(r['b99'])} |")
    print(f"| **added by the gateway (B - A, per pair)** | **{spread(r['d50'])}** | **{spread(r['d99'])}** |")
    samples = cold_import(synthesized(args.assembly), args.runs)
    if samples:
        median = statistics.median(samples["bytecode"])
        print(f"\nCold import of lambda_manifest.runtime.mcp.handler on Python 3.14 ({args.runs} fresh interpreters "
              f"each, interleaved; min / median / max, ms):\n")
        print("| with the bytecode synth ships | from source | interpreter floor (`python -B -c pass`) | modules | "
              f"< {TARGET_MS:.0f} ms |")
        print("| ---: | ---: | ---: | ---: | --- |")
        print(f"| {spread(samples['bytecode'])} | {spread(samples['source'])} | {spread(samples['floor'])} | "
              f"{samples['modules'][0]:.0f} | {'yes' if median < TARGET_MS else '**no**'} |")
    print(f"\n(load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
