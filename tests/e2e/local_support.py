"""Start ``python -m lambda_manifest.local`` as a real subprocess and talk to it over loopback HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(method: str, url: str, *, headers: dict[str, str] | None = None, body: Any = None,
         timeout: float = 30) -> Reply:
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = list(response.headers.items())
            return Reply(response.status, {k.lower(): v for k, v in raw}, raw, response.read())
    except urllib.error.HTTPError as error:
        raw = list(error.headers.items())
        return Reply(error.code, {k.lower(): v for k, v in raw}, raw, error.read())


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_free(port: int) -> bool:
    """Nothing listens on the port: a connection is refused and the port can be bound again (connections
    closed a moment ago may sit in TIME_WAIT, which SO_REUSEADDR allows, as any server would)."""
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


class Running:
    def __init__(self, process: subprocess.Popen[bytes], info: dict[str, Any], log: Path) -> None:
        self.process = process
        self.info = info
        self.log = log

    def api(self, logical_prefix: str) -> dict[str, Any]:
        for api in self.info["apis"]:
            if api["logical_id"].startswith(logical_prefix) or api["label"].startswith(logical_prefix):
                return api
        raise KeyError(f"no API {logical_prefix!r}: {[a['label'] for a in self.info['apis']]}")

    def resource(self, kind: str, logical_prefix: str) -> dict[str, Any]:
        for item in self.info["resources"]:
            if item["kind"] == kind and item["label"] == logical_prefix:
                return item
        for item in self.info["resources"]:
            if item["kind"] == kind and (item["logical_id"].startswith(logical_prefix)
                                         or item["label"].startswith(logical_prefix)):
                return item
        raise KeyError(f"no {kind} {logical_prefix!r}")

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.info["moto"], region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log_text()
            if text in content:
                return content
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not in the runner's log:\n{self.log_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


@contextmanager
def run_local(app_dir: Path, assembly: Path, *args: str, workdir: Path, timeout: float = 90) -> Iterator[Running]:
    ready = workdir / f"ready-{time.monotonic_ns()}.json"
    log = workdir / f"local-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "lambda_manifest.local", "--app-dir", str(app_dir), "--assembly", str(assembly),
             "--no-synth", "--port", "0", "--ready-file", str(ready), *args],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    running: Running | None = None
    try:
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if process.poll() is not None:
                raise AssertionError(f"the runner exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the runner was not ready in {timeout:.0f} s:\n{log.read_text()[-4000:]}")
            time.sleep(0.1)
        running = Running(process, json.loads(ready.read_text()), log)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
