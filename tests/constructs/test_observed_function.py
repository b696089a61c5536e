"""ObservedFunction: every default, every override, every validation error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk.assertions import Match, Template

from lambda_manifest import ObservedFunction, PropsError
from tests.support import INLINE, nag_findings, new_stack, template_of


def make(stack: cdk.Stack, id: str = "Fn", **props: Any) -> ObservedFunction:
    props.setdefault("code", INLINE)
    props.setdefault("handler", "index.main")
    return ObservedFunction(stack, id, **props)


@pytest.fixture(scope="module")
def default_template() -> Template:
    return template_of(make)


def only(template: Template, type_: str) -> dict[str, Any]:
    found = template.find_resources(type_)
    assert len(found) == 1, f"expected one {type_}, found {list(found)}"
    return next(iter(found.values()))


# ---------------------------------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------------------------------
def test_runtime_is_latest_python_on_arm64(default_template: Template) -> None:
    default_template.has_resource_properties(
        "AWS::Lambda::Function", {"Runtime": "python3.14", "Architectures": ["arm64"], "TracingConfig": {"Mode": "Active"}}
    )


def test_memory_and_timeout_are_explicit(default_template: Template) -> None:
    default_template.has_resource_properties(
        "AWS::Lambda::Function",
        {"MemorySize": 256, "Timeout": 30},
    )


def test_xray_active_tracing(default_template: Template) -> None:
    default_template.has_resource_properties("AWS::Lambda::Function", {"TracingConfig": {"Mode": "Active"}})


def test_json_logs_with_levels_into_owned_log_group(default_template: Template) -> None:
    fn = only(default_template, "AWS::Lambda::Function")["Properties"]
    assert fn["LoggingConfig"]["LogFormat"] == "JSON"
    assert fn["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    assert fn["LoggingConfig"]["SystemLogLevel"] == "WARN"
    log_group_id = next(iter(default_template.find_resources("AWS::Logs::LogGroup")))
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}


def test_log_group_retention_bounded_and_kms_encrypted(default_template: Template) -> None:
    group = only(default_template, "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == 365
    key_id = next(iter(default_template.find_resources("AWS::KMS::Key")))
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert group["DeletionPolicy"] == "Retain"


def test_shared_key_rotates_and_lets_logs_use_it(default_template: Template) -> None:
    key = only(default_template, "AWS::KMS::Key")["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = json.dumps(key["KeyPolicy"])
    assert "logs." in principals and "cloudwatch.amazonaws.com" in principals


def test_role_has_no_aws_managed_or_inline_policies(default_template: Template) -> None:
    role = only(default_template, "AWS::IAM::Role")["Properties"]
    assert "Policies" not in role
    policy_id = next(iter(default_template.find_resources("AWS::IAM::ManagedPolicy")))
    assert role["ManagedPolicyArns"] == [{"Ref": policy_id}]
    assert default_template.find_resources("AWS::IAM::Policy") == {}
    assert "aws:policy" not in json.dumps(role)


def test_role_writes_only_to_its_own_log_group(default_template: Template) -> None:
    statements = only(default_template, "AWS::IAM::ManagedPolicy")["Properties"]["PolicyDocument"]["Statement"]
    log_group_id = next(iter(default_template.find_resources("AWS::Logs::LogGroup")))
    logs_statements = [s for s in statements if any(str(a).startswith("logs:") for a in _list(s["Action"]))]
    assert len(logs_statements) == 1
    assert sorted(_list(logs_statements[0]["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs_statements[0]["Resource"] == {"Fn::GetAtt": [log_group_id, "Arn"]}
    star = [s for s in statements if s["Resource"] == "*"]
    assert [sorted(_list(s["Action"])) for s in star] == [["xray:PutTelemetryRecords", "xray:PutTraceSegments"]]


def test_grants_land_in_the_managed_policy_not_inline() -> None:
    def build(stack: cdk.Stack) -> None:
        fn = make(stack)
        table = dynamodb.Table(stack, "T", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))
        table.grant_read_data(fn)

    template = template_of(build)
    assert template.find_resources("AWS::IAM::Policy") == {}
    doc = json.dumps(only(template, "AWS::IAM::ManagedPolicy")["Properties"]["PolicyDocument"])
    assert "dynamodb:GetItem" in doc


def test_powertools_environment_and_layer(default_template: Template) -> None:
    fn = only(default_template, "AWS::Lambda::Function")["Properties"]
    env = fn["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "Fn"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "LambdaManifest"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    layer = json.dumps(fn["Layers"])
    assert "AWSLambdaPowertoolsPythonV3-python314-arm64:27" in layer
    assert ":017000801446:layer:" in layer  # the Powertools team's publishing account


def test_sync_function_has_no_async_config(default_template: Template) -> None:
    assert default_template.find_resources("AWS::Lambda::EventInvokeConfig") == {}
    assert default_template.find_resources("AWS::SQS::Queue") == {}


def test_default_alarms_have_actions_and_documented_thresholds(default_template: Template) -> None:
    alarms = default_template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert set(by_metric) == {"Errors", "Throttles", "Duration"}
    assert by_metric["Errors"]["Threshold"] == 1
    assert by_metric["Throttles"]["Threshold"] == 1
    assert by_metric["Duration"]["Threshold"] == 24000
    assert by_metric["Duration"]["ExtendedStatistic"] == "p99"
    topic_id = next(iter(default_template.find_resources("AWS::SNS::Topic")))
    for props in by_metric.values():
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["OKActions"] == [{"Ref": topic_id}]
        assert props["TreatMissingData"] == "notBreaching"
        assert props["AlarmDescription"]


def test_alarm_topic_is_encrypted_and_tls_only(default_template: Template) -> None:
    topic = only(default_template, "AWS::SNS::Topic")["Properties"]
    assert "KmsMasterKeyId" in topic
    policy = only(default_template, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]
    assert "aws:SecureTransport" in json.dumps(policy)


def test_dashboard_one_per_stack_with_a_row_per_function() -> None:
    def build(stack: cdk.Stack) -> None:
        make(stack, "A")
        make(stack, "B")

    template = template_of(build)
    dashboards = template.find_resources("AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = json.dumps(next(iter(dashboards.values()))["Properties"]["DashboardBody"])
    assert "Function TestStack/A" in body and "Function TestStack/B" in body
    assert len(template.find_resources("AWS::KMS::Key")) == 1
    assert len(template.find_resources("AWS::SNS::Topic")) == 1


def test_attributes_expose_the_l2s() -> None:
    stack = new_stack()
    fn = make(stack)
    assert isinstance(fn, lambda_.Function)
    assert fn.role is not None and fn.log_group is not None
    assert set(fn.alarms) == {"Errors", "Throttles", "DurationP99"}
    assert fn.dashboard is not None
    assert fn.grant_principal is fn.role
    assert fn.invocable is fn


def test_a_library_runtime_handler_brings_its_own_code() -> None:
    app = cdk.App(context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, "TestStack")
    fn = ObservedFunction(stack, "Lib", handler="lambda_manifest.runtime.authorizer.handler.main")
    template = Template.from_stack(stack)
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    assert "S3Key" in function["Properties"]["Code"] and fn.runtime.name == "python3.14"
    # The asset is the runtime alone; it needs no layer of its own runtime.
    assert template.find_resources("AWS::Lambda::LayerVersion") == {}
    staged = Path(app.outdir) / function["Metadata"]["aws:asset:path"]
    assert (staged / "lambda_manifest" / "runtime" / "authorizer" / "handler.py").is_file()
    assert not (staged / "lambda_manifest" / "runtime" / "gateway").exists()


def test_fails_without_code_for_an_app_handler() -> None:
    with pytest.raises(PropsError, match=r"code must be the function's deployment package, got None; pass "
                                         r"code=lambda_.Code.from_asset\('src'\)"):
        ObservedFunction(new_stack(), "Fn", handler="api.handler.main")


# ---------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------
def test_async_invocation_gets_retries_age_and_encrypted_failure_queue_with_alarm() -> None:
    stack = new_stack()
    fn = make(stack, async_invocation=True)
    template = Template.from_stack(stack)
    config = only(template, "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 21600
    queue_id, queue = next(iter(template.find_resources("AWS::SQS::Queue").items()))
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "KmsMasterKeyId" in queue["Properties"]
    assert fn.on_failure_queue is not None and fn.dead_letter_queue is None  # a destination, not a DLQ
    assert "OnFailureQueueNotEmpty" in fn.alarms
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 1}
    )


def test_async_with_own_destination_and_limits() -> None:
    stack = new_stack()
    topic = sns.Topic(stack, "Failures")
    from aws_cdk import aws_lambda_destinations as destinations

    make(stack, async_invocation=True, on_failure=destinations.SnsDestination(topic), retry_attempts=0,
         max_event_age=cdk.Duration.minutes(5))
    template = Template.from_stack(stack)
    config = only(template, "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 300
    assert template.find_resources("AWS::SQS::Queue") == {}


def test_overrides_reach_the_function() -> None:
    template = template_of(lambda s: make(
        s, memory_size=1024, timeout=cdk.Duration.seconds(120), architecture=lambda_.Architecture.X86_64,
        runtime=lambda_.Runtime.PYTHON_3_13, application_log_level="DEBUG", system_log_level="INFO",
        tracing=lambda_.Tracing.PASS_THROUGH, description="d", service_name="svc", metrics_namespace="Ns",
        log_retention=logs.RetentionDays.ONE_MONTH, ephemeral_storage_size=cdk.Size.mebibytes(2048),
        environment={"FOO": "bar"}, powertools_layer_version=30,
    ))
    fn = only(template, "AWS::Lambda::Function")["Properties"]
    assert fn["MemorySize"] == 1024 and fn["Timeout"] == 120
    assert fn["Architectures"] == ["x86_64"] and fn["Runtime"] == "python3.13"
    assert fn["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
    assert fn["TracingConfig"]["Mode"] == "PassThrough"
    assert fn["EphemeralStorage"] == {"Size": 2048}
    assert fn["Environment"]["Variables"]["FOO"] == "bar"
    assert fn["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "svc"
    assert "AWSLambdaPowertoolsPythonV3-python313-x86_64:30" in json.dumps(fn["Layers"])
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "Duration", "Threshold": 120 * 1000 * 0.8}
    )


def test_powertools_off_attaches_no_layer() -> None:
    fn = only(template_of(lambda s: make(s, powertools=False)), "AWS::Lambda::Function")["Properties"]
    assert "Layers" not in fn


def test_reserved_concurrency_adds_near_limit_alarm() -> None:
    stack = new_stack()
    fn = make(stack, reserved_concurrent_executions=50)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 50})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ConcurrentExecutions", "Threshold": 40, "Statistic": "Maximum"}
    )
    assert "ConcurrencyNearReserved" in fn.alarms


def test_provisioned_concurrency_through_live_alias() -> None:
    stack = new_stack()
    fn = make(stack, provisioned_concurrent_executions=2)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}},
    )
    assert fn.alias is not None and fn.invocable is fn.alias


def test_vpc_placement_grants_eni_actions() -> None:
    def build(stack: cdk.Stack) -> None:
        vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
            ec2.SubnetConfiguration(name="iso", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
        make(stack, vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED))

    template = template_of(build)
    fn = only(template, "AWS::Lambda::Function")["Properties"]
    assert len(fn["VpcConfig"]["SubnetIds"]) == 2
    assert "ec2:CreateNetworkInterface" in json.dumps(template.find_resources("AWS::IAM::ManagedPolicy"))


def test_secrets_pass_references_not_values_and_grant_read() -> None:
    def build(stack: cdk.Stack) -> None:
        secret = secretsmanager.Secret(stack, "ApiSecret")
        param = ssm.StringParameter(stack, "Param", string_value="v", parameter_name="/app/param")
        make(stack, secrets={"API_SECRET_ARN": secret, "PARAM_NAME": param})

    template = template_of(build)
    env = only(template, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    secret_id = next(iter(template.find_resources("AWS::SecretsManager::Secret")))
    assert env["API_SECRET_ARN"] == {"Ref": secret_id}
    assert env["PARAM_NAME"] == {"Ref": next(iter(template.find_resources("AWS::SSM::Parameter")))}
    doc = json.dumps(template.find_resources("AWS::IAM::ManagedPolicy"))
    assert "secretsmanager:GetSecretValue" in doc and "ssm:GetParameter" in doc


def test_environment_encryption_and_code_signing() -> None:
    def build(stack: cdk.Stack) -> None:
        key = kms.Key(stack, "EnvKey", enable_key_rotation=True)
        from aws_cdk import aws_signer as signer

        profile = signer.SigningProfile(stack, "Profile", platform=signer.Platform.AWS_LAMBDA_SHA384_ECDSA)
        csc = lambda_.CodeSigningConfig(stack, "Csc", signing_profiles=[profile])
        make(stack, environment_encryption=key, code_signing_config=csc)

    fn = only(template_of(build), "AWS::Lambda::Function")["Properties"]
    assert "KmsKeyArn" in fn and "CodeSigningConfigArn" in fn


def test_alarm_topic_override_and_no_dashboard() -> None:
    stack = new_stack()
    topic = sns.Topic(stack, "OnCall")
    fn = make(stack, alarm_topic=topic, dashboard=False)
    template = Template.from_stack(stack)
    assert template.find_resources("AWS::CloudWatch::Dashboard") == {}
    topic_id = stack.get_logical_id(topic.node.default_child)  # type: ignore[arg-type]
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"AlarmActions": [{"Ref": topic_id}]})
    assert fn.dashboard is None


def test_helpers_grant_invoke_metrics_and_environment() -> None:
    stack = new_stack()
    fn = make(stack)
    queue = sqs.Queue(stack, "Q")
    from aws_cdk import aws_iam as iam

    role = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
    fn.grant_invoke(role)
    fn.add_environment("QUEUE_URL", queue.queue_url)
    fn.add_to_role_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
    assert fn.metric_errors().metric_name == "Errors"
    assert fn.metric_concurrent_executions().statistic == "Maximum"
    assert fn.metric_throttles().period.to_seconds() == 300
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Action": "lambda:InvokeFunction"})])}})
    env = only(template, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert "QUEUE_URL" in env
    with pytest.raises(PropsError, match=r"add_environment key must be an environment variable name .*"
                                         r"got 'bad-name'; rename it, e.g. 'BAD_NAME'"):
        fn.add_environment("bad-name", "x")


def test_tokens_skip_validation() -> None:
    stack = new_stack()
    memory = cdk.Token.as_number(cdk.CfnParameter(stack, "Memory", type="Number").value_as_number)
    make(stack, memory_size=memory)  # no error: the value is only known at deploy time


# ---------------------------------------------------------------------------------------------------
# Compliance of the construct on its own
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("props", [
    {},
    {"async_invocation": True},
    {"reserved_concurrent_executions": 5, "provisioned_concurrent_executions": 1},
])
def test_construct_has_no_unacknowledged_findings(props: dict[str, Any], tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        fn = make(stack, **props)
        table = dynamodb.Table(
            stack, "T", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED, billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
        )
        table.grant_read_write_data(fn)
        from lambda_manifest import Pack, acknowledge

        # The table is test scaffolding, not part of the construct; only the function is under test.
        for pack, rule in ((Pack.HIPAA_SECURITY, "HIPAA.Security-DynamoDBInBackupPlan"),
                           (Pack.NIST_800_53_R5, "NIST.800.53.R5-DynamoDBInBackupPlan")):
            acknowledge(table, pack, rule, "Test scaffolding table, never deployed, outside the test subject.")

    assert nag_findings(build, tmp_path) == []


def test_acknowledgements_name_the_prop_that_fixes_them(tmp_path: Path) -> None:
    stack = new_stack()
    fn = make(stack)
    metadata = fn.node.default_child.node.metadata  # type: ignore[union-attr]
    acknowledged = {k: v for entry in metadata if entry.type == "aws:cdk:acknowledged-rules"
                    for k, v in entry.data.items()}
    assert "reserved_concurrent_executions" in acknowledged["HIPAA.Security::HIPAA.Security-LambdaConcurrency"]
    assert "vpc=" in acknowledged["PCI.DSS.321::PCI.DSS.321-LambdaInsideVPC"]
    assert "async_invocation=True" in acknowledged["Serverless::Serverless-LambdaDLQ"]
    # With the props set, the findings are fixed, not acknowledged.
    stack2 = new_stack("Other")
    fn2 = make(stack2, reserved_concurrent_executions=3)
    md2 = fn2.node.default_child.node.metadata  # type: ignore[union-attr]
    keys2 = {k for entry in md2 if entry.type == "aws:cdk:acknowledged-rules" for k in entry.data}
    assert "HIPAA.Security::HIPAA.Security-LambdaConcurrency" not in keys2


def test_unscoped_grant_is_not_acknowledged(tmp_path: Path) -> None:
    from aws_cdk import aws_iam as iam

    def build(stack: cdk.Stack) -> None:
        fn = make(stack)
        fn.add_to_role_policy(iam.PolicyStatement(actions=["s3:Get*"], resources=["*"]))

    findings = nag_findings(build, tmp_path)
    assert any("AwsSolutions-IAM5[Action::s3:Get*]" in f for f in findings), findings


# ---------------------------------------------------------------------------------------------------
# Validation: one test per error, asserting the message
# ---------------------------------------------------------------------------------------------------
def fails(match: str, **props: Any) -> None:
    with pytest.raises(PropsError, match=match):
        make(new_stack(), **props)


def test_fails_memory_below_minimum() -> None:
    fails(r"memory_size must be between 128 and 10240 MB, got 64; pass memory_size", memory_size=64)


def test_fails_memory_above_maximum() -> None:
    fails(r"memory_size must be between 128 and 10240 MB, got 20000", memory_size=20000)


def test_fails_timeout_above_15_minutes() -> None:
    fails(r"timeout must be between 1 and 900 seconds, got 901.0.*Step Functions",
          timeout=cdk.Duration.seconds(901))


def test_fails_ephemeral_storage_out_of_range() -> None:
    fails(r"ephemeral_storage_size must be between 512 and 10240 MiB, got 20480",
          ephemeral_storage_size=cdk.Size.gibibytes(20))


def test_fails_negative_reserved_concurrency() -> None:
    fails(r"reserved_concurrent_executions must be a non-negative integer, got -1",
          reserved_concurrent_executions=-1)


def test_fails_zero_reserved_concurrency() -> None:
    fails(r"reserved_concurrent_executions=0 would stop the function", reserved_concurrent_executions=0)


def test_fails_negative_provisioned_concurrency() -> None:
    fails(r"provisioned_concurrent_executions must be a non-negative integer, got -2",
          provisioned_concurrent_executions=-2)


def test_fails_provisioned_above_reserved() -> None:
    fails(r"provisioned_concurrent_executions must be at most reserved_concurrent_executions \(2\), got 5",
          reserved_concurrent_executions=2, provisioned_concurrent_executions=5)


def test_fails_unknown_log_level() -> None:
    fails(r"application_log_level must be one of .*got 'VERBOSE'", application_log_level="VERBOSE")


def test_fails_unknown_system_log_level() -> None:
    fails(r"system_log_level must be one of .*got 'ERROR'", system_log_level="ERROR")


def test_fails_infinite_log_retention() -> None:
    fails(r"log_retention must be a bounded retention, got 'INFINITE'", log_retention=logs.RetentionDays.INFINITE)


def test_fails_async_props_without_async_invocation() -> None:
    fails(r"retry_attempts must be used only with async_invocation=True.*pass async_invocation=True",
          retry_attempts=1)


def test_fails_retry_attempts_out_of_range() -> None:
    fails(r"retry_attempts must be between 0 and 2, got 3", async_invocation=True, retry_attempts=3)


def test_fails_max_event_age_out_of_range() -> None:
    fails(r"max_event_age must be between 60 and 21600 seconds, got 30.0", async_invocation=True,
          max_event_age=cdk.Duration.seconds(30))


def test_fails_subnets_without_vpc() -> None:
    fails(r"vpc_subnets must be used only together with vpc", vpc_subnets=ec2.SubnetSelection())


def test_fails_secret_name_collides_with_environment() -> None:
    stack = new_stack()
    secret = secretsmanager.Secret(stack, "S")
    with pytest.raises(PropsError, match=r"secrets must be keys distinct from environment keys, got 'TOKEN'"):
        make(stack, environment={"TOKEN": "x"}, secrets={"TOKEN": secret})


def test_fails_bad_environment_name() -> None:
    fails(r"environment must be keyed by names matching", environment={"1BAD": "x"})


def test_fails_bad_handler() -> None:
    fails(r"handler must be 'module.function'", handler="main")


def test_fails_alarm_fraction_out_of_range() -> None:
    fails(r"duration_alarm_fraction must be a fraction in \(0, 1\], got 1.5", duration_alarm_fraction=1.5)


def test_fails_zero_alarm_threshold() -> None:
    fails(r"errors_alarm_threshold must be at least 1, got 0", errors_alarm_threshold=0)


def test_fails_lists_every_problem_at_once() -> None:
    with pytest.raises(PropsError) as info:
        make(new_stack(), memory_size=1, timeout=cdk.Duration.seconds(1000), errors_alarm_threshold=0)
    message = str(info.value)
    assert message.startswith("ObservedFunction 'Fn' has invalid props:")
    assert message.count("\n  - ") == 3


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_secret_encrypted_with_the_stack_key_creates_no_dependency_cycle() -> None:
    from lambda_manifest import StackResources

    stack = new_stack()
    secret = secretsmanager.Secret(stack, "Token", encryption_key=StackResources.of(stack).key)
    fn = make(stack, secrets={"TOKEN_SECRET_ARN": secret})
    template = Template.from_stack(stack)
    role_id = stack.get_logical_id(fn.role.node.default_child)  # type: ignore[arg-type]
    key_policy = json.dumps(only(template, "AWS::KMS::Key")["Properties"]["KeyPolicy"])
    # The role must not appear in the key policy: key -> role -> policy -> secret -> key would be a cycle.
    assert role_id not in key_policy
    doc = json.dumps(only(template, "AWS::IAM::ManagedPolicy")["Properties"]["PolicyDocument"])
    assert "secretsmanager:GetSecretValue" in doc and "kms:Decrypt" in doc and "kms:ViaService" in doc


def test_add_schedule_invokes_asynchronously_with_failed_deliveries_in_the_on_failure_queue() -> None:
    from aws_cdk import aws_events as events

    stack = new_stack()
    fn = make(stack, async_invocation=True)
    rule = fn.add_schedule("Nightly", events.Schedule.cron(minute="0", hour="2"), description="nightly")
    template = Template.from_stack(stack)
    props = only(template, "AWS::Events::Rule")["Properties"]
    assert props["ScheduleExpression"] == "cron(0 2 * * ? *)"
    (target,) = props["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    queue_id = stack.get_logical_id(fn.on_failure_queue.node.default_child)  # type: ignore[union-attr,arg-type]
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert rule.node.scope is fn


def test_fails_schedule_on_a_synchronous_function() -> None:
    from aws_cdk import aws_events as events

    fn = make(new_stack())
    with pytest.raises(PropsError, match=r"add_schedule needs async_invocation=True"):
        fn.add_schedule("S", events.Schedule.rate(cdk.Duration.hours(1)))
