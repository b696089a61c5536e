"""The local runner on an app it has never seen: real HTTP over loopback against a running runner."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from local_support import Running, alive, call, children_of, port_free, run_local

pytestmark = pytest.mark.xdist_group("local-unseen")
AUTH = {"Authorization": "Bearer letmein"}


def http_url(unseen: Running) -> str:
    return str(unseen.api("Http")["url"])


def rest_url(unseen: Running) -> str:
    return str(unseen.api("Partner")["url"])


def test_ready_info_lists_what_runs(unseen: Running) -> None:
    info = unseen.info
    assert {a["type"] for a in info["apis"]} == {"HTTP", "REST"}
    routes = {r["route"] for r in info["routes"]}
    assert {"POST /items", "GET /items/{id}", "GET /echo/{proxy+}", "GET /things/{id}"} <= routes
    assert info["api_keys"] and next(iter(info["api_keys"].values())) == "unseen-partner-key-0123456789"
    assert [w["queue"] for w in info["workers"]] == [unseen.resource("queue", "Jobs")["name"]]
    assert not [w for w in info["warnings"] if "Http" in w or "Partner" in w], info["warnings"]
    # Every function's code comes from its source folder, not the cdk.out copy: edits apply without synth.
    assert all("/handlers/" in f["code_dir"] for f in info["functions"])


def test_lambda_authorizer_decides(unseen: Running) -> None:
    assert call("GET", http_url(unseen) + "/items/x").status == 401  # no identity source: not even invoked
    denied = call("GET", http_url(unseen) + "/items/x", headers={"Authorization": "Bearer nope"})
    assert (denied.status, denied.json()) == (403, {"message": "Forbidden"})


def test_crud_round_trip_reaches_dynamodb(unseen: Running) -> None:
    url = http_url(unseen) + "/items"
    created = call("POST", url, headers={**AUTH, "content-type": "application/json"}, body={"pk": "i-1", "name": "pen"})
    assert created.status == 201, created.body
    assert created.json()["owner"] == "alice"  # the authorizer's context reached the integration
    table = unseen.resource("table", "Items")["name"]
    stored = unseen.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "i-1"}})["Item"]
    assert stored["name"] == {"S": "pen"}
    assert call("GET", url + "/i-1", headers=AUTH).json()["name"] == "pen"
    assert call("DELETE", url + "/i-1", headers=AUTH).status == 204
    assert call("GET", url + "/i-1", headers=AUTH).status == 404


def test_payload_2_0_event_and_warm_state(unseen: Running) -> None:
    url = http_url(unseen) + "/echo/a/b%20c?x=1&x=2&empty="
    first = call("GET", url, headers={**AUTH, "Cookie": "k1=v1; k2=v2", "X-Multi": "one"})
    second = call("GET", url, headers=AUTH)
    assert first.status == second.status == 200
    event = first.json()["event"]
    assert event["version"] == "2.0" and event["routeKey"] == "GET /echo/{proxy+}"
    assert event["rawPath"] == "/echo/a/b%20c" and event["rawQueryString"] == "x=1&x=2&empty="
    assert event["queryStringParameters"] == {"x": "1,2", "empty": ""}
    assert event["pathParameters"] == {"proxy": "a/b c"}
    assert event["cookies"] == ["k1=v1", "k2=v2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one" and event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert context["authorizer"] == {"lambda": {"user": "alice"}}
    assert context["http"]["method"] == "GET" and context["stage"] == "$default" and context["accountId"] == "123456789012"
    assert first.headers["apigw-requestid"] and context["requestId"]
    # Warm: same process, module state kept.
    assert second.json()["count"] == first.json()["count"] + 1 and second.json()["pid"] == first.json()["pid"]
    assert 0 < first.json()["remaining"] <= 30000 and first.json()["fn"].startswith("UnseenStack-Api")
    assert [v for k, v in first.raw_headers if k.lower() == "set-cookie"] == ["session=abc; HttpOnly", "theme=dark"]


def test_response_rules(unseen: Running) -> None:
    base = http_url(unseen)
    plain = call("GET", base + "/plain")
    assert (plain.status, plain.headers["content-type"], plain.json()) == (200, "application/json", {"hello": "world"})
    for path in ("/bad", "/boom"):  # malformed response, unhandled error: HTTP APIs answer 500
        reply = call("GET", base + path)
        assert (reply.status, reply.json()) == (500, {"message": "Internal Server Error"}), path
    binary = call("GET", base + "/binary")
    assert binary.body == bytes(range(256)) and binary.headers["content-type"] == "image/png"
    missing = call("GET", base + "/nowhere")
    assert (missing.status, missing.json()) == (404, {"message": "Not Found"})


def test_function_timeout_is_enforced(unseen: Running) -> None:
    reply = call("GET", http_url(unseen) + "/slow")
    assert (reply.status, reply.json()) == (500, {"message": "Internal Server Error"})
    # The 2 s function timeout ended it, not the handler's 30 s sleep: the runner says so in Lambda's words.
    unseen.wait_for_log("Task timed out after 2.00 seconds")


def test_cors(unseen: Running) -> None:
    url = http_url(unseen) + "/items"
    preflight = call("OPTIONS", url, headers={"Origin": "https://app.example.com",
                                              "Access-Control-Request-Method": "POST"})
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-max-age"] == "600"
    other = call("OPTIONS", url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
    actual = call("GET", http_url(unseen) + "/plain", headers={"Origin": "https://app.example.com"})
    assert actual.headers["access-control-allow-origin"] == "https://app.example.com"


def test_stage_throttling(unseen: Running) -> None:
    assert call("GET", http_url(unseen) + "/plain").status == 200  # warm: no cold start between the calls below
    base = unseen.api("Http")["url"].rstrip("/") + "/limited"
    statuses = [call("GET", base + "/plain").status for _ in range(3)]
    assert statuses[0] == 200 and 429 in statuses[1:], statuses
    assert call("GET", base + "/plain").json() in ({"message": "Too Many Requests"}, {"hello": "world"})


def test_environment_points_at_local_resources(unseen: Running) -> None:
    env = call("GET", http_url(unseen) + "/env", headers=AUTH).json()
    queue = unseen.resource("queue", "Jobs")["name"]
    assert env["QUEUE_URL"].startswith(unseen.info["moto"]) and env["QUEUE_URL"].endswith("/" + queue)
    assert env["TABLE_NAME"] == unseen.resource("table", "Items")["name"]
    assert env["SECRET_ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:")
    assert env["secret"]  # a placeholder value the handler can read


def test_rest_api_authorizer_api_key_and_throttle(unseen: Running) -> None:
    url = rest_url(unseen) + "/things/42?q=1&q=2"
    key = {"x-api-key": "unseen-partner-key-0123456789"}
    assert call("GET", url, headers=key).status == 401  # TOKEN authorizer: missing token
    bad = call("GET", url, headers={**key, "Authorization": "garbage"})
    assert (bad.status, bad.json()) == (401, {"message": "Unauthorized"})
    deny = call("GET", url, headers={**key, "Authorization": "deny"})
    assert deny.status == 403 and "explicit deny" in deny.json()["Message"]
    no_key = call("GET", url, headers={"Authorization": "allow"})
    assert (no_key.status, no_key.json()) == (403, {"message": "Forbidden"})
    time.sleep(2.1)  # the usage plan allows a burst of 2 at 1 request/s
    ok = call("GET", url, headers={**key, "Authorization": "allow"})
    assert ok.status == 200, ok.body
    event = ok.json()["event"]
    assert event["resource"] == "/things/{id}" and event["path"] == "/things/42"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"q": "2"} and event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["requestContext"]["stage"] == "v1" and event["requestContext"]["path"] == "/v1/things/42"
    assert event["requestContext"]["authorizer"]["tier"] == "gold"
    assert event["requestContext"]["authorizer"]["principalId"] == "partner-1"
    assert event["requestContext"]["identity"]["apiKey"] == key["x-api-key"]
    assert [v for k, v in ok.raw_headers if k.lower() == "x-multi"] == ["a", "b"]
    statuses = [call("GET", url, headers={**key, "Authorization": "allow"}).status for _ in range(3)]
    assert 429 in statuses, statuses
    missing = call("GET", rest_url(unseen) + "/nothing-here")
    assert (missing.status, missing.json()) == (403, {"message": "Missing Authentication Token"})
    preflight = call("OPTIONS", rest_url(unseen) + "/things/1", headers={"Origin": "https://x.example",
                                                                         "Access-Control-Request-Method": "GET"})
    assert preflight.status == 204 and preflight.headers["access-control-allow-origin"] == "*"


def test_queue_worker_partial_failures_redrive_and_no_loss(unseen: Running) -> None:
    sqs = unseen.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=unseen.resource("queue", "Jobs")["name"])["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=unseen.resource("queue", "JobsDlq")["name"])["QueueUrl"]
    bodies = [{"n": n} for n in range(8)] + [{"n": 8, "flaky": True}, {"n": 9, "poison": True}]
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
    table = unseen.resource("table", "Items")["name"]
    ddb = unseen.client("dynamodb")
    processed: dict[str, int] = {}
    dead: list[dict[str, object]] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        items = ddb.scan(TableName=table)["Items"]
        processed = {i["pk"]["S"]: int(i["receives"]["N"]) for i in items if i["pk"]["S"].startswith("msg#")}
        dead += [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10,
                                                                     WaitTimeSeconds=0).get("Messages", [])]
        if len(processed) == 9 and dead:
            break
        time.sleep(0.5)
    assert sorted(processed) == sorted(f"msg#{n}" for n in range(9)), processed
    assert processed["msg#8"] == 2  # failed once, reappeared after the visibility timeout, then succeeded
    assert dead == [{"n": 9, "poison": True}]  # after maxReceiveCount (2) receives
    assert len(processed) + len(dead) == len(bodies)  # nothing lost
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_code_change_means_cold_start(unseen: Running, unseen_app: Path) -> None:
    url = http_url(unseen) + "/echo/x"
    before = call("GET", url, headers=AUTH).json()
    source = unseen_app / "handlers" / "api" / "handler.py"
    source.write_text(source.read_text().replace("VERSION = 1", "VERSION = 2"))
    unseen.wait_for_log("next invocation of Api is a cold start", timeout=10)
    after = call("GET", url, headers=AUTH).json()
    assert (before["version"], after["version"]) == (1, 2)
    assert after["count"] == 1 and after["pid"] != before["pid"]


def test_start_and_stop_leave_nothing_behind(unseen_app: Path, tmp_path: Path) -> None:
    with run_local(unseen_app, unseen_app / "cdk.out", workdir=tmp_path) as running:
        assert call("GET", running.api("Http")["url"] + "/plain").status == 200
        assert call("GET", running.api("Http")["url"] + "/echo/z", headers=AUTH).status == 200
        children = children_of(running.process.pid)
        ports = [a["port"] for a in running.info["apis"]] + [int(running.info["moto"].rsplit(":", 1)[1]),
                                                             int(running.info["admin"].rsplit(":", 1)[1])]
        assert len(children) >= 3, children  # moto + at least the api and authorizer workers
        assert set(running.info["child_pids"]) <= children | {running.process.pid}
        assert running.stop() == 0
    assert not [pid for pid in children if alive(pid)]
    assert all(port_free(port) for port in ports), ports
    assert "stopped everything" in running.log_text()


def test_sns_and_eventbridge_invoke_functions_asynchronously_with_retries_and_destination(unseen: Running) -> None:
    table = unseen.resource("table", "Items")["name"]
    ddb = unseen.client("dynamodb")
    topic = next(r["name"] for r in unseen.info["resources"] if r["kind"] == "topic" and r["label"] == "Things")
    topic_arn = f"arn:aws:sns:us-east-1:123456789012:{topic}"
    unseen.client("sns").publish(TopicArn=topic_arn, Message="hello-sns")
    unseen.client("events").put_events(Entries=[{"Source": "unseen.app", "DetailType": "thing",
                                                 "Detail": json.dumps({"id": "e1"})}])
    unseen.client("sns").publish(TopicArn=topic_arn, Message="please-fail")

    def item(pk: str) -> object:
        return ddb.get_item(TableName=table, Key={"pk": {"S": pk}}).get("Item")

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (item("sink#sns#hello-sns") and item("sink#events#e1")):
        time.sleep(0.3)
    assert item("sink#sns#hello-sns") and item("sink#events#e1")
    sqs = unseen.client("sqs")
    failures = sqs.get_queue_url(QueueName=unseen.resource("queue", "Sink/OnFailureQueue")["name"])["QueueUrl"]
    record = None
    while time.monotonic() < deadline + 10 and record is None:
        messages = sqs.receive_message(QueueUrl=failures, WaitTimeSeconds=1).get("Messages", [])
        record = json.loads(messages[0]["Body"]) if messages else None
    assert record is not None, unseen.log_text()[-2000:]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2  # one retry, as the EventInvokeConfig says
    assert record["requestPayload"]["Records"][0]["Sns"]["Message"] == "please-fail"
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def test_a_warm_environment_that_died_while_idle_is_replaced(unseen: Running) -> None:
    # Lambda never hands a request to a dead execution environment; neither may the runner, which finds out
    # only when it writes the next request to the worker (no waitpid() per invocation).
    url = http_url(unseen) + "/echo/idle"
    first = call("GET", url, headers=AUTH)
    assert first.status == 200
    pid = first.json()["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    second = call("GET", url, headers=AUTH)
    assert second.status == 200, second.body
    assert second.json()["pid"] != pid and second.json()["count"] == 1  # a cold start in a new environment
