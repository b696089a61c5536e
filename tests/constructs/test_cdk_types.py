"""The constructs are the CDK types they extend: they go wherever CDK takes a function or a table, take
functions and queues built elsewhere, and keep their construct ids when code order changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from lambda_manifest import (
    AsyncWorker,
    DataTable,
    FunctionOptions,
    HttpServerlessApi,
    ObservedFunction,
    PropsError,
    RestServerlessApi,
    observe,
)
from tests.support import INLINE, new_stack

APP_DIR = Path(__file__).with_name("app_code")
PUBLIC = "A status endpoint of the tests that returns no data."


def app_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(APP_DIR))


def plain_function(stack: cdk.Stack, id: str = "Plain", timeout: int = 10) -> lambda_.Function:
    return lambda_.Function(stack, id, runtime=lambda_.Runtime.PYTHON_3_14, handler="index.main", code=INLINE,
                            timeout=cdk.Duration.seconds(timeout))


def logical_ids(stack: cdk.Stack, type_: str) -> set[str]:
    return set(Template.from_stack(stack).find_resources(type_))


def test_observed_function_goes_where_cdk_takes_a_function() -> None:
    stack = new_stack()
    fn = ObservedFunction(stack, "Fn", handler="index.main", code=INLINE, async_invocation=True)
    assert isinstance(fn, lambda_.Function)
    rule = events.Rule(stack, "Hourly", schedule=events.Schedule.rate(cdk.Duration.hours(1)))
    rule.add_target(targets.LambdaFunction(fn))
    bucket = s3.Bucket(stack, "Uploads")
    bucket.add_event_notification(s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(fn))
    template = Template.from_stack(stack)
    fn_id = stack.get_logical_id(fn.node.default_child)  # type: ignore[arg-type]
    (rule_props,) = [r["Properties"] for r in template.find_resources("AWS::Events::Rule").values()]
    assert rule_props["Targets"][0]["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    principals = {p["Properties"]["Principal"] for p in template.find_resources("AWS::Lambda::Permission").values()
                  if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [fn_id, "Arn"]}}
    assert {"events.amazonaws.com", "s3.amazonaws.com"} <= principals


def test_data_table_is_a_table_and_grants_return_grants() -> None:
    stack = new_stack()
    table = DataTable(stack, "Jobs", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING))
    fn = ObservedFunction(stack, "Fn", handler="index.main", code=INLINE)
    assert isinstance(table, dynamodb.Table)
    assert isinstance(table.grant_read_data(fn), iam.Grant)
    assert isinstance(table.grant(fn, "dynamodb:PutItem"), iam.Grant)
    secret = secretsmanager.Secret(stack, "Secret")
    assert isinstance(fn.grant_read_secret(secret), iam.Grant)
    worker = AsyncWorker(stack, "Worker", process="jobs.worker:process", code=app_code())
    assert isinstance(worker.grant_send(fn), iam.Grant)
    statements = [s for p in Template.from_stack(stack).find_resources("AWS::IAM::ManagedPolicy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert any(s["Action"] == "dynamodb:PutItem" for s in statements)


def test_a_plain_function_is_routed_and_observed() -> None:
    stack = new_stack()
    fn = plain_function(stack)
    api = HttpServerlessApi(stack, "Api")
    route = api.add_route("GET /plain", fn, public_reason=PUBLIC)
    assert route.function is fn
    observation = observe(fn)
    assert set(observation.alarms) == {"Errors", "Throttles", "DurationP99"}
    assert observation.dashboard is not None
    template = Template.from_stack(stack)
    fn_id = stack.get_logical_id(fn.node.default_child)  # type: ignore[arg-type]
    alarms = [a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()
              if {"Name": "FunctionName", "Value": {"Ref": fn_id}} in a["Properties"].get("Dimensions", [])]
    # The p99 alarm sits at 80% of the plain function's own 10 s timeout.
    (duration,) = [a for a in alarms if a["MetricName"] == "Duration"]
    assert duration["Threshold"] == 8000 and duration["ExtendedStatistic"] == "p99"
    assert {a["MetricName"] for a in alarms} == {"Errors", "Throttles", "Duration"}


def test_a_plain_function_is_a_worker() -> None:
    stack = new_stack()
    fn = plain_function(stack, timeout=20)
    worker = AsyncWorker(stack, "W", function=fn)
    assert worker.function is fn
    (queue,) = [q["Properties"] for q in Template.from_stack(stack).find_resources("AWS::SQS::Queue").values()
                if "RedrivePolicy" in q["Properties"]]
    assert queue["VisibilityTimeout"] == 6 * 20  # derived from the plain function's timeout


def test_an_existing_queue_is_used_not_copied() -> None:
    stack = new_stack()
    dlq = sqs.Queue(stack, "TeamDlq", enforce_ssl=True)
    queue = sqs.Queue(stack, "TeamQueue", visibility_timeout=cdk.Duration.minutes(5), enforce_ssl=True,
                      dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=3, queue=dlq))
    worker = AsyncWorker(stack, "W", process="jobs.worker:process", code=app_code(), queue=queue)
    assert worker.queue is queue and worker.dead_letter_queue is dlq and worker.max_receive_count == 3
    assert logical_ids(stack, "AWS::SQS::Queue") == {stack.get_logical_id(q.node.default_child)  # type: ignore[arg-type]
                                                    for q in (queue, dlq)}
    (mapping,) = Template.from_stack(stack).find_resources("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["EventSourceArn"] == {
        "Fn::GetAtt": [stack.get_logical_id(queue.node.default_child), "Arn"]}  # type: ignore[arg-type]


def test_an_existing_queue_with_queue_props_fails_loudly() -> None:
    stack = new_stack()
    queue = sqs.Queue(stack, "TeamQueue", dead_letter_queue=sqs.DeadLetterQueue(
        max_receive_count=3, queue=sqs.Queue(stack, "TeamDlq")))
    with pytest.raises(PropsError) as error:
        AsyncWorker(stack, "W", process="jobs.worker:process", code=app_code(), queue=queue,
                    retention_period=cdk.Duration.days(2), max_receive_count=9)
    message = str(error.value)
    assert "retention_period must be unset when queue= is given" in message
    assert "max_receive_count must be unset when queue= is given, got 9" in message


def test_an_existing_queue_without_a_dead_letter_queue_fails() -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match=r"queue must be a queue with a dead-letter queue"):
        AsyncWorker(stack, "W", process="jobs.worker:process", code=app_code(), queue=sqs.Queue(stack, "Bare"))


def test_a_short_visibility_timeout_on_an_existing_queue_fails() -> None:
    stack = new_stack()
    queue = sqs.Queue(stack, "TeamQueue", visibility_timeout=cdk.Duration.seconds(30),
                      dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=3, queue=sqs.Queue(stack, "TeamDlq")))
    with pytest.raises(PropsError, match=r"visibility_timeout"):
        AsyncWorker(stack, "W", process="jobs.worker:process", code=app_code(), queue=queue)


def test_code_with_a_function_handler_fails() -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match=r"code must be unset when function is a Lambda function"):
        AsyncWorker(stack, "W", function=plain_function(stack), code=app_code())


@pytest.mark.parametrize(("kind", "limit"), [("HTTP", 30), ("REST", 29)])
def test_a_function_slower_than_the_integration_timeout_fails(kind: str, limit: int) -> None:
    stack = new_stack()
    api = (HttpServerlessApi if kind == "HTTP" else RestServerlessApi)(stack, "Api")
    with pytest.raises(PropsError, match=rf"'GET /slow' handler timeout must be at most {limit} seconds, the "
                                         rf"{kind} API integration timeout, got '{limit + 1} seconds"):
        api.add_route("GET /slow", plain_function(stack, timeout=limit + 1), public_reason=PUBLIC)


def test_a_route_function_from_options_fits_the_integration_timeout_by_default() -> None:
    stack = new_stack()
    api = RestServerlessApi(stack, "Api", code=INLINE)
    route = api.add_route("GET /x", FunctionOptions(handler="index.main"), public_reason=PUBLIC)
    assert isinstance(route.function, lambda_.Function)
    assert route.function.timeout is not None and route.function.timeout.to_seconds() == 29


def _ids_with_rules(order: list[str]) -> set[str]:
    stack = new_stack()
    worker = AsyncWorker(stack, "W", process="jobs.worker:process", code=app_code())
    for name in order:
        worker.add_event_rule(id=name, schedule=events.Schedule.rate(cdk.Duration.hours(1)))
    return logical_ids(stack, "AWS::Events::Rule")


def _ids_with_tables(order: list[str]) -> dict[str, Any]:
    stack = new_stack()
    for name in order:
        DataTable(stack, name, partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING))
    template = Template.from_stack(stack)
    return {k: v["Properties"]["BackupSelection"]["Resources"]
            for k, v in template.find_resources("AWS::Backup::BackupSelection").items()}


def test_construct_ids_do_not_depend_on_code_order() -> None:
    assert _ids_with_rules(["Nightly", "Hourly"]) == _ids_with_rules(["Hourly", "Nightly"])
    assert _ids_with_tables(["Orders", "Items"]) == _ids_with_tables(["Items", "Orders"])


def test_an_event_rule_created_by_the_worker_needs_an_id() -> None:
    stack = new_stack()
    worker = AsyncWorker(stack, "W", process="jobs.worker:process", code=app_code())
    with pytest.raises(PropsError, match=r"id must be set when the rule is created here"):
        worker.add_event_rule(schedule=events.Schedule.rate(cdk.Duration.hours(1)))
