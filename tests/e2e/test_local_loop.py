"""The API server's loop with real execution environments: an app (a generator, as the API emulators are)
yields ``Invoke``; a warm environment answers in the loop, and everything that is not a plain warm answer
(a cold start, a function timeout, the caller giving up, a worker that exits, more callers than
environments, an answer bigger than one socket read) still ends in an answer to the client."""

from __future__ import annotations

import http.client
import io
import json
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_manifest.local.functions import FunctionHost, FunctionSpec, Pending
from lambda_manifest.local.gateway import Request, Response
from lambda_manifest.local.http_server import ApiServer
from lambda_manifest.local.logs import Console
from lambda_manifest.local.steps import Blocking, Invoke, Steps, run

OWN = f"python{sys.version_info[0]}.{sys.version_info[1]}"
HANDLER = """
import os
import time


def main(event, context):
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    elif action == "exit":
        os._exit(3)
    elif action == "big":
        return {"pid": os.getpid(), "body": "x" * event["size"]}
    return {"pid": os.getpid(), "event": event}
"""


class Served:
    def __init__(self, host: FunctionHost, server: ApiServer) -> None:
        self.host, self.server = host, server
        self.began = 0  # invocations the loop started on a warm environment itself

    def call(self, event: dict[str, Any], caller_timeout: float | None = None) -> dict[str, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        headers = {"x-caller-timeout": str(caller_timeout)} if caller_timeout else {}
        connection.request("POST", "/invoke", body=json.dumps(event).encode(), headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        connection.close()
        return answer


@pytest.fixture
def environments() -> int:
    """The function's concurrency (its most execution environments at once)."""
    return 10


@pytest.fixture
def served(tmp_path: Path, environments: int) -> Iterator[Served]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(textwrap.dedent(HANDLER))
    spec = FunctionSpec(stack="S", logical_id="Fn", label="Fn", name="S-Fn",
                        arn="arn:aws:lambda:us-east-1:123456789012:function:S-Fn", handler="handler.main",
                        runtime=OWN, code_dir=code, environment={}, timeout=1.5)
    host = FunctionHost(spec, console=Console(io.StringIO()), endpoint_url="http://127.0.0.1:9",
                        max_concurrency=environments)

    def app(request: Request) -> Steps[Response]:
        event = json.loads(request.body or b"{}")
        caller = float(request.header("x-caller-timeout") or 0) or None
        result = yield Invoke(host, event, caller)
        body = {"ok": result.ok, "payload": result.payload, "error": result.error, "timed_out": result.timed_out,
                "caller_timed_out": result.caller_timed_out, "cold": result.init_ms is not None}
        return Response(200, [("content-type", "application/json")], json.dumps(body).encode())

    server = ApiServer(0, app, Console(quiet=True), "loop")
    served = Served(host, server)
    begin = host.begin

    def counting_begin(*args: Any, **kwargs: Any) -> Pending | None:
        pending = begin(*args, **kwargs)
        served.began += pending is not None
        return pending

    host.begin = counting_begin  # type: ignore[method-assign]
    server.start()
    yield served
    server.stop()
    host.stop()


def test_warm_invocations_are_answered_in_the_loop(served: Served) -> None:
    answers = [served.call({"n": index}) for index in range(5)]
    assert all(a["ok"] for a in answers)
    assert [a["cold"] for a in answers] == [True, False, False, False, False]
    assert [a["payload"]["event"] for a in answers] == [{"n": index} for index in range(5)]
    assert len({a["payload"]["pid"] for a in answers}) == 1  # one environment, kept warm
    assert served.began == 4  # the cold start went to a thread; the warm ones never left the loop


def test_a_timeout_on_a_warm_environment_replaces_it(served: Served) -> None:
    first = served.call({})
    timed_out = served.call({"action": "sleep", "seconds": 5})
    assert timed_out["timed_out"] and timed_out["error"]["errorType"] == "Sandbox.Timedout"
    after = served.call({})
    assert after["ok"] and after["cold"] and after["payload"]["pid"] != first["payload"]["pid"]


def test_the_caller_giving_up_leaves_the_function_running(served: Served) -> None:
    served.call({})
    gave_up = served.call({"action": "sleep", "seconds": 0.8}, caller_timeout=0.2)
    assert gave_up["caller_timed_out"] and not gave_up["timed_out"]
    assert served.call({})["ok"]  # another environment answers meanwhile


def test_a_worker_that_exits_midway_is_an_exit_error_and_a_fresh_start(served: Served) -> None:
    served.call({})
    died = served.call({"action": "exit"})
    assert died["error"]["errorType"] == "Runtime.ExitError" and "exit status 3" in died["error"]["errorMessage"]
    after = served.call({})
    assert after["ok"] and after["cold"]


def test_an_answer_bigger_than_one_socket_read(served: Served) -> None:
    served.call({})
    big = served.call({"action": "big", "size": 300_000})
    assert big["ok"] and len(big["payload"]["body"]) == 300_000
    assert served.began == 1


@pytest.mark.parametrize("environments", [2])
def test_more_callers_than_environments_all_get_answers(served: Served, environments: int) -> None:
    answers: list[dict[str, Any]] = []

    def caller() -> None:
        answers.append(served.call({"action": "sleep", "seconds": 0.2}))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and all(a["ok"] for a in answers)
    assert served.host.cold_starts <= environments  # the others waited for one of the two


def test_run_drives_the_same_steps_on_the_calling_thread() -> None:
    def steps() -> Steps[int]:
        value: int = yield Blocking(lambda: 2)
        try:
            yield Blocking(lambda: 1 / 0)
        except ZeroDivisionError:  # a step's exception is raised where the emulator yielded it
            value += 1
        return value * 10

    assert run(steps()) == 30
