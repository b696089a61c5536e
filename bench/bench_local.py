"""Benchmark the local runner (``python -m lambda_manifest.local``).

1. Start-up: time from starting the runner (``cdk.out`` up to date, so no synth) to the first served
   request, for a one-route app and for every example stack of ``app.py`` (first request = cold starts of
   the authorizer and the handler).
2. Throughput: requests per second through an HTTP API route whose handler returns a constant, with one
   client and with ten concurrent clients (keep-alive connections, clients in this process), against a bare
   ``ThreadingHTTPServer`` in its own process that answers the same request with the same bytes and no
   emulation. The two servers are measured in turns (bare, runner, runner, bare, ...), several rounds, and
   the table gives min / median / max; the target is the runner at 10 clients at least 0.8x the bare
   server at 10 clients.
3. CPU per request (Linux, from ``/proc``): in the server's process, in the function's worker processes
   (the runner's children running ``_bootstrap.py``) and in the clients (this process), median of the
   rounds at 10 clients, to show where a request's cost goes.

Prints a Markdown table. Run: ``.venv/bin/python bench/bench_local.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

TRIVIAL = "def main(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"

# The baseline: what serving this route costs with no emulation at all.
BARE = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def synth_trivial(root: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_apigatewayv2 as apigw
    from aws_cdk import aws_apigatewayv2_integrations as integrations
    from aws_cdk import aws_lambda as lambda_

    code = root / "handler"
    code.mkdir(parents=True)
    (code / "handler.py").write_text(TRIVIAL)
    (root / "cdk.json").write_text('{"app": "python app.py"}\n')
    app = cdk.App(outdir=str(root / "cdk.out"))
    stack = cdk.Stack(app, "BenchStack")
    function = lambda_.Function(stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_12, handler="handler.main",
                                code=lambda_.Code.from_asset(str(code)), memory_size=256)
    api = apigw.HttpApi(stack, "Api")
    api.add_routes(path="/ping", methods=[apigw.HttpMethod.GET],
                   integration=integrations.HttpLambdaIntegration("Ping", function))
    app.synth()
    time.sleep(0.05)
    os.utime(root / "cdk.out" / "manifest.json")  # newer than every source: up to date


def start(app_dir: Path, assembly: Path, ready: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lambda_manifest.local", "--app-dir", str(app_dir), "--assembly", str(assembly),
         "--port", "0", "--quiet", "--ready-file", str(ready), *extra],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def first_request(app_dir: Path, assembly: Path, pick: str, *extra: str) -> float:
    """Seconds from starting the runner to the first 200 on route ``pick``."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        started = time.monotonic()
        process = start(app_dir, assembly, ready, *extra)
        try:
            while not ready.exists():
                if process.poll() is not None:
                    raise RuntimeError("the runner exited")
                time.sleep(0.01)
            info = json.loads(ready.read_text())
            route = next(r for r in info["routes"] if r["route"] == pick)
            headers = {route["credential_header"]: route["credential"]} if route["credential"] else {}
            while True:
                try:
                    with urllib.request.urlopen(urllib.request.Request(route["url"], headers=headers), timeout=30) as r:
                        if r.status == 200:
                            return time.monotonic() - started
                except OSError:
                    time.sleep(0.01)
        finally:
            stop(process)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _workers(runner: int) -> list[int]:
    """The runner's function workers: its children running ``_bootstrap.py`` (not the moto server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == runner and b"_bootstrap.py" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def cpu_snapshot(server: int, workers: list[int]) -> tuple[float, float, float] | None:
    """CPU seconds so far of (the server process, its workers, this process), or None without ``/proc``."""
    try:
        return _cpu_seconds(server), sum(_cpu_seconds(pid) for pid in workers), time.process_time()
    except OSError:
        return None


def throughput(url: str, clients: int, seconds: float) -> tuple[float, float]:
    """(requests per second, p50 latency in ms) with ``clients`` keep-alive connections."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine: list[float] = []
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            mine.append(time.perf_counter() - began)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--throughput-only", action="store_true", help="skip the start-up measurements")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "trivial"
        synth_trivial(app)
        starts = [] if args.throughput_only else [first_request(app, app / "cdk.out", "GET /ping") for _ in range(3)]
        if starts:
            rows.append(("start-up to first served request, one-route app (median of 3)",
                         f"{statistics.median(starts):.2f} s"))

        examples = Path(tmp) / "examples.out"
        npx = shutil.which("npx")
        if npx and not args.throughput_only:
            env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1", "NODE_NO_WARNINGS": "1"}
            done = subprocess.run([npx, "cdk", "synth", "--quiet", "--no-notices", "--output", str(examples)],
                                  cwd=ROOT, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"(example stacks skipped: cdk synth failed: {done.stderr[-300:]})", file=sys.stderr)
            else:
                times = [first_request(ROOT, examples, "GET /items", "--no-synth") for _ in range(3)]
                rows.append(("start-up to first served request, all example stacks, GET /items with the "
                             "Lambda authorizer (median of 3)", f"{statistics.median(times):.2f} s"))

        ready = Path(tmp) / "ready.json"
        process = start(app, app / "cdk.out", ready)
        bare = subprocess.Popen([sys.executable, "-c", BARE], stdout=subprocess.PIPE, text=True)
        try:
            while not ready.exists():
                time.sleep(0.01)
            url = next(r["url"] for r in json.loads(ready.read_text())["routes"] if r["route"] == "GET /ping")
            assert bare.stdout is not None
            bare_url = f"http://127.0.0.1:{bare.stdout.readline().strip()}/ping"
            throughput(url, 10, 1.0)  # warm up: ten environments started
            throughput(bare_url, 10, 1.0)
            samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
            pids: dict[str, tuple[int, list[int]]] = {"bare": (bare.pid, []),
                                                      "runner": (process.pid, _workers(process.pid))}
            cpu: dict[str, list[list[float]]] = {"bare": [], "runner": []}
            for round_ in range(args.rounds):
                order = [("bare", bare_url), ("runner", url)]
                for name, target in order if round_ % 2 == 0 else order[::-1]:
                    for clients in (1, 10):
                        before = cpu_snapshot(*pids[name])
                        rate, latency = throughput(target, clients, args.seconds)
                        after = cpu_snapshot(*pids[name])
                        samples.setdefault((name, clients), []).append((rate, latency))
                        if clients == 10 and before and after:
                            count = rate * args.seconds
                            cpu[name].append([(b - a) / count * 1e6 for a, b in zip(before, after, strict=True)])
            for clients in (1, 10):
                for name in ("bare", "runner"):
                    rps = [r for r, _ in samples[(name, clients)]]
                    p50 = statistics.median(p for _, p in samples[(name, clients)])
                    label = "bare ThreadingHTTPServer" if name == "bare" else "local runner, trivial handler"
                    rows.append((f"{label}, {clients} client{'s' if clients > 1 else ''}: req/s min / median / max "
                                 f"(p50 latency)", f"{min(rps):,.0f} / {statistics.median(rps):,.0f} / "
                                 f"{max(rps):,.0f} ({p50:.1f} ms)"))
                ratios = [r[0] / b[0] for r, b in zip(samples[("runner", clients)], samples[("bare", clients)],
                                                        strict=True)]
                rows.append((f"runner / bare at {clients} client{'s' if clients > 1 else ''} (median of rounds; "
                             f"min-max)", f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"))
            for name in ("bare", "runner"):
                if cpu[name]:
                    server, workers, client = (statistics.median(part) for part in zip(*cpu[name], strict=True))
                    label = "bare server" if name == "bare" else "runner"
                    rows.append((f"CPU per request at 10 clients, {label} (median of rounds): server process / "
                                 f"function workers / clients",
                                 f"{server:.0f} / {workers:.0f} / {client:.0f} µs"))
        finally:
            stop(process)
            bare.terminate()
            bare.wait()

    print(f"Local runner, {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.1f} at the end; {args.rounds} rounds of {args.seconds:g} s per cell, interleaved")
    print()
    print("| measurement | result |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
