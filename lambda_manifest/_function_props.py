"""The props of an ObservedFunction: ``FunctionOptions`` as a caller writes them, ``FunctionProps`` as the
builders read them.

``FunctionOptions`` is the typed object other constructs take where they create a function for you
(``AsyncWorker(function=...)``, ``add_route(route, FunctionOptions(...))``, ``AiGatewayFunction(function_options=
...)``): every field is optional and ``None`` means the library's default. ``FunctionProps.resolve`` applies the
defaults (all from :mod:`lambda_manifest._defaults`), checks every prop and raises one ``PropsError`` listing
every problem, so the builders only ever see resolved, valid values.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm

from lambda_manifest import _assets, _handlers
from lambda_manifest import _defaults as defaults
from lambda_manifest._validation import Problems, PropsError, is_token, known_seconds, pick, seconds

ENV_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
APP_LEVELS = {level.value: level for level in lambda_.ApplicationLogLevel}
SYSTEM_LEVELS = {level.value: level for level in lambda_.SystemLogLevel}


@dataclass(frozen=True, kw_only=True)
class FunctionOptions:
    """The props of an :class:`~lambda_manifest.ObservedFunction` a construct creates for you. Every field is
    optional; ``None`` means the library default (the ObservedFunction reference lists each one). A misspelt
    field is a ``TypeError`` on this line, before any construct exists.

    Which fields a construct lets you set differs: ``AsyncWorker(process=...)`` sets ``handler`` itself, the AI
    gateway and the Lambda authorizer bring their own ``handler`` and ``code``. Each says so at synth.
    """

    handler: str | None = None
    code: lambda_.Code | None = None
    description: str | None = None
    function_name: str | None = None
    runtime: lambda_.Runtime | None = None
    architecture: lambda_.Architecture | None = None
    memory_size: int | None = None
    timeout: cdk.Duration | None = None
    environment: Mapping[str, str] | None = None
    service_name: str | None = None
    metrics_namespace: str | None = None
    powertools: bool | None = None
    powertools_layer_version: int | None = None
    tracing: lambda_.Tracing | None = None
    trace_aws_sdk: bool | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    log_retention: logs.RetentionDays | None = None
    log_encryption_key: kms.IKey | None = None
    async_invocation: bool | None = None
    retry_attempts: int | None = None
    max_event_age: cdk.Duration | None = None
    on_failure: lambda_.IDestination | None = None
    reserved_concurrent_executions: int | None = None
    provisioned_concurrent_executions: int | None = None
    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None
    security_groups: Sequence[ec2.ISecurityGroup] | None = None
    layers: Sequence[lambda_.ILayerVersion] | None = None
    environment_encryption: kms.IKey | None = None
    secrets: Mapping[str, secretsmanager.ISecret | ssm.IStringParameter] | None = None
    ephemeral_storage_size: cdk.Size | None = None
    code_signing_config: lambda_.ICodeSigningConfig | None = None
    alarm_topic: sns.ITopic | None = None
    errors_alarm_threshold: int | None = None
    throttles_alarm_threshold: int | None = None
    duration_alarm_fraction: float | None = None
    concurrency_alarm_fraction: float | None = None
    dashboard: bool | None = None

    def given(self) -> dict[str, Any]:
        """The fields that were set, as ``ObservedFunction`` keyword arguments."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def with_defaults(self, **values: Any) -> FunctionOptions:
        """A copy in which each of ``values`` fills a field that was not set."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if getattr(self, k) is None})


FIELDS = frozenset(f.name for f in dataclasses.fields(FunctionOptions))


def function_options(problems: Problems, prop: str, value: object) -> FunctionOptions | None:
    """``value`` when it is a ``FunctionOptions``; a dict (the old untyped form) or anything else is a problem
    that shows how to write it."""
    if value is None or isinstance(value, FunctionOptions):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in FIELDS)
        problems.add(prop, "a FunctionOptions(...)", "a dict",
                     f"write FunctionOptions({', '.join(f'{k}=...' for k in value)})"
                     + (f"; {', '.join(map(repr, unknown))} {'is not a prop' if len(unknown) == 1 else 'are not props'}"
                        f" of ObservedFunction" if unknown else ""))
    else:
        problems.add(prop, "a FunctionOptions(...)", type(value).__name__, "pass FunctionOptions(timeout=..., ...)")
    return None


@functools.cache
def _runtime(name: str) -> lambda_.Runtime:
    return next(r for r in lambda_.Runtime.ALL if r.name == name)


@functools.cache
def _architecture(name: str) -> lambda_.Architecture:
    return lambda_.Architecture.ARM_64 if name == lambda_.Architecture.ARM_64.name else lambda_.Architecture.X86_64


@dataclass(frozen=True, kw_only=True)
class FunctionProps:
    """Resolved, validated ObservedFunction props: what its builders read."""

    handler: str
    code: lambda_.Code
    description: str | None
    function_name: str | None
    runtime: lambda_.Runtime
    architecture: lambda_.Architecture
    memory_size: int
    timeout: cdk.Duration
    environment: dict[str, str]
    service_name: str
    metrics_namespace: str
    powertools: bool
    powertools_layer_version: int
    tracing: lambda_.Tracing
    trace_aws_sdk: bool
    application_log_level: str
    system_log_level: str
    log_retention: logs.RetentionDays
    log_encryption_key: kms.IKey | None
    async_invocation: bool
    retry_attempts: int
    max_event_age: cdk.Duration
    on_failure: lambda_.IDestination | None
    reserved_concurrent_executions: int | None
    provisioned_concurrent_executions: int | None
    vpc: ec2.IVpc | None
    vpc_subnets: ec2.SubnetSelection | None
    security_groups: list[ec2.ISecurityGroup]
    layers: list[lambda_.ILayerVersion]
    environment_encryption: kms.IKey | None
    secrets: dict[str, secretsmanager.ISecret | ssm.IStringParameter]
    ephemeral_storage_size: cdk.Size | None
    code_signing_config: lambda_.ICodeSigningConfig | None
    alarm_topic: sns.ITopic | None
    errors_alarm_threshold: int
    throttles_alarm_threshold: int
    duration_alarm_fraction: float
    concurrency_alarm_fraction: float
    dashboard: bool

    @staticmethod
    def resolve(id: str, options: FunctionOptions) -> FunctionProps:
        """Apply the defaults and check every prop; one ``PropsError`` lists every problem."""
        o = options
        problems = Problems("ObservedFunction", id)
        handler = o.handler
        if not isinstance(handler, str) or not handler:
            problems.add("handler", "the handler string 'module.function'", handler,
                         "pass e.g. handler='api.handler.main'")
            problems.raise_if_any()
        assert handler is not None
        code = o.code
        if code is None and not is_token(handler):
            kind = _assets.runtime_of_handler(handler)
            code = _assets.runtime_code(kind) if kind is not None else None
        runtime = o.runtime or _runtime(defaults.RUNTIME.value)
        if code is None:
            problems.add("code", "the function's deployment package", None,
                         "pass code=lambda_.Code.from_asset('src'), the folder that holds the handler's module; only "
                         "a handler in a library runtime (lambda_manifest.runtime.<kind>) brings its own code")
        else:
            # The handler must name a module of the code (or of a runtime the library delivers) and a function
            # it defines: read from the files, never imported. App layers may hold modules we cannot see.
            _handlers.add_to(problems, _handlers.check_handler(
                handler, code, runtime=runtime, runtime_roots=[_handlers.LIBRARY_RUNTIME],
                opaque_layers=bool(o.layers)))
        async_invocation = bool(o.async_invocation)
        props = FunctionProps(
            handler=handler,
            code=code,  # type: ignore[arg-type]  # a missing code is a problem raised below
            description=o.description,
            function_name=o.function_name,
            runtime=runtime,
            architecture=o.architecture or _architecture(defaults.ARCHITECTURE.value),
            memory_size=pick(o.memory_size, defaults.MEMORY_SIZE_MB.value),
            timeout=o.timeout or known_seconds(defaults.TIMEOUT_SECONDS.value),
            environment=dict(o.environment or {}),
            service_name=o.service_name or id,
            metrics_namespace=o.metrics_namespace or defaults.METRICS_NAMESPACE.value,
            powertools=pick(o.powertools, defaults.POWERTOOLS.value),
            powertools_layer_version=pick(o.powertools_layer_version, defaults.POWERTOOLS_LAYER_VERSION.value),
            tracing=o.tracing or lambda_.Tracing[defaults.TRACING.value],
            trace_aws_sdk=pick(o.trace_aws_sdk, defaults.TRACE_AWS_SDK.value),
            application_log_level=pick(o.application_log_level, defaults.APPLICATION_LOG_LEVEL.value),
            system_log_level=pick(o.system_log_level, defaults.SYSTEM_LOG_LEVEL.value),
            log_retention=o.log_retention or logs.RetentionDays[defaults.LOG_RETENTION.value],
            log_encryption_key=o.log_encryption_key,
            async_invocation=async_invocation,
            retry_attempts=pick(o.retry_attempts, defaults.ASYNC_RETRY_ATTEMPTS.value),
            max_event_age=o.max_event_age or known_seconds(defaults.ASYNC_MAX_EVENT_AGE_SECONDS.value),
            on_failure=o.on_failure,
            reserved_concurrent_executions=o.reserved_concurrent_executions,
            provisioned_concurrent_executions=o.provisioned_concurrent_executions,
            vpc=o.vpc,
            vpc_subnets=o.vpc_subnets,
            security_groups=list(o.security_groups or []),
            layers=list(o.layers or []),
            environment_encryption=o.environment_encryption,
            secrets=dict(o.secrets or {}),
            ephemeral_storage_size=o.ephemeral_storage_size,
            code_signing_config=o.code_signing_config,
            alarm_topic=o.alarm_topic,
            errors_alarm_threshold=pick(o.errors_alarm_threshold, defaults.ERRORS_ALARM_THRESHOLD.value),
            throttles_alarm_threshold=pick(o.throttles_alarm_threshold, defaults.THROTTLES_ALARM_THRESHOLD.value),
            duration_alarm_fraction=pick(o.duration_alarm_fraction, defaults.DURATION_ALARM_FRACTION.value),
            concurrency_alarm_fraction=pick(o.concurrency_alarm_fraction, defaults.CONCURRENCY_ALARM_FRACTION.value),
            dashboard=pick(o.dashboard, defaults.FUNCTION_DASHBOARD.value),
        )
        props._check(problems, o)
        problems.raise_if_any()
        return props

    def _check(self, problems: Problems, given: FunctionOptions) -> None:
        low, high = defaults.MEMORY_RANGE_MB
        problems.check_range("memory_size", self.memory_size, low, high, "MB",
                             f"pass memory_size in MB, e.g. memory_size={defaults.MEMORY_SIZE_MB.value}")
        low, high = defaults.TIMEOUT_RANGE_SECONDS
        problems.check_range("timeout", seconds(self.timeout), low, high, "seconds",
                             "pass e.g. timeout=Duration.seconds(30); work longer than 15 minutes belongs in "
                             "Step Functions or a queue")
        size = self.ephemeral_storage_size
        if size is not None and not is_token(size.to_mebibytes()):
            low, high = defaults.EPHEMERAL_STORAGE_RANGE_MB
            problems.check_range("ephemeral_storage_size", size.to_mebibytes(), low, high, "MiB",
                                 "pass e.g. ephemeral_storage_size=Size.mebibytes(1024)")
        reserved, provisioned = self.reserved_concurrent_executions, self.provisioned_concurrent_executions
        for prop, value in (("reserved", reserved), ("provisioned", provisioned)):
            if value is not None and not is_token(value) and value < 0:
                problems.add(f"{prop}_concurrent_executions", "a non-negative integer", value,
                             "pass 0 or more, or leave it unset")
        if reserved is not None and provisioned and not is_token(reserved) and not is_token(provisioned) \
                and provisioned > reserved:
            problems.add("provisioned_concurrent_executions", f"at most reserved_concurrent_executions ({reserved})",
                         provisioned, "lower it or raise reserved_concurrent_executions")
        if reserved == 0:
            problems.note("reserved_concurrent_executions=0 would stop the function from ever running; "
                          "leave it unset or pass a positive number")
        if self.application_log_level not in APP_LEVELS:
            problems.add("application_log_level", f"one of {sorted(APP_LEVELS)}", self.application_log_level,
                         "use a Lambda application log level name")
        if self.system_log_level not in SYSTEM_LEVELS:
            problems.add("system_log_level", f"one of {sorted(SYSTEM_LEVELS)}", self.system_log_level,
                         "use a Lambda system log level name")
        if self.log_retention == logs.RetentionDays.INFINITE:
            problems.add("log_retention", "a bounded retention", "INFINITE",
                         "pass e.g. log_retention=RetentionDays.ONE_YEAR; unbounded logs grow cost forever")
        if not self.async_invocation:
            for prop in ("retry_attempts", "max_event_age", "on_failure"):
                if getattr(given, prop) is not None:
                    problems.add(prop, "used only with async_invocation=True", "set",
                                 "pass async_invocation=True if the function is invoked asynchronously, "
                                 f"or drop {prop}")
        else:
            low, high = defaults.ASYNC_RETRY_RANGE
            problems.check_range("retry_attempts", self.retry_attempts, low, high, "",
                                 "pass 0, 1 or 2 (the Lambda limits)")
            low, high = defaults.ASYNC_MAX_EVENT_AGE_RANGE_SECONDS
            problems.check_range("max_event_age", seconds(self.max_event_age), low, high, "seconds",
                                 "pass between Duration.minutes(1) and Duration.hours(6)")
        if self.vpc is None:
            for prop in ("vpc_subnets", "security_groups"):
                if getattr(given, prop):
                    problems.add(prop, "used only together with vpc", "set", f"pass vpc=... or drop {prop}")
        for name in self.secrets:
            if not ENV_NAME.match(name):
                problems.add("secrets", f"keyed by environment variable names ({ENV_NAME.pattern})", name,
                             "rename the key")
            if name in self.environment:
                problems.add("secrets", "keys distinct from environment keys", name,
                             f"remove {name} from environment or from secrets")
        for name in self.environment:
            if not ENV_NAME.match(name):
                problems.add("environment", f"keyed by names matching {ENV_NAME.pattern}", name, "rename it")
        for prop in ("errors_alarm_threshold", "throttles_alarm_threshold"):
            if getattr(self, prop) < 1:
                problems.add(prop, "at least 1", getattr(self, prop), "an alarm at 0 would always fire; pass 1 or more")
        for prop in ("duration_alarm_fraction", "concurrency_alarm_fraction"):
            if not 0 < getattr(self, prop) <= 1:
                problems.add(prop, "a fraction in (0, 1]", getattr(self, prop), "pass e.g. 0.8")
        if self.trace_aws_sdk:
            if self.tracing != lambda_.Tracing.ACTIVE:
                problems.add("trace_aws_sdk", "used with tracing=Tracing.ACTIVE", True,
                             "leave tracing at its default, or drop trace_aws_sdk")
            if not self.powertools:
                problems.add("trace_aws_sdk", "used with the Powertools layer (it ships the X-Ray SDK)", True,
                             "leave powertools=True, or drop trace_aws_sdk")
        if self.powertools_layer_version < 1:
            problems.add("powertools_layer_version", "a published layer version (>= 1)",
                         self.powertools_layer_version, "see the Powertools docs for the current version")


def check_owned_options(problems: Problems, options: FunctionOptions, *, construct: str, fixed: Mapping[str, str],
                        own: Sequence[str], reserved_env: Sequence[str]) -> None:
    """Problems with the ``function_options`` of a function a construct creates for itself: ``fixed`` fields it
    sets (with why), ``own`` fields that are the construct's own props, and environment names its runtime reads."""
    for key in (*fixed, *own):
        if getattr(options, key) is not None:
            problems.add(f"function_options.{key}", "not set here", "set",
                         fixed.get(key, f"pass {key}= to {construct} itself"))
    for reserved in reserved_env:
        if reserved in (options.environment or {}):
            problems.add("function_options.environment", f"without {reserved}", reserved, "the construct sets it")


def check_env_name(construct: str, id: str, key: str) -> None:
    """Raise when ``key`` cannot be an environment variable name."""
    if not cdk.Token.is_unresolved(key) and not ENV_NAME.match(key):
        raise PropsError(
            f"{construct} '{id}': add_environment key must be an environment variable name "
            f"({ENV_NAME.pattern}), got {key!r}; rename it, e.g. {re.sub(r'[^A-Za-z0-9_]', '_', key).upper()!r}"
        )
