"""AsyncWorker: every default, every option, every unsafe setting, and compliance of representative configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from lambda_manifest import (
    AsyncWorker,
    Authorizer,
    FunctionOptions,
    HttpServerlessApi,
    ObservedFunction,
    Pack,
    PropsError,
    RestServerlessApi,
    acknowledge,
)
from tests.support import nag_findings, new_stack, template_of

PROCESS = "jobs.worker:process"
APP_DIR = Path(__file__).with_name("app_code")


def app_code() -> lambda_.Code:
    """The team code these tests hand to the worker: jobs/worker.py defines process(), jobs.main a handler.
    CDK binds an asset to one stack, so every stack gets its own Code."""
    return lambda_.Code.from_asset(str(APP_DIR))


def make(stack: cdk.Stack, id: str = "W", **props: Any) -> AsyncWorker:
    """A worker on the team code: ``process`` unless ``function`` names its own handler or is a function."""
    function = props.get("function")
    if isinstance(function, ObservedFunction):
        return AsyncWorker(stack, id, **props)
    if function is None or function.handler is None:
        props.setdefault("process", PROCESS)
    props.setdefault("code", app_code())
    return AsyncWorker(stack, id, **props)


def only(template: Template, type_: str) -> dict[str, Any]:
    found = template.find_resources(type_)
    assert len(found) == 1, f"expected one {type_}, found {list(found)}"
    props: dict[str, Any] = next(iter(found.values()))["Properties"]
    return props


def queues(template: Template) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template.find_resources("AWS::SQS::Queue").items()}


def main_queue(template: Template) -> dict[str, Any]:
    (props,) = [p for p in queues(template).values() if "RedrivePolicy" in p]
    return props


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


def policy_statements(template: Template) -> list[dict[str, Any]]:
    return [s for p in template.find_resources("AWS::IAM::ManagedPolicy").values()
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted(action if isinstance(action, list) else [action])


def alarm_by_metric(template: Template, metric: str) -> list[dict[str, Any]]:
    return [a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("MetricName") == metric]


def fails(match: str, build: Any) -> None:
    with pytest.raises(PropsError, match=match):
        build(new_stack())


@pytest.fixture(scope="module")
def built() -> tuple[cdk.Stack, AsyncWorker, Template]:
    stack = new_stack()
    worker = make(stack)
    return stack, worker, Template.from_stack(stack)


# ---------------------------------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------------------------------
def test_queue_and_dlq_are_kms_encrypted_with_the_stack_key_and_retained_14_days(built: Any) -> None:
    _, _, template = built
    key_id = next(iter(template.find_resources("AWS::KMS::Key")))
    all_queues = queues(template)
    assert len(all_queues) == 2
    for props in all_queues.values():
        assert props["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert "FifoQueue" not in props


def test_every_queue_enforces_tls(built: Any) -> None:
    _, _, template = built
    policies = template.find_resources("AWS::SQS::QueuePolicy")
    assert len(policies) == 2
    for policy in policies.values():
        statement = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_redrive_policy_points_at_the_dlq_with_default_receive_count(built: Any) -> None:
    stack, worker, template = built
    redrive = main_queue(template)["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [logical_id(stack, worker.dead_letter_queue), "Arn"]}


def test_visibility_timeout_is_six_times_the_function_timeout(built: Any) -> None:
    _, worker, template = built
    assert main_queue(template)["VisibilityTimeout"] == 180
    assert worker.visibility_timeout.to_seconds() == 180


def test_event_source_mapping_reports_batch_item_failures(built: Any) -> None:
    _, _, template = built
    mapping = only(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10
    assert "MaximumBatchingWindowInSeconds" not in mapping
    assert "ScalingConfig" not in mapping


def test_process_runs_the_shipped_worker_runtime(built: Any) -> None:
    _, _, template = built
    fn = only(template, "AWS::Lambda::Function")
    assert fn["Handler"] == "lambda_manifest.runtime.worker.handler.main"
    env = fn["Environment"]["Variables"]
    assert env["LM_WORKER_PROCESS"] == PROCESS
    assert env["POWERTOOLS_SERVICE_NAME"] == "W"
    for name in ("LM_WORKER_FIFO", "LM_WORKER_RAW_BODY", "LM_WORKER_IDEMPOTENCY_TABLE"):
        assert name not in env


def test_worker_may_consume_only_its_queue(built: Any) -> None:
    stack, worker, template = built
    queue_arn = {"Fn::GetAtt": [logical_id(stack, worker.queue), "Arn"]}
    sqs_statements = [s for s in policy_statements(template) if any(a.startswith("sqs:") for a in actions(s))]
    assert len(sqs_statements) == 1
    assert sqs_statements[0]["Resource"] == queue_arn
    assert "sqs:DeleteMessage" in actions(sqs_statements[0]) and "sqs:SendMessage" not in actions(sqs_statements[0])


def test_alarms_dlq_and_age_with_redrive_instructions(built: Any) -> None:
    stack, worker, template = built
    topic_id = next(iter(template.find_resources("AWS::SNS::Topic")))
    (dlq_alarm,) = [a for a in alarm_by_metric(template, "ApproximateNumberOfMessagesVisible")]
    assert dlq_alarm["Threshold"] == 1
    assert dlq_alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0] == logical_id(stack, worker.dead_letter_queue)
    assert "python -m lambda_manifest.redrive TestStack/WDeadLetterQueueUrl --dry-run" in dlq_alarm["AlarmDescription"]
    (age_alarm,) = alarm_by_metric(template, "ApproximateAgeOfOldestMessage")
    assert age_alarm["Threshold"] == 180 * 5
    assert age_alarm["Statistic"] == "Maximum"
    for alarm in (dlq_alarm, age_alarm):
        assert alarm["AlarmActions"] == [{"Ref": topic_id}] and alarm["OKActions"] == [{"Ref": topic_id}]


def test_worker_errors_and_throttles_alarms_are_the_functions_not_duplicates(built: Any) -> None:
    _, worker, template = built
    assert len(alarm_by_metric(template, "Errors")) == 1
    assert len(alarm_by_metric(template, "Throttles")) == 1
    assert worker.alarms["WorkerErrors"] is worker.function.alarms["Errors"]
    assert worker.alarms["WorkerThrottles"] is worker.function.alarms["Throttles"]
    assert set(worker.alarms) == {"DeadLetterQueueNotEmpty", "OldestMessageAge", "WorkerErrors", "WorkerThrottles"}


def test_outputs_name_the_queue_and_dlq_urls(built: Any) -> None:
    stack, worker, template = built
    outputs = template.to_json()["Outputs"]
    assert outputs["WQueueUrl"]["Value"] == {"Ref": logical_id(stack, worker.queue)}
    assert outputs["WDeadLetterQueueUrl"]["Value"] == {"Ref": logical_id(stack, worker.dead_letter_queue)}
    assert "lambda_manifest.redrive" in outputs["WDeadLetterQueueUrl"]["Description"]


def test_dashboard_row_shows_depth_and_age(built: Any) -> None:
    _, _, template = built
    body = json.dumps(only(template, "AWS::CloudWatch::Dashboard")["DashboardBody"])
    assert "Queue TestStack/W" in body and "Function TestStack/W/Worker" in body
    for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
                   "ApproximateAgeOfOldestMessage"):
        assert metric in body


def test_attributes(built: Any) -> None:
    _, worker, _ = built
    assert isinstance(worker.queue, sqs.Queue) and isinstance(worker.dead_letter_queue, sqs.Queue)
    assert isinstance(worker.function, ObservedFunction)
    assert isinstance(worker.event_source, event_sources.SqsEventSource)
    assert worker.event_source_mapping is not None
    assert worker.idempotency_table is None and worker.delivery_dead_letter_queue is None
    assert worker.grant_principal is worker.function.role
    assert worker.queue_url == worker.queue.queue_url and worker.queue_arn == worker.queue.queue_arn
    assert worker.metric_oldest_message_age().metric_name == "ApproximateAgeOfOldestMessage"
    assert worker.metric_dead_letter_messages().statistic == "Maximum"
    assert worker.metric_visible_messages().period.to_seconds() == 300
    assert worker.metric_in_flight_messages().metric_name == "ApproximateNumberOfMessagesNotVisible"
    assert worker.metric_messages_sent().statistic == "Sum"
    assert worker.metric_messages_deleted().metric_name == "NumberOfMessagesDeleted"


# ---------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------
def test_function_options_with_timeout_and_window_derive_visibility() -> None:
    template = template_of(lambda s: make(
        s, function=FunctionOptions(handler="jobs.main", timeout=cdk.Duration.seconds(60), memory_size=512),
        batch_size=100, max_batching_window=cdk.Duration.seconds(5)))
    assert main_queue(template)["VisibilityTimeout"] == 6 * 60 + 5
    mapping = only(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["BatchSize"] == 100 and mapping["MaximumBatchingWindowInSeconds"] == 5
    fn = only(template, "AWS::Lambda::Function")
    assert fn["Handler"] == "jobs.main" and fn["MemorySize"] == 512
    assert "LM_WORKER_PROCESS" not in fn["Environment"]["Variables"]


def test_function_options_add_function_props_to_process() -> None:
    template = template_of(lambda s: make(s, function=FunctionOptions(memory_size=1024, environment={"A": "b"})))
    fn = only(template, "AWS::Lambda::Function")
    assert fn["Handler"] == "lambda_manifest.runtime.worker.handler.main" and fn["MemorySize"] == 1024
    assert fn["Environment"]["Variables"]["A"] == "b"
    assert fn["Environment"]["Variables"]["LM_WORKER_PROCESS"] == PROCESS


def test_existing_observed_function_is_wired_not_copied() -> None:
    stack = new_stack()
    fn = ObservedFunction(stack, "Fn", handler="lambda_manifest.runtime.worker.handler.main", timeout=cdk.Duration.seconds(10),
                          environment={"LM_WORKER_PROCESS": PROCESS})
    worker = make(stack, function=fn, fifo=True)
    template = Template.from_stack(stack)
    assert worker.function is fn
    assert len(template.find_resources("AWS::Lambda::Function")) == 1
    assert main_queue(template)["VisibilityTimeout"] == 60
    assert only(template, "AWS::Lambda::Function")["Environment"]["Variables"]["LM_WORKER_FIFO"] == "true"


def test_explicit_limits_reach_queue_and_mapping() -> None:
    template = template_of(lambda s: make(
        s, visibility_timeout=cdk.Duration.minutes(10), max_receive_count=10, max_concurrency=5,
        retention_period=cdk.Duration.days(7), batch_size=5))
    queue = main_queue(template)
    assert queue["VisibilityTimeout"] == 600 and queue["RedrivePolicy"]["maxReceiveCount"] == 10
    assert queue["MessageRetentionPeriod"] == 7 * 24 * 3600
    mapping = only(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5} and mapping["BatchSize"] == 5
    (age,) = alarm_by_metric(template, "ApproximateAgeOfOldestMessage")
    assert age["Threshold"] == 600 * 10


def test_sqs_managed_encryption() -> None:
    template = template_of(lambda s: make(s, encryption=sqs.QueueEncryption.SQS_MANAGED))
    for props in queues(template).values():
        assert props["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in props
    # No key statement for the queues; the one left lets the function decrypt its environment (the stack key).
    key_statements = [s for s in policy_statements(template) if any(a.startswith("kms:") for a in actions(s))]
    stack_key = next(lid for lid in template.find_resources("AWS::KMS::Key") if lid.startswith("LambdaManifestShared"))
    assert key_statements == [{"Action": "kms:Decrypt", "Effect": "Allow", "Resource": {"Fn::GetAtt": [stack_key, "Arn"]}}]


def test_own_key_encrypts_the_queues() -> None:
    stack = new_stack()
    key = kms.Key(stack, "QueueKey", enable_key_rotation=True)
    make(stack, encryption_key=key)
    template = Template.from_stack(stack)
    for props in queues(template).values():
        assert props["KmsMasterKeyId"] == {"Fn::GetAtt": [logical_id(stack, key), "Arn"]}


def test_own_dead_letter_queue_is_used_and_alarmed() -> None:
    stack = new_stack()
    dlq = sqs.Queue(stack, "MyDlq", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)
    worker = make(stack, dead_letter_queue=dlq)
    template = Template.from_stack(stack)
    assert worker.dead_letter_queue is dlq
    assert len(queues(template)) == 2
    assert main_queue(template)["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [logical_id(stack, dlq), "Arn"]}


def test_fifo_queue_dlq_runtime_flag_and_dedup() -> None:
    template = template_of(lambda s: make(s, fifo=True, content_based_deduplication=True, batch_size=10))
    queue = main_queue(template)
    assert queue["FifoQueue"] is True and queue["ContentBasedDeduplication"] is True
    dlq = next(p for p in queues(template).values() if "RedrivePolicy" not in p)
    assert dlq["FifoQueue"] is True
    env = only(template, "AWS::Lambda::Function")["Environment"]["Variables"]
    assert env["LM_WORKER_FIFO"] == "true"
    assert "MaximumBatchingWindowInSeconds" not in only(template, "AWS::Lambda::EventSourceMapping")


def test_idempotency_table_env_and_exact_grants() -> None:
    stack = new_stack()
    worker = make(stack, idempotency=True, idempotency_window=cdk.Duration.hours(2),
                  idempotency_key="body.order_id")
    template = Template.from_stack(stack)
    table = only(template, "AWS::DynamoDB::Table")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEType"] == "KMS" and "KMSMasterKeyId" in table["SSESpecification"]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    table_id = logical_id(stack, worker.idempotency_table)
    env = only(template, "AWS::Lambda::Function")["Environment"]["Variables"]
    assert env["LM_WORKER_IDEMPOTENCY_TABLE"] == {"Ref": table_id}
    assert env["LM_WORKER_IDEMPOTENCY_TTL_SECONDS"] == "7200"
    assert env["LM_WORKER_IDEMPOTENCY_KEY"] == "body.order_id"
    dynamo = [s for s in policy_statements(template) if any(a.startswith("dynamodb:") for a in actions(s))]
    assert [actions(s) for s in dynamo] == [
        ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]]


def test_idempotency_window_defaults_to_an_hour() -> None:
    env = only(template_of(lambda s: make(s, idempotency=True)), "AWS::Lambda::Function")["Environment"]["Variables"]
    assert env["LM_WORKER_IDEMPOTENCY_TTL_SECONDS"] == "3600"
    assert "LM_WORKER_IDEMPOTENCY_KEY" not in env


def test_raw_body_flag() -> None:
    env = only(template_of(lambda s: make(s, raw_body=True)), "AWS::Lambda::Function")["Environment"]["Variables"]
    assert env["LM_WORKER_RAW_BODY"] == "true"


def test_alarm_overrides_topic_and_no_dashboard() -> None:
    stack = new_stack()
    topic = sns.Topic(stack, "OnCall")
    worker = make(stack, alarm_topic=topic, dashboard=False, dead_letter_alarm_threshold=3,
                  age_alarm_threshold=cdk.Duration.minutes(2))
    template = Template.from_stack(stack)
    assert worker.dashboard is None
    (dlq_alarm,) = alarm_by_metric(template, "ApproximateNumberOfMessagesVisible")
    assert dlq_alarm["Threshold"] == 3 and dlq_alarm["AlarmActions"] == [{"Ref": logical_id(stack, topic)}]
    assert alarm_by_metric(template, "ApproximateAgeOfOldestMessage")[0]["Threshold"] == 120
    body = json.dumps(template.find_resources("AWS::CloudWatch::Dashboard"))
    assert "Queue TestStack/W" not in body


def test_grant_send() -> None:
    stack = new_stack()
    worker = make(stack)
    role = iam.Role(stack, "Producer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    worker.grant_send(role)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Action": Match.array_with(["sqs:SendMessage"]),
                           "Resource": {"Fn::GetAtt": [logical_id(stack, worker.queue), "Arn"]}}),
        Match.object_like({"Action": Match.array_with(["kms:GenerateDataKey*"])}),
    ])}})


# ---------------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------------
def test_sns_subscription_is_raw_scoped_to_the_topic_with_a_delivery_dlq() -> None:
    stack = new_stack()
    worker = make(stack)
    topic = sns.Topic(stack, "Topic")
    worker.add_sns_subscription(topic, filter_policy={
        "event_type": sns.SubscriptionFilter.string_filter(allowlist=["order_created"])})
    template = Template.from_stack(stack)
    topic_ref = {"Ref": logical_id(stack, topic)}
    subscription = only(template, "AWS::SNS::Subscription")
    assert subscription["Protocol"] == "sqs" and subscription["RawMessageDelivery"] is True
    assert subscription["TopicArn"] == topic_ref
    assert subscription["FilterPolicy"] == {"event_type": ["order_created"]}
    assert worker.delivery_dead_letter_queue is not None
    dlq_arn = {"Fn::GetAtt": [logical_id(stack, worker.delivery_dead_letter_queue), "Arn"]}
    assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": dlq_arn}
    for queue in (worker.queue, worker.delivery_dead_letter_queue):
        template.has_resource_properties("AWS::SQS::QueuePolicy", {
            "Queues": [{"Ref": logical_id(stack, queue)}],
            "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
                "Action": "sqs:SendMessage", "Principal": {"Service": "sns.amazonaws.com"},
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_ref}}})])}})
    assert "DeliveryFailures" in worker.alarms
    assert "WDeliveryDeadLetterQueueUrl" in template.to_json()["Outputs"]
    # The subscription waits for the queue policy that lets SNS deliver.
    depends = template.to_json()["Resources"][next(iter(template.find_resources("AWS::SNS::Subscription")))]
    assert any("QueuePolicy" in d for d in depends.get("DependsOn", []))


def test_sns_raw_delivery_can_be_turned_off_and_dlq_is_shared() -> None:
    stack = new_stack()
    worker = make(stack)
    worker.add_sns_subscription(sns.Topic(stack, "A"), raw_message_delivery=False)
    worker.add_sns_subscription(sns.Topic(stack, "B"))
    template = Template.from_stack(stack)
    subs = [s["Properties"] for s in template.find_resources("AWS::SNS::Subscription").values()]
    assert sorted(s["RawMessageDelivery"] for s in subs) == [False, True]
    assert len(queues(template)) == 3


def test_fifo_worker_subscribes_a_fifo_topic_with_a_fifo_delivery_dlq() -> None:
    stack = new_stack()
    worker = make(stack, fifo=True)
    worker.add_sns_subscription(sns.Topic(stack, "Topic", fifo=True))
    template = Template.from_stack(stack)
    dlq = worker.delivery_dead_letter_queue
    assert dlq is not None and dlq.fifo
    assert all(p.get("FifoQueue") for p in queues(template).values())


def test_event_rule_from_schedule_scoped_queue_policy_and_dlq() -> None:
    stack = new_stack()
    worker = make(stack)
    rule = worker.add_event_rule(id="Nightly", schedule=events.Schedule.cron(minute="0", hour="3"), description="nightly")
    template = Template.from_stack(stack)
    props = only(template, "AWS::Events::Rule")
    assert props["ScheduleExpression"] == "cron(0 3 * * ? *)"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(stack, worker.queue), "Arn"]}
    assert worker.delivery_dead_letter_queue is not None
    assert target["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": [logical_id(stack, worker.delivery_dead_letter_queue), "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    rule_arn = {"Fn::GetAtt": [logical_id(stack, rule), "Arn"]}
    statements = [s for p in template.find_resources("AWS::SQS::QueuePolicy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert len(statements) == 2  # the queue and the delivery DLQ, nothing broader
    for statement in statements:
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}


def test_event_rule_existing_rule_pattern_input_and_fifo_group() -> None:
    stack = new_stack()
    worker = make(stack, fifo=True)
    existing = events.Rule(stack, "Existing", event_pattern=events.EventPattern(source=["app.orders"]))
    worker.add_event_rule(existing, message_group_id="orders", retry_attempts=3,
                          max_event_age=cdk.Duration.hours(1),
                          message=events.RuleTargetInput.from_object({"kind": "tick"}))
    template = Template.from_stack(stack)
    (target,) = only(template, "AWS::Events::Rule")["Targets"]
    assert target["SqsParameters"] == {"MessageGroupId": "orders"}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert json.loads(target["Input"]) == {"kind": "tick"}
    dlq = worker.delivery_dead_letter_queue
    assert dlq is not None and not dlq.fifo  # EventBridge dead-letter queues are standard queues


def test_s3_notifications_filtered_and_scoped_to_the_bucket() -> None:
    stack = new_stack()
    worker = make(stack)
    bucket = s3.Bucket(stack, "Bucket")
    worker.add_s3_notifications(bucket, prefix="incoming/", suffix=".json",
                                events=[s3.EventType.OBJECT_CREATED, s3.EventType.OBJECT_REMOVED])
    template = Template.from_stack(stack)
    config = only(template, "Custom::S3BucketNotifications")["NotificationConfiguration"]["QueueConfigurations"]
    assert sorted(c["Events"][0] for c in config) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert config[0]["Filter"] == {"Key": {"FilterRules": [
        {"Name": "suffix", "Value": ".json"}, {"Name": "prefix", "Value": "incoming/"}]}}
    statements = [s for p in template.find_resources("AWS::SQS::QueuePolicy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if s.get("Principal") == {"Service": "s3.amazonaws.com"}]
    assert len(statements) == 1
    condition = statements[0]["Condition"]
    assert condition["ArnLike"] == {"aws:SourceArn": {"Fn::GetAtt": [logical_id(stack, bucket), "Arn"]}}
    assert "aws:SourceAccount" in condition["StringEquals"]
    # No unconditioned statement for S3 is added to the key policy: the shared key trusts this account's S3.
    key = only(template, "AWS::KMS::Key")
    s3_key_statements = [s for s in key["KeyPolicy"]["Statement"] if "s3.amazonaws.com" in json.dumps(s)]
    assert all("Condition" in s for s in s3_key_statements)


def test_sources_with_own_key_add_scoped_key_policy_statements() -> None:
    stack = new_stack()
    key = kms.Key(stack, "QueueKey", enable_key_rotation=True)
    worker = make(stack, encryption_key=key)
    topic = sns.Topic(stack, "Topic")
    worker.add_sns_subscription(topic)
    template = Template.from_stack(stack)
    policy = template.to_json()["Resources"][logical_id(stack, key)]["Properties"]["KeyPolicy"]["Statement"]
    sns_statements = [s for s in policy if s.get("Principal") == {"Service": "sns.amazonaws.com"}]
    assert sns_statements and all(
        s["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": logical_id(stack, topic)}}} for s in sns_statements)


# ---------------------------------------------------------------------------------------------------
# Direct API route
# ---------------------------------------------------------------------------------------------------
def _api(stack: cdk.Stack) -> HttpServerlessApi:
    return HttpServerlessApi(stack, "Api", authorizer=Authorizer.jwt(issuer="https://auth.example.com/",
                                                                     audience=["orders"]))


def _rest_api(stack: cdk.Stack) -> RestServerlessApi:
    return RestServerlessApi(stack, "Api", authorizer=Authorizer.cognito())


def test_api_route_sends_the_body_to_the_queue_and_answers_202() -> None:
    stack = new_stack()
    worker = make(stack)
    route = worker.add_api_route(_api(stack), "POST /orders")
    template = Template.from_stack(stack)
    integration = only(template, "AWS::ApiGatewayV2::Integration")
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationSubtype"] == "SQS-SendMessage"
    assert integration["RequestParameters"] == {"QueueUrl": {"Ref": logical_id(stack, worker.queue)},
                                                "MessageBody": "$request.body"}
    assert integration["ResponseParameters"] == {"200": {"ResponseParameters": [
        {"Destination": "overwrite:statuscode", "Source": "202"}]}}
    role_id = integration["CredentialsArn"]["Fn::GetAtt"][0]
    policy = [p["Properties"] for p in template.find_resources("AWS::IAM::ManagedPolicy").values()
              if p["Properties"].get("Roles") == [{"Ref": role_id}]]
    assert [sorted(actions(s)) for s in policy[0]["PolicyDocument"]["Statement"]] == [
        ["sqs:SendMessage"], ["kms:Decrypt", "kms:GenerateDataKey"]]
    assert template.to_json()["Resources"][role_id]["Properties"].get("Policies") is None
    routes = template.find_resources("AWS::ApiGatewayV2::Route")
    (route_props,) = [r["Properties"] for r in routes.values() if r["Properties"]["RouteKey"] == "POST /orders"]
    assert route_props["AuthorizationType"] == "JWT"
    assert route.key == "POST /orders"


def test_api_route_fifo_maps_group_and_dedup_and_status_can_stay_200() -> None:
    stack = new_stack()
    worker = make(stack, fifo=True)
    worker.add_api_route(_api(stack), "POST /jobs", message_group_id="$request.header.X-Group-Id",
                         accepted_status=None)
    integration = only(Template.from_stack(stack), "AWS::ApiGatewayV2::Integration")
    assert integration["RequestParameters"]["MessageGroupId"] == "$request.header.X-Group-Id"
    assert integration["RequestParameters"]["MessageDeduplicationId"] == "$context.requestId"
    assert "ResponseParameters" not in integration


def test_api_route_on_a_rest_api_sends_json_bodies_to_the_queue() -> None:
    stack = new_stack()
    worker = make(stack)
    route = worker.add_api_route(_rest_api(stack), "POST /orders")
    template = Template.from_stack(stack)
    method = only(template, "AWS::ApiGateway::Method")
    integration = method["Integration"]
    assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
    assert integration["Type"] == "AWS" and integration["IntegrationHttpMethod"] == "POST"
    assert ":sqs:path/" in json.dumps(integration["Uri"])
    assert integration["PassthroughBehavior"] == "NEVER"
    assert integration["RequestTemplates"] == {
        "application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"}
    assert integration["RequestParameters"] == {
        "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"}
    assert [r["StatusCode"] for r in integration["IntegrationResponses"]] == ["202", "400", "500"]
    assert [r["StatusCode"] for r in method["MethodResponses"]] == ["202", "400", "500"]
    role_id = integration["Credentials"]["Fn::GetAtt"][0]
    assert role_id.startswith("WApiSendRole")
    assert route.function is None and route.key == "POST /orders"


def test_api_route_on_a_rest_api_maps_the_fifo_group_into_the_template() -> None:
    stack = new_stack()
    make(stack, fifo=True).add_api_route(_rest_api(stack), "POST /jobs",
                                         message_group_id="$request.header.X-Group-Id", accepted_status=None)
    integration = only(Template.from_stack(stack), "AWS::ApiGateway::Method")["Integration"]
    assert integration["RequestTemplates"]["application/json"] == (
        "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
        "&MessageGroupId=$util.urlEncode($input.params().header.get('X-Group-Id'))"
        "&MessageDeduplicationId=$util.urlEncode($context.requestId)")
    assert integration["IntegrationResponses"][0]["StatusCode"] == "200"


def test_api_route_on_a_rest_api_fails_an_unmappable_group() -> None:
    fails(r"message_group_id must be a static value, \$request.header\|querystring\|path.NAME",
          lambda s: make(s, fifo=True).add_api_route(_rest_api(s), "POST /jobs", message_group_id="$stageVariables.x"))


# ---------------------------------------------------------------------------------------------------
# Unsafe settings
# ---------------------------------------------------------------------------------------------------
def test_fails_visibility_timeout_too_short_names_the_minimum() -> None:
    fails(r"visibility_timeout must be at least 185 seconds", lambda s: make(
        s, visibility_timeout=cdk.Duration.seconds(60), batch_size=20, max_batching_window=cdk.Duration.seconds(5)))
    fails(r"visibility_timeout must be at least 360 seconds", lambda s: make(
        s, function=FunctionOptions(timeout=cdk.Duration.minutes(1)), visibility_timeout=cdk.Duration.minutes(5)))


def test_fails_visibility_timeout_above_12_hours() -> None:
    fails(r"visibility_timeout must be at most 43200", lambda s: make(s, visibility_timeout=cdk.Duration.hours(13)))


def test_fails_batch_size_over_10_without_window() -> None:
    fails(r"batch_size must be at most 10 without max_batching_window", lambda s: make(s, batch_size=11))


def test_fails_batch_size_over_limit() -> None:
    fails(r"batch_size must be between 1 and 10000", lambda s: make(
        s, batch_size=10001, max_batching_window=cdk.Duration.seconds(1)))
    fails(r"batch_size must be between 1 and 10 for a FIFO queue", lambda s: make(s, fifo=True, batch_size=11))
    fails(r"batch_size must be between 1 and 10000", lambda s: make(s, batch_size=0))


def test_fails_batching_window_over_300_seconds_or_on_fifo() -> None:
    fails(r"max_batching_window must be between 0 and 300", lambda s: make(
        s, max_batching_window=cdk.Duration.minutes(6)))
    fails(r"max_batching_window must be unset for a FIFO queue", lambda s: make(
        s, fifo=True, max_batching_window=cdk.Duration.seconds(1)))


def test_fails_fifo_with_standard_dlq_and_standard_with_fifo_dlq() -> None:
    fails(r"dead_letter_queue must be a FIFO queue", lambda s: make(
        s, fifo=True, dead_letter_queue=sqs.Queue(s, "Dlq")))
    fails(r"dead_letter_queue must be a standard queue", lambda s: make(
        s, dead_letter_queue=sqs.Queue(s, "Dlq", fifo=True)))


@pytest.mark.parametrize("count", [0, 1001])
def test_fails_max_receive_count_out_of_range(count: int) -> None:
    fails(r"max_receive_count must be between 1 and 1000", lambda s: make(s, max_receive_count=count))


@pytest.mark.parametrize("concurrency", [1, 1001])
def test_fails_max_concurrency_out_of_range(concurrency: int) -> None:
    fails(r"max_concurrency must be between 2 and 1000", lambda s: make(s, max_concurrency=concurrency))


def test_fails_max_concurrency_above_reserved_concurrency() -> None:
    fails(r"max_concurrency must be at most reserved_concurrent_executions \(5\)", lambda s: make(
        s, function=FunctionOptions(reserved_concurrent_executions=5), max_concurrency=10))


def test_fails_without_handler_or_process_and_with_both() -> None:
    fails(r"function must be a Lambda function or FunctionOptions, or process= must be set",
          lambda s: AsyncWorker(s, "W"))
    fails(r"code must be the code that holds the process module 'jobs.worker'",
          lambda s: AsyncWorker(s, "W", process=PROCESS))
    fails(r"code must be the code that holds the process module 'jobs.worker'",
          lambda s: AsyncWorker(s, "W", process=PROCESS, function=FunctionOptions(memory_size=512)))
    fails(r"function must be FunctionOptions without a handler when process= is given",
          lambda s: make(s, function=FunctionOptions(handler="a.b"), process=PROCESS))
    fails(r"function must be FunctionOptions with a handler, or process= must be set",
          lambda s: AsyncWorker(s, "W", function=FunctionOptions(memory_size=512), code=app_code()))
    fails(r"process must be unset when function is a Lambda function", lambda s: AsyncWorker(
        s, "W", function=ObservedFunction(s, "Fn", handler="jobs.main", code=app_code()), process=PROCESS))
    fails(r"function must be a Lambda function \(any IFunction\) or FunctionOptions", lambda s: AsyncWorker(
        s, "W", function="a.b"))  # type: ignore[arg-type]
    fails(r"function must be a FunctionOptions\(...\), got 'a dict'; write FunctionOptions\(memory_size=...\)",
          lambda s: AsyncWorker(s, "W", process=PROCESS, code=app_code(),
                                function={"memory_size": 512}))  # type: ignore[arg-type]


def test_fails_malformed_process() -> None:
    fails(r"process must be 'package.module:function'", lambda s: make(s, process="orders.worker.process"))


def test_fails_async_invocation_props_on_a_queue_worker() -> None:
    fails(r"function.async_invocation must be unset", lambda s: make(s, function=FunctionOptions(async_invocation=True)))


def test_fails_runtime_environment_set_by_hand() -> None:
    fails(r"function.environment\['LM_WORKER_FIFO'\] must be set by AsyncWorker", lambda s: make(
        s, function=FunctionOptions(environment={"LM_WORKER_FIFO": "true"})))


def test_fails_content_based_deduplication_without_fifo() -> None:
    fails(r"content_based_deduplication must be used only with fifo=True", lambda s: make(
        s, content_based_deduplication=True))


@pytest.mark.parametrize("encryption", [sqs.QueueEncryption.KMS_MANAGED, sqs.QueueEncryption.UNENCRYPTED])
def test_fails_unencrypted_or_aws_managed_key(encryption: sqs.QueueEncryption) -> None:
    fails(r"encryption must be QueueEncryption.KMS or QueueEncryption.SQS_MANAGED", lambda s: make(
        s, encryption=encryption))


def test_fails_key_without_kms_encryption() -> None:
    fails(r"encryption_key must be used only with encryption=QueueEncryption.KMS", lambda s: make(
        s, encryption=sqs.QueueEncryption.SQS_MANAGED, encryption_key=kms.Key(s, "K")))


def test_fails_retention_out_of_range() -> None:
    fails(r"retention_period must be between 60 seconds and 14 days", lambda s: make(
        s, retention_period=cdk.Duration.days(15)))


def test_fails_idempotency_settings_without_idempotency_or_window_too_short() -> None:
    fails(r"idempotency_window must be used only with idempotency=True", lambda s: make(
        s, idempotency_window=cdk.Duration.hours(1)))
    fails(r"idempotency_key must be used only with idempotency=True", lambda s: make(s, idempotency_key="body.id"))
    fails(r"idempotency_window must be at least the visibility timeout \(180 seconds\)", lambda s: make(
        s, idempotency=True, idempotency_window=cdk.Duration.minutes(1)))


def test_fails_alarm_thresholds() -> None:
    fails(r"dead_letter_alarm_threshold must be at least 1", lambda s: make(s, dead_letter_alarm_threshold=0))
    fails(r"age_alarm_threshold must be at least 60 seconds", lambda s: make(
        s, age_alarm_threshold=cdk.Duration.seconds(30)))


def test_fails_lists_every_problem_at_once() -> None:
    with pytest.raises(PropsError) as error:
        make(new_stack(), max_receive_count=0, batch_size=50, max_concurrency=1)
    message = str(error.value)
    assert message.startswith("AsyncWorker 'W' has invalid props:")
    assert "max_receive_count" in message and "batch_size" in message and "max_concurrency" in message


def test_fails_sources_that_cannot_reach_the_queue() -> None:
    def fifo_with_standard_topic(s: cdk.Stack) -> None:
        make(s, fifo=True).add_sns_subscription(sns.Topic(s, "T"))

    def s3_into_fifo(s: cdk.Stack) -> None:
        make(s, fifo=True).add_s3_notifications(s3.Bucket(s, "B"))

    def rule_without_source(s: cdk.Stack) -> None:
        make(s).add_event_rule()

    def fifo_rule_without_group(s: cdk.Stack) -> None:
        make(s, fifo=True).add_event_rule(id="Hourly", schedule=events.Schedule.rate(cdk.Duration.hours(1)))

    def retries_out_of_range(s: cdk.Stack) -> None:
        make(s).add_event_rule(id="Hourly", schedule=events.Schedule.rate(cdk.Duration.hours(1)), retry_attempts=186)

    fails(r"topic must be a FIFO topic for a FIFO queue", fifo_with_standard_topic)
    fails(r"the queue must be a standard queue", s3_into_fifo)
    fails(r"rule must be given, or else event_pattern", rule_without_source)
    fails(r"message_group_id must be set for a FIFO queue", fifo_rule_without_group)
    fails(r"retry_attempts must be between 0 and 185", retries_out_of_range)


def test_fails_api_route_settings() -> None:
    fails(r"message_group_id must be set for a FIFO queue", lambda s: make(s, fifo=True).add_api_route(
        _api(s), "POST /jobs"))
    fails(r"accepted_status must be a 2xx status code or None", lambda s: make(s).add_api_route(
        _api(s), "POST /jobs", accepted_status=404))


def test_a_token_is_left_to_deploy_time_and_reaches_the_template() -> None:
    fails(r"max_receive_count must be between 1 and 1000, got 0", lambda s: make(s, max_receive_count=0))
    stack = new_stack()
    count = cdk.Token.as_number(cdk.CfnParameter(stack, "Count", type="Number").value_as_number)
    make(stack, max_receive_count=count)  # known only at deploy time, so not checked at synth
    assert main_queue(Template.from_stack(stack))["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "Count"}


# ---------------------------------------------------------------------------------------------------
# Compliance of the construct on its own
# ---------------------------------------------------------------------------------------------------
def _scaffolding_bucket(stack: cdk.Stack) -> s3.Bucket:
    bucket = s3.Bucket(stack, "Uploads", encryption=s3.BucketEncryption.KMS, enforce_ssl=True, versioned=True,
                       block_public_access=s3.BlockPublicAccess.BLOCK_ALL)
    why = "Test scaffolding bucket, never deployed, outside the construct under test."
    acknowledge(bucket, Pack.AWS_SOLUTIONS, "AwsSolutions-S1", why)
    for pack in (Pack.HIPAA_SECURITY, Pack.NIST_800_53_R5, Pack.PCI_DSS_321):
        for rule in ("S3BucketLoggingEnabled", "S3BucketReplicationEnabled"):
            acknowledge(bucket, pack, f"{pack.value}-{rule}", why)
    return bucket


def _standard(stack: cdk.Stack) -> None:
    make(stack)


def _fifo(stack: cdk.Stack) -> None:
    worker = make(stack, fifo=True, idempotency=True)
    worker.add_sns_subscription(sns.Topic(stack, "Events", fifo=True, enforce_ssl=True,
                                          master_key=kms.Key(stack, "TopicKey", enable_key_rotation=True)))
    worker.add_event_rule(id="Tick", schedule=events.Schedule.rate(cdk.Duration.hours(1)), message_group_id="tick")


def _idempotency(stack: cdk.Stack) -> None:
    make(stack, idempotency=True, encryption=sqs.QueueEncryption.SQS_MANAGED)


def _sources(stack: cdk.Stack) -> None:
    worker = make(stack, idempotency=True)
    worker.add_sns_subscription(sns.Topic(stack, "Events", enforce_ssl=True,
                                          master_key=kms.Key(stack, "TopicKey", enable_key_rotation=True)))
    worker.add_event_rule(id="Orders", event_pattern=events.EventPattern(source=["app.orders"]))
    worker.add_s3_notifications(_scaffolding_bucket(stack), prefix="in/", suffix=".json")
    worker.grant_send(ObservedFunction(stack, "Producer", handler="jobs.main", code=app_code()))


def _api_route(stack: cdk.Stack) -> None:
    make(stack, encryption_key=kms.Key(stack, "QueueKey", enable_key_rotation=True)).add_api_route(
        _api(stack), "POST /orders")


@pytest.mark.parametrize("build", [_standard, _fifo, _idempotency, _sources, _api_route],
                         ids=["standard", "fifo", "idempotency", "sources", "api_route"])
def test_construct_has_no_unacknowledged_findings(build: Any, tmp_path: Path) -> None:
    assert nag_findings(build, tmp_path) == []


def test_acknowledgements_are_on_the_narrowest_construct() -> None:
    stack = new_stack()
    worker = make(stack, idempotency=True)
    worker.add_sns_subscription(sns.Topic(stack, "T"))

    def acknowledged(construct: Any) -> dict[str, str]:
        return {k: v for entry in construct.node.metadata if entry.type == "aws:cdk:acknowledged-rules"
                for k, v in entry.data.items()}

    mapping = acknowledged(worker.event_source_mapping)
    assert "on-failure destinations" in mapping["Serverless::Serverless-LambdaEventSourceMappingDestination"]
    assert "Serverless::Serverless-SQSRedrivePolicy" in acknowledged(worker.dead_letter_queue)
    assert worker.delivery_dead_letter_queue is not None
    assert "AwsSolutions::AwsSolutions-SQS3" in acknowledged(worker.delivery_dead_letter_queue)
    assert "1 h" in acknowledged(worker.idempotency_table)["HIPAA.Security::HIPAA.Security-DynamoDBInBackupPlan"]
    assert acknowledged(worker.queue) == {}
