"""Each function that runs a shipped runtime may call exactly what the runtime calls.

The worker (with idempotency), the authorizer (HS256 secret, API keys, RS256 over a loopback JWKS) and the HTTP
toolkit's example APIs are driven through their features against moto while ``tests/aws_calls.py`` records every
AWS call they make. For the services the runtime calls, the actions the synthesized template grants its function
must equal the recorded ones: nothing missing, nothing extra. Every other action in the function's policy must be
one the platform uses on the function's behalf (``PLATFORM``), never one the code calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from api_events import FakeLambdaContext, http_authorizer_event, http_event, response_json, rest_event
from auth_fakes import JwksServer, RsaKey
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template
from moto import mock_aws
from worker_sqs import FakeContext, synthetic_record

from lambda_manifest import AsyncWorker, Authorizer, FunctionOptions, HttpServerlessApi, StackResources
from lambda_manifest.runtime.authorizer import contract as auth_contract
from lambda_manifest.runtime.authorizer import handler as authorizer
from lambda_manifest.runtime.authorizer.apikeys import partition_key
from lambda_manifest.runtime.authorizer.jwt import sign_hs256
from lambda_manifest.runtime.worker import WorkerRecord, worker
from lambda_manifest.runtime.worker import contract as worker_contract
from tests.aws_calls import Calls, granted_actions, recording
from tests.support import INLINE, new_stack

ROOT = Path(__file__).resolve().parents[2]
# Actions in a function's policy that no code in it calls: AWS uses them for the function.
PLATFORM = {
    "logs:CreateLogStream": "Lambda writes the function's log stream with its role",
    "logs:PutLogEvents": "Lambda writes the function's log stream with its role",
    "xray:PutTraceSegments": "active tracing sends the invocation's segments",
    "xray:PutTelemetryRecords": "active tracing sends the invocation's segments",
    "kms:Decrypt": "Lambda (environment), DynamoDB and Secrets Manager use the key on the caller's behalf",
    "kms:Encrypt": "DynamoDB encrypts items with the table's customer-managed key on the caller's behalf",
    "kms:GenerateDataKey": "DynamoDB encrypts items with the table's customer-managed key on the caller's behalf",
    "kms:DescribeKey": "DynamoDB checks the table's customer-managed key on the caller's behalf",
    "sqs:ReceiveMessage": "the SQS event source mapping polls the queue with the function's role",
    "sqs:DeleteMessage": "the event source mapping deletes what the batch response did not report failed",
    "sqs:ChangeMessageVisibility": "the event source mapping returns reported failures to the queue",
    "sqs:GetQueueAttributes": "the event source mapping reads the queue's settings",
    "sqs:GetQueueUrl": "granted with the event source mapping's consume grant (aws-cdk-lib)",
}


def assert_exact(calls: Calls, granted: set[str], services: set[str]) -> None:
    assert not calls.unmapped, f"calls with no IAM mapping in tests/aws_calls.py: {calls.unmapped}"
    assert {a.split(":")[0] for a in calls.actions} <= services, calls.actions
    assert {a for a in granted if a.split(":")[0] in services} == calls.actions
    unexplained = {a for a in granted if a.split(":")[0] not in services} - set(PLATFORM)
    assert not unexplained, f"granted, yet neither called by the runtime nor used by the platform: {unexplained}"


# --- The worker, with idempotency -----------------------------------------------------------------------------


def worker_grants() -> set[str]:
    stack = new_stack()
    AsyncWorker(stack, "Jobs", process="jobs.worker:process", idempotency=True,
                code=lambda_.Code.from_asset(str(ROOT / "tests" / "constructs" / "app_code")))
    return granted_actions(Template.from_stack(stack), worker_contract.HANDLER)


def test_worker_is_granted_exactly_what_idempotency_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Any] = []

    def process(record: WorkerRecord) -> None:
        if record.body.get("fail"):
            raise RuntimeError("fails on purpose")
        ran.append(record.body)

    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="idempotency", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": worker_contract.IDEMPOTENCY_PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": worker_contract.IDEMPOTENCY_PARTITION_KEY, "AttributeType": "S"}])
        monkeypatch.setenv(worker_contract.ENV_IDEMPOTENCY_TABLE, "idempotency")
        with recording() as calls:
            handle = worker(process)
            records = [synthetic_record('{"n": 1}', "m-1"), synthetic_record('{"fail": true}', "m-2")]
            first = handle({"Records": records}, FakeContext())
            # Delivered again: the completed record is answered from its stored result, the failed one runs again.
            again = handle({"Records": records}, FakeContext())
    assert first == again == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert ran == [{"n": 1}]
    # A claim (PutItem), the result (UpdateItem), the dropped claim of a failure (DeleteItem); the duplicate's
    # stored record comes back with its failed conditional put, so it is not read with GetItem.
    assert calls.actions == {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert_exact(calls, worker_grants(), {"dynamodb"})


# --- The authorizer: HS256 from Secrets Manager, API keys from DynamoDB, RS256 from a JWKS ---------------------

ISSUER = "https://idp.example.com/"
AUDIENCE = "items"
API_KEY = "lmk_live_4f9c2a7e1b3d5f6a8c0e2b4d6f8a0c1e"


def authorizer_grants() -> set[str]:
    stack = new_stack()
    secret = secretsmanager.Secret(stack, "Signing", encryption_key=StackResources.of(stack).key)
    api = HttpServerlessApi(stack, "Api", authorizer=Authorizer.lambda_(
        jwks_url="https://idp.example.com/.well-known/jwks.json", hs256_secret=secret, api_key_table=True,
        issuer=ISSUER, audience=[AUDIENCE], identity_headers=[auth_contract.AUTHORIZATION_HEADER],
        function_options=FunctionOptions(code=INLINE)))
    api.add_route("GET /items", FunctionOptions(handler="index.main", code=INLINE))
    return granted_actions(Template.from_stack(stack), auth_contract.HANDLER)


@pytest.fixture
def jwks() -> Iterator[tuple[JwksServer, RsaKey]]:
    key = RsaKey("k1")
    with JwksServer() as server:
        server.document = {"keys": [key.jwk()]}
        yield server, key


def test_authorizer_is_granted_exactly_what_it_calls(
    monkeypatch: pytest.MonkeyPatch, jwks: tuple[JwksServer, RsaKey]
) -> None:
    server, key = jwks
    hs_secret = "s3cr3t-" + "x" * 41
    claims = {"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": 4102444800}
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(Name="signing", SecretString=hs_secret)["ARN"]
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName="api-keys", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": auth_contract.API_KEY_PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": auth_contract.API_KEY_PARTITION_KEY, "AttributeType": "S"}])
        ddb.put_item(TableName="api-keys", Item={
            auth_contract.API_KEY_PARTITION_KEY: {"S": partition_key(API_KEY)}, "tenant": {"S": "acme"}})
        for name, value in ((auth_contract.ENV_JWKS_URL, server.url), (auth_contract.ENV_HS256_SECRET_ARN, arn),
                            (auth_contract.ENV_API_KEY_TABLE, "api-keys"), (auth_contract.ENV_ISSUER, ISSUER),
                            (auth_contract.ENV_AUDIENCE, AUDIENCE)):
            monkeypatch.setenv(name, value)
        authorizer.reset()
        requests = {
            "HS256": {"Authorization": f"Bearer {sign_hs256(claims, hs_secret)}"},
            "RS256": {"Authorization": f"Bearer {key.sign(claims)}"},
            "API key": {"x-api-key": API_KEY},
            "unknown API key": {"x-api-key": "lmk_live_" + "0" * 32},
            "forged HS256": {"Authorization": f"Bearer {sign_hs256(claims, 'y' * 48)}"},
        }
        with recording() as calls:
            decisions = {what: authorizer.main(http_authorizer_event(headers), FakeLambdaContext())["isAuthorized"]
                         for what, headers in requests.items()}
        authorizer.reset()
    assert decisions == {"HS256": True, "RS256": True, "API key": True, "unknown API key": False,
                         "forged HS256": False}
    assert calls.actions == {"secretsmanager:GetSecretValue", "dynamodb:GetItem"}
    assert_exact(calls, authorizer_grants(), {"dynamodb", "secretsmanager"})


# --- The HTTP toolkit in the example APIs ------------------------------------------------------------------------


def example_grants(stack_class: Any, name: str, handler: str) -> set[str]:
    return granted_actions(Template.from_stack(stack_class(cdk.App(), name)), handler)


def create_tables(*names: str) -> None:
    ddb = boto3.client("dynamodb")
    for name in names:
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])


def test_items_api_is_granted_exactly_what_its_routes_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from items_api import handler

    from stacks.items_api import ItemsApiStack

    def call(method: str, path: str, route: str, **options: Any) -> dict[str, Any]:
        item_id = path.split("/")[2] if route.endswith("{id}") else None
        event = http_event(method, path, route_key=f"{method} {route}",
                           path_parameters={"id": item_id} if item_id else None,
                           authorizer={"lambda": {"sub": "u", "tenant": "t", "scopes": "", "auth_type": "jwt"}},
                           **options)
        response: dict[str, Any] = handler.main(event, FakeLambdaContext())
        return response

    with mock_aws():
        create_tables("items")
        monkeypatch.setenv("ITEMS_TABLE_NAME", "items")
        with recording() as calls:
            handler.store.cache_clear()
            created = response_json(call("POST", "/items", "/items", body={"name": "lamp"}))
            path = f"/items/{created['id']}"
            statuses = [
                call("GET", "/items", "/items", query={"limit": "5"})["statusCode"],
                call("GET", path, "/items/{id}")["statusCode"],
                call("PUT", path, "/items/{id}", body={"name": "desk lamp"}, headers={"if-match": '"1"'})[
                    "statusCode"],
                call("PUT", path, "/items/{id}", body={"name": "x"}, headers={"if-match": '"1"'})["statusCode"],
                call("DELETE", path, "/items/{id}")["statusCode"],
            ]
            handler.store.cache_clear()
    assert statuses == [200, 200, 200, 409, 204]
    assert calls.actions == {"dynamodb:PutItem", "dynamodb:Scan", "dynamodb:GetItem", "dynamodb:UpdateItem",
                             "dynamodb:DeleteItem"}
    assert_exact(calls, example_grants(ItemsApiStack, "ItemsApiStack", "items_api.handler.main"), {"dynamodb"})


def test_partner_api_functions_are_granted_exactly_what_they_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from partner_api import export, handler

    from stacks.partner_api import PartnerApiStack

    with mock_aws():
        create_tables("catalog", "orders")
        boto3.client("dynamodb").put_item(TableName="catalog", Item={
            "pk": {"S": "WIDGET-1"}, "name": {"S": "Widget"}, "price": {"N": "9.99"}, "currency": {"S": "EUR"},
            "active": {"BOOL": True}})
        monkeypatch.setenv("CATALOG_TABLE_NAME", "catalog")
        monkeypatch.setenv("PARTNER_ORDERS_TABLE_NAME", "orders")
        with recording() as api_calls:
            handler.catalog.cache_clear()
            handler.orders.cache_clear()

            def call(method: str, path: str, resource: str, **options: Any) -> int:
                event = rest_event(method, path, resource=resource, api_key_id="partner-key-1", **options)
                status: int = handler.main(event, FakeLambdaContext())["statusCode"]
                return status

            statuses = [
                call("GET", "/catalog", "/catalog"),
                call("GET", "/catalog/WIDGET-1", "/catalog/{sku}", path_parameters={"sku": "WIDGET-1"}),
                call("POST", "/orders", "/orders",
                     body={"sku": "WIDGET-1", "quantity": 2, "partner_reference": "PO-1"}),
            ]
            handler.catalog.cache_clear()
            handler.orders.cache_clear()
        with recording() as export_calls:
            export.catalog.cache_clear()
            lines = list(export.main(rest_event("GET", "/catalog/export", api_key_id="partner-key-1"),
                                     FakeLambdaContext()).body)
            export.catalog.cache_clear()
    assert statuses == [200, 200, 201] and lines
    assert api_calls.actions == {"dynamodb:Scan", "dynamodb:GetItem", "dynamodb:PutItem"}
    assert export_calls.actions == {"dynamodb:Scan"}
    template = Template.from_stack(PartnerApiStack(cdk.App(), "PartnerApiStack"))
    assert_exact(api_calls, granted_actions(template, "partner_api.handler.main"), {"dynamodb"})
    assert_exact(export_calls, granted_actions(template, "partner_api.export.main"), {"dynamodb"})
