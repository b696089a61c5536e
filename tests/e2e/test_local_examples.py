"""The example stacks of app.py run locally: real HTTP over loopback against ``python -m lambda_manifest.local``."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from local_support import Running, call

pytestmark = pytest.mark.xdist_group("synth")


def credential(examples: Running, stack: str) -> dict[str, str]:
    for key, value in examples.info["credentials"].items():
        if key.startswith(stack + "/"):
            return {value["header"]: value["value"]}
    raise KeyError(stack)


def api_url(examples: Running, stack: str) -> str:
    return str(next(a["url"] for a in examples.info["apis"] if a["stack"] == stack))


def table_name(examples: Running, stack: str, label: str) -> str:
    """The table whose construct path is ``label`` (or ``label/...``: a wrapping construct)."""
    return str(next(r["name"] for r in examples.info["resources"] if r["kind"] == "table" and r["stack"] == stack
                    and (r["label"] == label or r["label"].startswith(label + "/"))))


def queue_url(examples: Running, label: str) -> str:
    name = next(r["name"] for r in examples.info["resources"] if r["kind"] == "queue" and r["label"] == label)
    return str(examples.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def wait_until(check: Any, timeout: float = 30, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- ItemsApiStack -------------------------------------------------------------------------------------------
def test_items_authorized_and_unauthorized(examples: Running) -> None:
    url = api_url(examples, "ItemsApiStack") + "/items"
    assert call("GET", url, headers=credential(examples, "ItemsApiStack")).status == 200
    assert call("GET", url).status == 401  # no Authorization header: the authorizer is not even called
    forged = call("GET", url, headers={"Authorization": "Bearer not.a.token"})
    assert (forged.status, forged.json()) == (403, {"message": "Forbidden"})  # the authorizer said no


def test_items_crud_round_trip_reaches_dynamodb(examples: Running) -> None:
    auth = {**credential(examples, "ItemsApiStack"), "content-type": "application/json"}
    url = api_url(examples, "ItemsApiStack") + "/items"
    created = call("POST", url, headers=auth, body={"name": "fountain pen"})
    assert created.status == 201, created.body
    item_id = created.json()["id"]
    table = table_name(examples, "ItemsApiStack", "ItemsTable")
    stored = examples.client("dynamodb").scan(TableName=table)["Items"]
    assert any(i.get("name") == {"S": "fountain pen"} for i in stored), stored
    assert call("GET", f"{url}/{item_id}", headers=auth).json()["name"] == "fountain pen"
    replaced = call("PUT", f"{url}/{item_id}", headers=auth, body={"name": "ink"})
    assert replaced.status == 200, replaced.body
    assert call("DELETE", f"{url}/{item_id}", headers=auth).status == 204
    assert call("GET", f"{url}/{item_id}", headers=auth).status == 404


# -- PartnerApiStack -----------------------------------------------------------------------------------------
def test_partner_rest_api_needs_token_and_key(examples: Running) -> None:
    url = api_url(examples, "PartnerApiStack") + "/catalog"
    key = {"x-api-key": next(iter(examples.info["api_keys"].values()))}
    token = credential(examples, "PartnerApiStack")
    assert call("GET", url, headers=key).status == 401
    assert call("GET", url, headers={**key, "Authorization": "Bearer forged"}).status == 401
    no_key = call("GET", url, headers=token)
    assert (no_key.status, no_key.json()) == (403, {"message": "Forbidden"})
    catalog = table_name(examples, "PartnerApiStack", "CatalogTable")
    examples.client("dynamodb").put_item(TableName=catalog, Item={
        "pk": {"S": "SKU-1"}, "name": {"S": "Pen"}, "price": {"N": "4.5"}})
    listed = call("GET", url, headers={**token, **key})
    assert listed.status == 200 and [p["sku"] for p in listed.json()["items"]] == ["SKU-1"]
    order = {"sku": "SKU-1", "quantity": 2, "partner_reference": f"ref-{uuid.uuid4().hex[:8]}"}
    submitted = call("POST", api_url(examples, "PartnerApiStack") + "/orders",
                     headers={**token, **key, "content-type": "application/json"}, body=order)
    assert submitted.status in (200, 201, 202), submitted.body
    orders = table_name(examples, "PartnerApiStack", "OrdersTable")
    stored = examples.client("dynamodb").scan(TableName=orders)["Items"]
    assert [i["partner_reference"]["S"] for i in stored] == [order["partner_reference"]]


def test_partner_catalog_export_streams_ndjson_page_by_page(examples: Running) -> None:
    """A streaming REST route (ResponseTransferMode STREAM): chunked pieces from the function's runtime loop."""
    import http.client
    from urllib.parse import urlsplit

    catalog = table_name(examples, "PartnerApiStack", "CatalogTable")
    for n in range(250):  # three pages of 100
        examples.client("dynamodb").put_item(TableName=catalog, Item={
            "pk": {"S": f"EXP-{n:03d}"}, "name": {"S": f"Item {n}"}, "price": {"N": "1"}})
    url = urlsplit(api_url(examples, "PartnerApiStack") + "/catalog/export")
    headers = {**credential(examples, "PartnerApiStack"), "x-api-key": next(iter(examples.info["api_keys"].values()))}
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    conn.request("GET", url.path, headers=headers)
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("content-type") == "application/x-ndjson"
    assert response.getheader("transfer-encoding") == "chunked"
    lines = response.read().decode().splitlines()
    skus = [json.loads(line)["sku"] for line in lines]
    assert {f"EXP-{n:03d}" for n in range(250)} <= set(skus) and len(skus) == len(set(skus))
    conn.close()
    unauthorized = call("GET", api_url(examples, "PartnerApiStack") + "/catalog/export",
                        headers={"x-api-key": headers["x-api-key"]})
    assert unauthorized.status == 401


# -- OrdersStack ---------------------------------------------------------------------------------------------
def order(order_id: str, *, valid: bool = True) -> dict[str, Any]:
    return {"order_id": order_id, "customer_id": "c-1", "currency": "EUR" if valid else "XXX",
            "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": 9.99}]}


def test_orders_need_a_jwt(examples: Running) -> None:
    reply = call("POST", api_url(examples, "OrdersStack") + "/orders", body=order("o-unauth"))
    assert (reply.status, reply.json()) == (401, {"message": "Unauthorized"})


def test_order_posted_to_the_api_is_processed_by_the_worker(examples: Running) -> None:
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    reply = call("POST", api_url(examples, "OrdersStack") + "/orders",
                 headers={**credential(examples, "OrdersStack"), "content-type": "application/json"},
                 body=order(order_id))
    assert reply.status == 202, reply.body  # SQS-SendMessage, status overwritten by the response mapping
    assert reply.json()["SendMessageResponse"]["SendMessageResult"]["MessageId"]
    ddb = examples.client("dynamodb")
    table = table_name(examples, "OrdersStack", "OrdersTable")

    def stored(pk: str) -> Any:
        return ddb.get_item(TableName=table, Key={"pk": {"S": pk}}).get("Item")

    item = wait_until(lambda: stored(f"ORDER#{order_id}"))
    assert item and item["customer_id"] == {"S": "c-1"}
    # order_created went through SNS to the notify queue and its worker: the fan-out works too.
    assert wait_until(lambda: stored(f"NOTIFICATION#{order_id}")), "the notify worker never ran"


def test_poison_orders_end_in_the_dlq_and_nothing_is_lost(examples: Running) -> None:
    auth = {**credential(examples, "OrdersStack"), "content-type": "application/json"}
    url = api_url(examples, "OrdersStack") + "/orders"
    run = uuid.uuid4().hex[:6]
    good = [f"ok-{run}-{n}" for n in range(6)]
    bad = [f"bad-{run}-{n}" for n in range(2)]
    for order_id in good[:3] + bad[:1] + good[3:] + bad[1:]:
        assert call("POST", url, headers=auth, body=order(order_id, valid=order_id in good)).status == 202
    ddb = examples.client("dynamodb")
    table = table_name(examples, "OrdersStack", "OrdersTable")
    sqs = examples.client("sqs")
    dlq = queue_url(examples, "OrderWorker/DeadLetterQueue")
    dead: list[str] = []

    def settled() -> bool:
        for message in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
            dead.append(json.loads(message["Body"])["order_id"])
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
        done = all(ddb.get_item(TableName=table, Key={"pk": {"S": f"ORDER#{o}"}}).get("Item") for o in good)
        return done and sorted(dead) == sorted(bad)

    assert wait_until(settled, timeout=45), f"dead-lettered: {dead}"
    # 5 receives (maxReceiveCount) with the visibility timeout capped at 1 s, then the DLQ.
    log = examples.log_text()
    assert log.count("currency must be one of") >= 5 * len(bad)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url(examples, "OrderWorker/Queue"),
                                          AttributeNames=["ApproximateNumberOfMessages",
                                                          "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


# -- NightlyReportStack --------------------------------------------------------------------------------------
def test_nightly_report_fired_by_hand_writes_to_the_local_bucket(examples: Running) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    table = table_name(examples, "NightlyReportStack", "SalesTable")
    examples.client("dynamodb").put_item(TableName=table, Item={
        "pk": {"S": f"DAY#{yesterday}"}, "sk": {"S": "SALE#1"}, "sku": {"S": "SKU-9"}, "quantity": {"N": "3"},
        "unit_price": {"N": "2.50"}, "currency": {"S": "EUR"}})
    fired = call("POST", examples.info["admin"] + "/_local/fire/NightlyReportStack/NightlyReport/Schedule", timeout=120)
    assert fired.status == 200, fired.body
    [outcome] = fired.json()
    assert outcome["ok"] and outcome["attempts"] == 1, outcome
    bucket = next(r["name"] for r in examples.info["resources"] if r["kind"] == "bucket" and r["label"] == "Reports")
    s3 = examples.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    day = yesterday.replace("-", "/")
    assert keys == [f"reports/sales/{day}/sales.csv", f"reports/sales/{day}/summary.json"]
    rows = list(csv.DictReader(io.StringIO(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read().decode())))
    assert any("SKU-9" in row.values() for row in rows), rows


# -- deploy rehearsal ----------------------------------------------------------------------------------------
def test_deploy_rehearsal_reaches_create_complete_for_every_example_stack(cli_assembly: Any, manifest_stacks: list[str],
                                                                         tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    from local_support import ROOT, alive

    out = tmp_path / "rehearsal.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "lambda_manifest.local.rehearse", "--app-dir", str(ROOT), "--assembly", str(cli_assembly),
         "--no-synth", "--json", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-4000:]
    result = json.loads(out.read_text())
    assert {s["name"]: s["status"] for s in result["stacks"]} == {name: "CREATE_COMPLETE" for name in manifest_stacks}
    # moto accepts these without creating them; the README lists them so nobody mistakes this for AWS.
    assert {"AWS::CloudWatch::Alarm", "AWS::ApiGatewayV2::Api", "AWS::SQS::QueuePolicy"} <= set(result["not_created_types"])
    assert "REHEARSAL PASSED" in output
    assert result["moto_pid"] and not alive(result["moto_pid"])  # the rehearsal stopped its moto server


# -- ContentModerationStack: the AI gateway ------------------------------------------------------------------
def gateway(examples: Running) -> tuple[str, str]:
    url = next(a["url"] for a in examples.info["apis"]
               if a["stack"] == "ContentModerationStack" and a["label"].startswith("Gateway"))
    key = next(v["value"] for k, v in examples.info["credentials"].items()
               if k.startswith("ContentModerationStack/gateway-"))
    return f"{url}/v1", key.removeprefix("Bearer ")


def test_openai_client_completes_a_chat_through_the_local_gateway(examples: Running) -> None:
    import openai

    base_url, key = gateway(examples)
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="moderation", messages=[{"role": "user", "content": "hello there"}])
    assert json.loads(reply.choices[0].message.content or "")["reason"] == "local model"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base_url, api_key="lmg-not-a-key", max_retries=0).chat.completions.create(
            model="moderation", messages=[{"role": "user", "content": "hi"}])


def test_openai_client_streams_through_the_local_gateway(examples: Running) -> None:
    """stream=True through the REST API's streaming integration, the gateway's runtime loop and the local
    model's SSE: chunks arrive while the model is still generating (it emits a word every 50 ms)."""
    import openai

    base_url, key = gateway(examples)
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    arrivals: list[tuple[float, str]] = []
    usage = None
    for chunk in client.chat.completions.create(model="moderation", messages=[{"role": "user", "content": "hi"}],
                                                stream=True, stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic(), chunk.choices[0].delta.content))
        usage = chunk.usage or usage
    assert json.loads("".join(text for _, text in arrivals))["reason"] == "local model"
    assert len(arrivals) > 5 and arrivals[-1][0] - arrivals[0][0] > 0.2  # pieces, not one buffered answer
    assert usage is not None and usage.completion_tokens == len(arrivals)
    # The same route answers without streaming too.
    reply = client.chat.completions.create(model="moderation", messages=[{"role": "user", "content": "hi"}])
    assert json.loads(reply.choices[0].message.content or "")["reason"] == "local model"


def test_responses_embeddings_and_models_through_the_local_gateway(examples: Running) -> None:
    """The other OpenAI surfaces through the REST API, the gateway's runtime loop and the local model."""
    import openai

    base_url, key = gateway(examples)
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    first = client.responses.create(model="moderation", input="hello there")
    assert json.loads(first.output_text)["reason"] == "local model" and first.usage is not None
    follow = client.responses.create(model="moderation", input="and again", previous_response_id=first.id)
    assert follow.previous_response_id == first.id
    events = list(client.responses.create(model="moderation", input="hi", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == \
        events[-1].response.output_text
    vectors = client.embeddings.create(model="embed", input=["same text", "same text", "other"])
    assert len(vectors.data) == 3 and vectors.data[0].embedding == vectors.data[1].embedding
    assert vectors.data[0].embedding != vectors.data[2].embedding and vectors.usage.prompt_tokens == 5
    assert client.models.retrieve("embed").id == "embed"
    with pytest.raises(openai.NotFoundError) as legacy:  # the catch-all route: the gateway's own 404
        client.completions.create(model="moderation", prompt="x")
    assert "POST /v1/responses" in legacy.value.message


def test_anthropic_sdk_through_the_local_gateway(examples: Running) -> None:
    """Messages translated to the OpenAI-compatible provider and back, buffered and streamed (the SDK's own
    accumulator reads the events), and count_tokens."""
    import anthropic

    base_url, key = gateway(examples)
    client = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key=key, max_retries=0)
    msgs: Any = [{"role": "user", "content": "hello there"}]
    reply = client.messages.create(model="moderation", max_tokens=100, messages=msgs)
    assert reply.type == "message" and json.loads(reply.content[0].text)["reason"] == "local model"  # type: ignore[union-attr]
    with client.messages.stream(model="moderation", max_tokens=100, messages=msgs) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 5 and "".join(pieces) == final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == len(pieces) and final.stop_reason == "end_turn"
    assert client.messages.count_tokens(model="moderation", messages=msgs).input_tokens > 0
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key="lmg-not-a-key", max_retries=0
                            ).messages.create(model="moderation", max_tokens=10, messages=msgs)


def test_gateway_quota_is_the_client_libraries_rate_limit_error(examples: Running) -> None:
    import openai

    from lambda_manifest.keys import create_key

    base_url, _ = gateway(examples)
    table = next(r["name"] for r in examples.info["resources"] if r["kind"] == "table" and "GatewayTable" in r["name"])
    limited = create_key(examples.client("dynamodb"), table, tenant="moderation", models=["*"], rpm=1, name="e2e")
    client = openai.OpenAI(base_url=base_url, api_key=limited.api_key, max_retries=0)
    client.chat.completions.create(model="moderation", messages=[{"role": "user", "content": "one"}])
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="moderation", messages=[{"role": "user", "content": "two"}])


def test_moderation_api_calls_the_gateway_with_its_virtual_key(examples: Running) -> None:
    url = next(a["url"] for a in examples.info["apis"]
               if a["stack"] == "ContentModerationStack" and not a["label"].startswith("Gateway"))
    reply = call("POST", url + "/moderation", headers={**credential(examples, "ContentModerationStack"),
                                                       "content-type": "application/json"},
                 body={"text": "have a nice day", "language": "en"})
    assert reply.status == 200, reply.body
    assert reply.json()["flagged"] is False and reply.json()["needs_review"] is False
