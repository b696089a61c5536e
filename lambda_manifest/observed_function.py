"""ObservedFunction: a Lambda function with everything production needs switched on by default."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest import monitoring
from lambda_manifest._assets import library_code
from lambda_manifest._validation import Problems, PropsError, is_token, seconds
from lambda_manifest.compliance import Pack, acknowledge, acknowledge_all
from lambda_manifest.shared import StackResources

_ENV_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_APP_LEVELS = {level.value: level for level in lambda_.ApplicationLogLevel}
_SYSTEM_LEVELS = {level.value: level for level in lambda_.SystemLogLevel}


class _ManagedPolicyRole(iam.Role):
    """A role whose grants land in one customer-managed policy instead of an inline policy.

    HIPAA, NIST 800-53 and PCI packs forbid inline policies (IAMNoInlinePolicy); routing every
    ``grant_*`` through ``add_to_principal_policy`` into a managed policy satisfies them for grants made
    later by any construct, without acknowledging anything.

    CDK's grants use action families (``kms:GenerateDataKey*``, ``s3:GetObject*``) and sub-resource
    wildcards (``<bucket ARN>/*``). AwsSolutions-IAM5 reports those; they are acknowledged here, one exact
    finding per grant, and only when the statement names specific resources. A statement on ``Resource: *``
    is never acknowledged by this role.
    """

    def __init__(self, scope: Construct, id: str, *, description: str) -> None:
        super().__init__(
            scope, id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.policy = iam.ManagedPolicy(self, "Policy", description=description)
        self.add_managed_policy(self.policy)
        self._acknowledged: set[str] = set()

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        self.policy.add_statements(statement)
        self._acknowledge_scoped_wildcards(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self.policy)

    def _acknowledge_scoped_wildcards(self, statement: iam.PolicyStatement) -> None:
        stack = cdk.Stack.of(self)
        rendered = [_render_for_nag(stack.resolve(resource)) for resource in statement.resources]
        if not rendered or "*" in rendered or statement.effect != iam.Effect.ALLOW:
            return
        targets = ", ".join(rendered)
        for action in statement.actions:
            if "*" in action and action != "*":
                self._ack(f"Action::{action}", f"The action family {action} comes from a CDK grant scoped to "
                                                 f"{targets}; it names no other resource.")
        for resource in rendered:
            base = resource[:-2] if resource.endswith(("/*", ":*")) else None
            if base and "*" not in base:
                self._ack(f"Resource::{resource}", f"The wildcard covers only the objects or sub-resources "
                                                   f"of {base}, granted by a CDK grant for this function.")

    def _ack(self, finding: str, reason: str) -> None:
        if finding not in self._acknowledged:
            self._acknowledged.add(finding)
            acknowledge(self.policy, Pack.AWS_SOLUTIONS, f"AwsSolutions-IAM5[{finding}]", reason)


def _render_for_nag(value: Any) -> str:
    """Render a resolved policy resource the way cdk-nag prints it in IAM5 finding ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::Join" and arg[0] == "":
            return "".join(_render_for_nag(part) for part in arg[1])
    return "*"  # anything we cannot render is treated as unscoped, so it is never acknowledged


@jsii.implements(iam.IGrantable)
class ObservedFunction(Construct):
    """A production Lambda function: current runtime on arm64, JSON logs with bounded retention in an
    encrypted log group, X-Ray, a least-privilege role, alarms with an action, a dashboard row, and an
    on-failure destination when invoked asynchronously.

    Every default comes from :mod:`lambda_manifest._defaults` and can be overridden. The README's
    reference lists each prop with its default and allowed range.

    Parameters
    ----------
    handler:
        The handler string, e.g. ``"nightly_report.handler.main"``. Required.
    code:
        The deployment package. Default: - the library's ``lambda_src`` folder as one asset.
    description:
        Default: - no description.
    function_name:
        Default: - a name generated by CloudFormation.
    runtime:
        Default: ``Runtime.PYTHON_3_14``.
    architecture:
        Default: ``Architecture.ARM_64``.
    memory_size:
        Memory in MB, 128-10240. Default: ``256``.
    timeout:
        1-900 seconds. Default: ``Duration.seconds(30)``.
    environment:
        Extra environment variables. Default: - only the Powertools variables.
    service_name:
        ``POWERTOOLS_SERVICE_NAME``. Default: - the construct id.
    metrics_namespace:
        ``POWERTOOLS_METRICS_NAMESPACE``. Default: ``"LambdaManifest"``.
    powertools:
        Attach the official Powertools layer. Default: ``True``.
    powertools_layer_version:
        Version of the public Powertools layer. Default: ``27``.
    tracing:
        Default: ``Tracing.ACTIVE``.
    application_log_level / system_log_level:
        Default: ``"INFO"`` / ``"WARN"``.
    log_retention:
        Default: ``RetentionDays.ONE_YEAR``; ``INFINITE`` is rejected (retention must be bounded).
    log_encryption_key:
        Default: - the stack's shared KMS key.
    async_invocation:
        The function is invoked asynchronously (EventBridge, S3, SNS, ``InvocationType=Event``), so it gets
        ``retry_attempts``, ``max_event_age`` and an on-failure destination. Default: ``False``.
    retry_attempts:
        0-2, asynchronous invocations only. Default: ``2``.
    max_event_age:
        60 s-6 h, asynchronous invocations only. Default: ``Duration.hours(6)``.
    on_failure:
        Where failed asynchronous events go. Default: - an encrypted SQS queue with 14-day retention and an
        alarm on its depth.
    reserved_concurrent_executions:
        Default: - unreserved (the HIPAA/NIST LambdaConcurrency finding is acknowledged while unset).
    provisioned_concurrent_executions:
        Creates alias ``live`` with this many warm instances. Default: - no alias, no provisioned concurrency.
    vpc / vpc_subnets / security_groups:
        Default: - not in a VPC (the LambdaInsideVPC findings are acknowledged while ``vpc`` is unset).
    layers:
        Extra layers. Default: - only the Powertools layer.
    environment_encryption:
        Customer-managed key for environment variables. Default: - Lambda's AWS-managed key.
    secrets:
        Environment variable name to a Secrets Manager secret (its ARN is passed) or SSM parameter (its name
        is passed). Read access is granted; the value is never put in the environment. Default: - none.
    ephemeral_storage_size:
        512-10240 MiB of ``/tmp``. Default: - 512 MiB.
    code_signing_config:
        Default: - unsigned code accepted.
    alarm_topic:
        Where alarms notify. Default: - the stack's shared encrypted alarm topic.
    errors_alarm_threshold / throttles_alarm_threshold:
        Default: ``1`` / ``1`` in 5 minutes.
    duration_alarm_fraction:
        Alarm when p99 duration exceeds this fraction of the timeout. Default: ``0.8``.
    concurrency_alarm_fraction:
        With reserved concurrency, alarm when peak concurrency exceeds this fraction of it. Default: ``0.8``.
    dashboard:
        Add a row for this function to the stack's dashboard. Default: ``True``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        handler: str,
        code: lambda_.Code | None = None,
        description: str | None = None,
        function_name: str | None = None,
        runtime: lambda_.Runtime | None = None,
        architecture: lambda_.Architecture | None = None,
        memory_size: int = defaults.MEMORY_SIZE_MB.value,
        timeout: cdk.Duration | None = None,
        environment: Mapping[str, str] | None = None,
        service_name: str | None = None,
        metrics_namespace: str = defaults.METRICS_NAMESPACE.value,
        powertools: bool = defaults.POWERTOOLS.value,
        powertools_layer_version: int = defaults.POWERTOOLS_LAYER_VERSION.value,
        tracing: lambda_.Tracing = lambda_.Tracing.ACTIVE,
        application_log_level: str = defaults.APPLICATION_LOG_LEVEL.value,
        system_log_level: str = defaults.SYSTEM_LOG_LEVEL.value,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        log_encryption_key: kms.IKey | None = None,
        async_invocation: bool = False,
        retry_attempts: int | None = None,
        max_event_age: cdk.Duration | None = None,
        on_failure: lambda_.IDestination | None = None,
        reserved_concurrent_executions: int | None = None,
        provisioned_concurrent_executions: int | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        layers: Sequence[lambda_.ILayerVersion] | None = None,
        environment_encryption: kms.IKey | None = None,
        secrets: Mapping[str, secretsmanager.ISecret | ssm.IStringParameter] | None = None,
        ephemeral_storage_size: cdk.Size | None = None,
        code_signing_config: lambda_.ICodeSigningConfig | None = None,
        alarm_topic: sns.ITopic | None = None,
        errors_alarm_threshold: int = defaults.ERRORS_ALARM_THRESHOLD.value,
        throttles_alarm_threshold: int = defaults.THROTTLES_ALARM_THRESHOLD.value,
        duration_alarm_fraction: float = defaults.DURATION_ALARM_FRACTION.value,
        concurrency_alarm_fraction: float = defaults.CONCURRENCY_ALARM_FRACTION.value,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, id)
        timeout = timeout or cdk.Duration.seconds(defaults.TIMEOUT_SECONDS.value)
        runtime = runtime or lambda_.Runtime.PYTHON_3_14
        architecture = architecture or lambda_.Architecture.ARM_64
        environment = dict(environment or {})
        secrets = dict(secrets or {})

        self._validate(
            id,
            handler=handler,
            memory_size=memory_size,
            timeout=timeout,
            environment=environment,
            application_log_level=application_log_level,
            system_log_level=system_log_level,
            log_retention=log_retention,
            async_invocation=async_invocation,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
            on_failure=on_failure,
            reserved=reserved_concurrent_executions,
            provisioned=provisioned_concurrent_executions,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            secrets=secrets,
            ephemeral_storage_size=ephemeral_storage_size,
            errors_alarm_threshold=errors_alarm_threshold,
            throttles_alarm_threshold=throttles_alarm_threshold,
            duration_alarm_fraction=duration_alarm_fraction,
            concurrency_alarm_fraction=concurrency_alarm_fraction,
            powertools_layer_version=powertools_layer_version,
        )

        shared = StackResources.of(self)
        self._async_invocation = async_invocation
        self.timeout = timeout
        self.alarm_topic: sns.ITopic = alarm_topic or shared.alarm_topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        # Built in the order data flows: where logs go, who the function is, the function, then what
        # happens to its failures, and last how we watch it.
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=log_retention,
            encryption_key=log_encryption_key or shared.key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self._role = _ManagedPolicyRole(self, "ServiceRole", description=f"Execution role of {self.node.path}")
        self.role: iam.Role = self._role
        # The function writes only to its own log group (the group's Arn attribute ends in ':*', which covers
        # its streams); no logs:CreateLogGroup, because the group exists before the function does.
        self._role.policy.add_statements(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )

        env = {
            "POWERTOOLS_SERVICE_NAME": service_name or id,
            "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
            "POWERTOOLS_LOG_LEVEL": application_log_level,
            **environment,
        }
        for name, secret in secrets.items():
            # jsii interfaces are not runtime-checkable, so tell the two kinds apart by their attributes.
            if hasattr(secret, "secret_arn"):
                env[name] = secret.secret_arn
                self.grant_read_secret(cast(secretsmanager.ISecret, secret))
            else:
                env[name] = secret.parameter_name
                secret.grant_read(self._role)

        all_layers = list(layers or [])
        if powertools:
            all_layers.insert(0, self._powertools_layer(runtime, architecture, powertools_layer_version))

        self.dead_letter_queue: sqs.Queue | None = None
        async_options: dict[str, Any] = {}
        if async_invocation:
            async_options = {
                "retry_attempts": defaults.ASYNC_RETRY_ATTEMPTS.value if retry_attempts is None else retry_attempts,
                "max_event_age": max_event_age or cdk.Duration.seconds(defaults.ASYNC_MAX_EVENT_AGE_SECONDS.value),
            }
            if on_failure is None:
                self.dead_letter_queue = self._failure_queue(shared.key)
                on_failure = destinations.SqsDestination(self.dead_letter_queue)
            # An on-failure destination, not a DeadLetterConfig: it records the error and the attempt count
            # with the event, and configuring both would deliver every failure twice.
            async_options["on_failure"] = on_failure

        self.function = lambda_.Function(
            self,
            "Function",
            handler=handler,
            code=code or library_code(),
            runtime=runtime,
            architecture=architecture,
            description=description,
            function_name=function_name,
            memory_size=memory_size,
            timeout=timeout,
            environment=env,
            role=self._role,
            tracing=tracing,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=_APP_LEVELS[application_log_level],
            system_log_level_v2=_SYSTEM_LEVELS[system_log_level],
            log_group=self.log_group,
            layers=all_layers or None,
            reserved_concurrent_executions=reserved_concurrent_executions,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=list(security_groups) if security_groups else None,
            environment_encryption=environment_encryption,
            ephemeral_storage_size=ephemeral_storage_size,
            code_signing_config=code_signing_config,
            **async_options,
        )
        if vpc is not None:
            self._grant_vpc_networking()

        self.alias: lambda_.Alias | None = None
        if provisioned_concurrent_executions:
            self.alias = lambda_.Alias(
                self,
                "LiveAlias",
                alias_name="live",
                version=self.function.current_version,
                provisioned_concurrent_executions=provisioned_concurrent_executions,
            )

        self._create_alarms(
            timeout=timeout,
            reserved=reserved_concurrent_executions,
            errors_threshold=errors_alarm_threshold,
            throttles_threshold=throttles_alarm_threshold,
            duration_fraction=duration_alarm_fraction,
            concurrency_fraction=concurrency_alarm_fraction,
        )
        self.dashboard: cloudwatch.Dashboard | None = None
        if dashboard:
            self.dashboard = shared.dashboard
            self._add_dashboard_row(self.dashboard)

        self._acknowledge(
            async_invocation=async_invocation,
            on_failure=on_failure,
            reserved=reserved_concurrent_executions,
            vpc=vpc,
        )

    # ----------------------------------------------------------------------------------------------
    # Public helpers in the CDK style
    # ----------------------------------------------------------------------------------------------
    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The function's role, so ``table.grant_read_data(observed_function)`` works."""
        return self._role

    @property
    def function_arn(self) -> str:
        return self.function.function_arn

    @property
    def function_name(self) -> str:
        return self.function.function_name

    @property
    def invocable(self) -> lambda_.IFunction:
        """What integrations should invoke: the ``live`` alias when provisioned concurrency is set, otherwise
        the function."""
        return self.alias or self.function

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to invoke the function (and its alias, when there is one)."""
        grant = self.function.grant_invoke(grantee)
        if self.alias is not None:
            self.alias.grant_invoke(grantee)
        return grant

    def grant_read_secret(self, secret: secretsmanager.ISecret) -> None:
        """Let the function read ``secret``, with every statement in the function's own policy.

        ``secret.grant_read`` would also name the role in the policy of the secret's customer-managed key;
        when key, secret and function share a stack, that closes a dependency cycle (key policy -> role ->
        policy -> secret -> key) that CloudFormation refuses. A key created by CDK delegates to IAM (its policy
        gives the account root ``kms:*``), so the role's own policy is enough; ``kms:Decrypt`` is allowed only
        through Secrets Manager.
        """
        self._role.add_to_principal_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            # A secret imported by name has a partial ARN; its full ARN ends in six random characters.
            resources=[secret.secret_full_arn or f"{secret.secret_arn}-??????"],
        ))
        key = secret.encryption_key
        if key is not None:
            stack = cdk.Stack.of(self)
            self._role.add_to_principal_policy(iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{stack.region}.{stack.url_suffix}"}},
            ))

    def add_schedule(self, id: str, schedule: events.Schedule, *, description: str | None = None) -> events.Rule:
        """Invoke the function on an EventBridge schedule, asynchronously.

        Deliveries EventBridge itself cannot make (throttling, a deleted function) go to the function's
        on-failure queue, so every lost run waits in one place behind one alarm. Requires
        ``async_invocation=True``: a scheduled run has no caller to return an error to.
        """
        if not self._async_invocation:
            raise PropsError(
                f"ObservedFunction '{self.node.id}': add_schedule needs async_invocation=True, got False; a "
                "schedule invokes asynchronously, so create the function with async_invocation=True to get "
                "retries and an on-failure destination"
            )
        return events.Rule(
            self,
            id,
            description=description,
            schedule=schedule,
            targets=[targets.LambdaFunction(
                self.function,
                retry_attempts=defaults.SCHEDULE_RETRY_ATTEMPTS.value,
                dead_letter_queue=self.dead_letter_queue,
            )],
        )

    def add_environment(self, key: str, value: str) -> ObservedFunction:
        """Add an environment variable. Never pass a secret value here: use ``secrets=`` instead."""
        if not _ENV_NAME.match(key):
            raise ValueError(f"environment variable name must match {_ENV_NAME.pattern}, got {key!r}")
        self.function.add_environment(key, value)
        return self

    def add_to_role_policy(self, statement: iam.PolicyStatement) -> None:
        """Add a statement to the function's managed policy."""
        self._role.add_to_principal_policy(statement)

    def metric_errors(self, **options: Any) -> cloudwatch.Metric:
        """Invocation errors. Default: sum over 5 minutes."""
        return self.function.metric_errors(**{"period": monitoring.period(), **options})

    def metric_throttles(self, **options: Any) -> cloudwatch.Metric:
        """Throttled invocations. Default: sum over 5 minutes."""
        return self.function.metric_throttles(**{"period": monitoring.period(), **options})

    def metric_invocations(self, **options: Any) -> cloudwatch.Metric:
        """Invocations. Default: sum over 5 minutes."""
        return self.function.metric_invocations(**{"period": monitoring.period(), **options})

    def metric_duration(self, **options: Any) -> cloudwatch.Metric:
        """Duration. Default: p99 over 5 minutes, because the tail is what times out."""
        return self.function.metric_duration(**{"period": monitoring.period(), "statistic": "p99", **options})

    def metric_concurrent_executions(self, **options: Any) -> cloudwatch.Metric:
        """Concurrent executions. Default: maximum over 5 minutes, because concurrency is a gauge."""
        return self.function.metric(
            "ConcurrentExecutions", **{"period": monitoring.period(), "statistic": "Maximum", **options}
        )

    # ----------------------------------------------------------------------------------------------
    # Construction steps
    # ----------------------------------------------------------------------------------------------
    @staticmethod
    def _validate(id: str, **p: Any) -> None:
        problems = Problems("ObservedFunction", id)
        if not p["handler"] or "." not in p["handler"]:
            problems.add("handler", "'module.function' (e.g. 'app.handler.main')", p["handler"],
                         "name the module and the function Lambda should call")
        low, high = defaults.MEMORY_RANGE_MB
        problems.check_range("memory_size", p["memory_size"], low, high, "MB",
                             f"pass memory_size in MB, e.g. memory_size={defaults.MEMORY_SIZE_MB.value}")
        low, high = defaults.TIMEOUT_RANGE_SECONDS
        problems.check_range("timeout", seconds(p["timeout"]), low, high, "seconds",
                             "pass e.g. timeout=Duration.seconds(30); work longer than 15 minutes belongs in "
                             "Step Functions or a queue")
        size = p["ephemeral_storage_size"]
        if size is not None and not is_token(size.to_mebibytes()):
            low, high = defaults.EPHEMERAL_STORAGE_RANGE_MB
            problems.check_range("ephemeral_storage_size", size.to_mebibytes(), low, high, "MiB",
                                 "pass e.g. ephemeral_storage_size=Size.mebibytes(1024)")
        for prop in ("reserved", "provisioned"):
            value = p[prop]
            if value is not None and not is_token(value) and value < 0:
                problems.add(f"{prop}_concurrent_executions", "a non-negative integer", value,
                             "pass 0 or more, or leave it unset")
        reserved, provisioned = p["reserved"], p["provisioned"]
        if reserved is not None and provisioned and not is_token(reserved) and not is_token(provisioned) \
                and provisioned > reserved:
            problems.add("provisioned_concurrent_executions", f"at most reserved_concurrent_executions ({reserved})",
                         provisioned, "lower it or raise reserved_concurrent_executions")
        if reserved == 0:
            problems.note("reserved_concurrent_executions=0 would stop the function from ever running; "
                          "leave it unset or pass a positive number")
        if p["application_log_level"] not in _APP_LEVELS:
            problems.add("application_log_level", f"one of {sorted(_APP_LEVELS)}", p["application_log_level"],
                         "use a Lambda application log level name")
        if p["system_log_level"] not in _SYSTEM_LEVELS:
            problems.add("system_log_level", f"one of {sorted(_SYSTEM_LEVELS)}", p["system_log_level"],
                         "use a Lambda system log level name")
        if p["log_retention"] == logs.RetentionDays.INFINITE:
            problems.add("log_retention", "a bounded retention", "INFINITE",
                         "pass e.g. log_retention=RetentionDays.ONE_YEAR; unbounded logs grow cost forever")
        if not p["async_invocation"]:
            for prop in ("retry_attempts", "max_event_age", "on_failure"):
                if p[prop] is not None:
                    problems.add(prop, "used only with async_invocation=True", "set",
                                 "pass async_invocation=True if the function is invoked asynchronously, "
                                 f"or drop {prop}")
        else:
            low, high = defaults.ASYNC_RETRY_RANGE
            problems.check_range("retry_attempts", p["retry_attempts"], low, high, "",
                                 "pass 0, 1 or 2 (the Lambda limits)")
            low, high = defaults.ASYNC_MAX_EVENT_AGE_RANGE_SECONDS
            problems.check_range("max_event_age", seconds(p["max_event_age"]), low, high, "seconds",
                                 "pass between Duration.minutes(1) and Duration.hours(6)")
        if p["vpc"] is None:
            for prop in ("vpc_subnets", "security_groups"):
                if p[prop]:
                    problems.add(prop, "used only together with vpc", "set", f"pass vpc=... or drop {prop}")
        for name in p["secrets"]:
            if not _ENV_NAME.match(name):
                problems.add("secrets", f"keyed by environment variable names ({_ENV_NAME.pattern})", name,
                             "rename the key")
            if name in p["environment"]:
                problems.add("secrets", "keys distinct from environment keys", name,
                             f"remove {name} from environment or from secrets")
        for name in p["environment"]:
            if not _ENV_NAME.match(name):
                problems.add("environment", f"keyed by names matching {_ENV_NAME.pattern}", name, "rename it")
        for prop in ("errors_alarm_threshold", "throttles_alarm_threshold"):
            if p[prop] < 1:
                problems.add(prop, "at least 1", p[prop], "an alarm at 0 would always fire; pass 1 or more")
        for prop in ("duration_alarm_fraction", "concurrency_alarm_fraction"):
            if not 0 < p[prop] <= 1:
                problems.add(prop, "a fraction in (0, 1]", p[prop], "pass e.g. 0.8")
        if p["powertools_layer_version"] < 1:
            problems.add("powertools_layer_version", "a published layer version (>= 1)",
                         p["powertools_layer_version"], "see the Powertools docs for the current version")
        problems.raise_if_any()

    def _powertools_layer(
        self, runtime: lambda_.Runtime, architecture: lambda_.Architecture, version: int
    ) -> lambda_.ILayerVersion:
        stack = cdk.Stack.of(self)
        python = runtime.name.replace(".", "")  # python3.14 -> python314
        arch = "arm64" if architecture.name == lambda_.Architecture.ARM_64.name else "x86_64"
        arn = (
            f"arn:{stack.partition}:lambda:{stack.region}:{defaults.POWERTOOLS_LAYER_ACCOUNT}:layer:"
            f"AWSLambdaPowertoolsPythonV3-{python}-{arch}:{version}"
        )
        return lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", arn)

    def _failure_queue(self, key: kms.IKey) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            "OnFailureQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(defaults.ASYNC_DLQ_RETENTION_DAYS.value),
        )
        reason = (
            f"This queue is the on-failure destination of {self.node.path}: it is itself the dead-letter store "
            "for failed asynchronous events, so giving it a DLQ of its own would only move the problem."
        )
        acknowledge(queue, Pack.AWS_SOLUTIONS, "AwsSolutions-SQS3", reason)
        acknowledge(queue, Pack.SERVERLESS, "Serverless-SQSRedrivePolicy", reason)
        return queue

    def _grant_vpc_networking(self) -> None:
        statement = iam.PolicyStatement(
            actions=[
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            resources=["*"],
        )
        self._role.policy.add_statements(statement)

    def _create_alarms(
        self,
        *,
        timeout: cdk.Duration,
        reserved: int | None,
        errors_threshold: int,
        throttles_threshold: int,
        duration_fraction: float,
        concurrency_fraction: float,
    ) -> None:
        path = self.node.path
        # Each metric is built once and shared by its alarm and the dashboard: every one is a jsii round trip.
        self._metrics = {
            "errors": self.metric_errors(),
            "throttles": self.metric_throttles(),
            "duration": self.metric_duration(),
            "concurrency": self.metric_concurrent_executions(),
        }
        self.alarms["Errors"] = monitoring.create_alarm(
            self, "ErrorsAlarm", metric=self._metrics["errors"], threshold=errors_threshold,
            action_topic=self.alarm_topic,
            description=f"{path}: {errors_threshold}+ invocation errors in 5 minutes. Check the function's "
                        "log group for ERROR lines and the X-Ray traces of the failing requests.",
        )
        self.alarms["Throttles"] = monitoring.create_alarm(
            self, "ThrottlesAlarm", metric=self._metrics["throttles"], threshold=throttles_threshold,
            action_topic=self.alarm_topic,
            description=f"{path}: {throttles_threshold}+ throttled invocations in 5 minutes. Raise reserved "
                        "concurrency or the account limit, or slow the producer.",
        )
        timeout_seconds = seconds(timeout)
        if timeout_seconds is not None:
            threshold_ms = round(timeout_seconds * 1000 * duration_fraction)
            self.alarms["DurationP99"] = monitoring.create_alarm(
                self, "DurationAlarm", metric=self._metrics["duration"], threshold=threshold_ms,
                action_topic=self.alarm_topic,
                description=f"{path}: p99 duration above {threshold_ms} ms ({duration_fraction:.0%} of the "
                            "timeout); requests will start timing out. Look at slow downstream calls in X-Ray.",
            )
        if reserved and not is_token(reserved):
            limit = max(1, int(reserved * concurrency_fraction))
            self.alarms["ConcurrencyNearReserved"] = monitoring.create_alarm(
                self, "ConcurrencyAlarm", metric=self._metrics["concurrency"], threshold=limit,
                action_topic=self.alarm_topic,
                description=f"{path}: concurrency reached {limit} of {reserved} reserved; throttling is next.",
            )
        if self.dead_letter_queue is not None:
            self.alarms["OnFailureQueueNotEmpty"] = monitoring.create_alarm(
                self, "OnFailureQueueAlarm",
                metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=monitoring.period(), statistic="Maximum"),
                threshold=1, action_topic=self.alarm_topic,
                description=f"{path}: failed asynchronous events are waiting in "
                            f"{self.dead_letter_queue.node.path}. Read them, fix the cause, then re-drive them.",
            )

    def _add_dashboard_row(self, dashboard: cloudwatch.Dashboard) -> None:
        dashboard.add_widgets(monitoring.header(f"Function {self.node.path}"))
        m = self._metrics
        dashboard.add_widgets(
            monitoring.graph("Invocations and errors", [self.metric_invocations(), m["errors"]], [m["throttles"]]),
            monitoring.graph("Duration p50 / p99", [self.metric_duration(statistic="p50"), m["duration"]]),
            monitoring.graph("Concurrency", [m["concurrency"]]),
        )

    def _acknowledge(
        self,
        *,
        async_invocation: bool,
        on_failure: lambda_.IDestination | None,
        reserved: int | None,
        vpc: ec2.IVpc | None,
    ) -> None:
        resource = self.function.node.default_child
        assert resource is not None
        dlq_rules = [(Pack.SERVERLESS, "Serverless-LambdaDLQ"), (Pack.HIPAA_SECURITY, "HIPAA.Security-LambdaDLQ"),
                     (Pack.NIST_800_53_R5, "NIST.800.53.R5-LambdaDLQ")]
        if async_invocation:
            acknowledge_all(
                resource, dlq_rules,
                f"{self.node.path} sends failed asynchronous events to an on-failure destination, which "
                "receives the event together with the error: a superset of a DeadLetterConfig, and having both "
                "would deliver every failure twice.",
            )
        if not async_invocation:
            acknowledge_all(
                resource, dlq_rules,
                f"{self.node.path} is invoked synchronously (API Gateway or an event source mapping): the caller "
                "receives every error, so a DLQ would never receive an event. Pass async_invocation=True for "
                "asynchronous use and an on-failure destination is created.",
            )
        if reserved is None:
            acknowledge_all(
                resource,
                [(Pack.HIPAA_SECURITY, "HIPAA.Security-LambdaConcurrency"),
                 (Pack.NIST_800_53_R5, "NIST.800.53.R5-LambdaConcurrency")],
                f"{self.node.path} uses the account's unreserved pool: reserving concurrency by default would "
                "fail deploys in accounts with a low limit. Set reserved_concurrent_executions to cap it.",
            )
        if vpc is None:
            acknowledge_all(
                resource,
                [(Pack.HIPAA_SECURITY, "HIPAA.Security-LambdaInsideVPC"),
                 (Pack.NIST_800_53_R5, "NIST.800.53.R5-LambdaInsideVPC"),
                 (Pack.PCI_DSS_321, "PCI.DSS.321-LambdaInsideVPC")],
                f"{self.node.path} reaches only AWS APIs over TLS with IAM auth and no private network "
                "resources. Pass vpc= (with vpc_subnets/security_groups) to place it in a VPC.",
            )
        xray_reason = (
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so the "
            "statement must name Resource '*' (see the X-Ray IAM docs)."
        )
        if vpc is not None:
            xray_reason += (" The EC2 network-interface actions Lambda needs for VPC placement are likewise "
                            "not scoped to resources.")
        acknowledge(self._role.policy, Pack.AWS_SOLUTIONS, "AwsSolutions-IAM5[Resource::*]", xray_reason)
