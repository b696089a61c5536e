"""Pieces of RestServerlessApi that stand on their own: the access log format, the WAF web ACL, the
account-level CloudWatch role, usage plans, stage method settings and acknowledgements, response streaming, and
the SQS ``SendMessage`` integration of a queue route."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from aws_cdk import ArnFormat, Names, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct, IConstruct

from lambda_manifest import _assets
from lambda_manifest._api_options import QueueSend, RouteCache, Throttle, UsagePlan, parse_route
from lambda_manifest._function_props import FunctionOptions
from lambda_manifest._validation import Problems
from lambda_manifest.compliance import Pack, acknowledge, acknowledge_all
from lambda_manifest.observed_function import ObservedFunction

ACCESS_LOG = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.httpMethod $context.resourcePath",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "authorizerError": "$context.authorizer.error",
    "wafResponseCode": "$context.wafResponseCode",
    "errorMessage": "$context.error.message",
    "apiKeyId": "$context.identity.apiKeyId",
    "xrayTraceId": "$context.xrayTraceId",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
}

# AWS managed rule groups every public REST API should start with (the three; all free of WCU
# surprises: 700 + 200 + 25 of the web ACL's 1,500 included capacity units).
MANAGED_RULE_GROUPS = (
    ("AWSManagedRulesCommonRuleSet", "Common"),
    ("AWSManagedRulesKnownBadInputsRuleSet", "KnownBadInputs"),
    ("AWSManagedRulesAmazonIpReputationList", "IpReputation"),
)
# Credentials never reach the WAF log.
REDACTED_HEADERS = ("authorization", "x-api-key", "cookie")


def managed_web_acl(
    scope: Construct, *, retention: logs.RetentionDays, key: kms.IKey
) -> tuple[wafv2.CfnWebACL, logs.LogGroup]:
    """A regional web ACL with the AWS managed rule groups, logging to an encrypted ``aws-waf-logs-*`` group."""
    metric_prefix = Names.unique_id(scope)[-64:]

    def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=f"{metric_prefix}-{name}", sampled_requests_enabled=True
        )

    rules = [
        wafv2.CfnWebACL.RuleProperty(
            name=short,
            priority=priority,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group
                )
            ),
            visibility_config=visibility(short),
        )
        for priority, (group, short) in enumerate(MANAGED_RULE_GROUPS)
    ]
    acl = wafv2.CfnWebACL(
        scope,
        "WebAcl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=visibility("WebAcl"),
        rules=rules,
        description=f"Protects {scope.node.path}: AWS managed common, known-bad-inputs and IP-reputation rules",
    )
    log_group = logs.LogGroup(
        scope,
        "WafLogs",
        log_group_name="aws-waf-logs-" + Names.unique_resource_name(scope, max_length=80, separator="-"),
        retention=retention,
        encryption_key=key,
        removal_policy=RemovalPolicy.RETAIN,
    )
    destination = Stack.of(scope).format_arn(
        service="logs", resource="log-group", resource_name=log_group.log_group_name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    logging = wafv2.CfnLoggingConfiguration(
        scope,
        "WafLogging",
        resource_arn=acl.attr_arn,
        log_destination_configs=[destination],
        redacted_fields=[
            wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
            for header in REDACTED_HEADERS
        ],
    )
    logging.node.add_dependency(log_group)
    return acl, log_group


def account_cloud_watch_role(scope: Construct) -> apigateway.CfnAccount:
    """The account-level role API Gateway uses to write execution logs, without AWS-managed policies.

    It is scoped to API Gateway's execution-log groups; ``logs:DescribeLogGroups`` is a list action that
    takes no resource.
    """
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "CloudWatchRole",
        assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
        description="Lets API Gateway write REST execution logs in this account and region",
    )
    groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:API-Gateway-Execution-Logs_*"
    policy = iam.ManagedPolicy(
        scope,
        "CloudWatchRolePolicy",
        description="API Gateway execution logging (account-level role)",
        statements=[
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams",
                         "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents"],
                resources=[groups, f"{groups}:*"],
            ),
            iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=["*"]),
        ],
    )
    role.add_managed_policy(policy)
    acknowledge(
        policy, Pack.AWS_SOLUTIONS, "AwsSolutions-IAM5[Resource::*]",
        "logs:DescribeLogGroups is a list action without resource-level permissions; every other action of "
        "this account-level API Gateway role is scoped to the API-Gateway-Execution-Logs_* log groups.",
    )
    wildcard = (
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:API-Gateway-Execution-Logs_*"
    )
    for resource in (wildcard, f"{wildcard}:*"):
        acknowledge(
            policy, Pack.AWS_SOLUTIONS, f"AwsSolutions-IAM5[Resource::{resource}]",
            "The account-level API Gateway CloudWatch role serves every REST API in the account and region, "
            "whose execution-log groups are all named API-Gateway-Execution-Logs_<api id>/<stage>.",
        )
    account = apigateway.CfnAccount(scope, "Account", cloud_watch_role_arn=role.role_arn)
    account.node.add_dependency(policy)
    # Deleting the stack must not unset a role other APIs in the account rely on.
    account.apply_removal_policy(RemovalPolicy.RETAIN)
    return account


def method_setting_path(path: str) -> str:
    """The ``ResourcePath`` of a stage method setting: ``/items/{id}`` -> ``/~1items~1{id}``."""
    if path == "/":
        return "/"
    return "/" + path.replace("/", "~1")


def method_settings(
    *, level: str, detailed_metrics: bool, cached: bool, default_ttl: int, throttle: Throttle,
    route_throttles: Mapping[str, Throttle], route_caches: Mapping[str, tuple[str, str, int]],
) -> list[Any]:
    """A stage's method settings: the ``/*/*`` defaults plus one entry per route with its own throttle or cache."""

    def setting(method: str, resource: str, limit: Throttle, caching: bool, ttl: int) -> \
            apigateway.CfnStage.MethodSettingProperty:
        return apigateway.CfnStage.MethodSettingProperty(
            http_method=method,
            resource_path=resource,
            logging_level=level,
            data_trace_enabled=False,
            metrics_enabled=detailed_metrics,
            throttling_rate_limit=limit.rate_limit,
            throttling_burst_limit=limit.burst_limit,
            caching_enabled=caching if cached else None,
            cache_ttl_in_seconds=ttl if cached else None,
            cache_data_encrypted=True if cached else None,
        )

    settings = [setting("*", "/*", throttle, False, default_ttl)]
    for route in sorted(set(route_throttles) | set(route_caches)):
        parsed = parse_route(route)
        assert parsed is not None
        method, path = parsed
        for actual in (["*"] if method == "ANY" else [method]):
            cache = route_caches.get(route)
            settings.append(setting(actual, method_setting_path(path), route_throttles.get(route, throttle),
                                    cache is not None, cache[2] if cache else default_ttl))
    return settings


def usage_plans(
    scope: Construct, api: apigateway.RestApi, plans: Sequence[UsagePlan], stage: apigateway.Stage,
) -> tuple[dict[str, apigateway.UsagePlan], dict[str, apigateway.ApiKey]]:
    """The usage plans and their API keys, by name."""
    created_plans: dict[str, apigateway.UsagePlan] = {}
    keys: dict[str, apigateway.ApiKey] = {}
    for plan in plans:
        created = apigateway.UsagePlan(
            scope, f"UsagePlan{plan.name}",
            name=f"{api.rest_api_name}-{plan.name}",
            quota=apigateway.QuotaSettings(limit=plan.quota_limit, period=plan.quota_period),
            throttle=None if plan.throttle is None else apigateway.ThrottleSettings(
                rate_limit=plan.throttle.rate_limit, burst_limit=plan.throttle.burst_limit),
            api_stages=[apigateway.UsagePlanPerApiStage(api=api, stage=stage)],
        )
        created_plans[plan.name] = created
        for key_name in plan.api_keys:
            key = apigateway.ApiKey(scope, f"ApiKey{plan.name}{key_name}",
                                    description=f"{key_name} ({plan.name} plan of {scope.node.path})")
            created.add_api_key(key)
            keys[key_name] = key
    return created_plans, keys


def acknowledge_no_waf(stage: apigateway.Stage, path: str, reason: str) -> None:
    acknowledge_all(
        stage.node.default_child or stage,
        [(Pack.AWS_SOLUTIONS, "AwsSolutions-APIG3"),
         (Pack.NIST_800_53_R5, "NIST.800.53.R5-APIGWAssociatedWithWAF"),
         (Pack.PCI_DSS_321, "PCI.DSS.321-APIGWAssociatedWithWAF")],
        f"WAF was turned off for {path} with Waf.disabled(): {reason}",
    )


def acknowledge_stage(cfn_stage: IConstruct, path: str, *, logging_level: apigateway.MethodLoggingLevel,
                      client_certificate: bool) -> None:
    acknowledge_all(
        cfn_stage,
        [(Pack.HIPAA_SECURITY, "HIPAA.Security-APIGWCacheEnabledAndEncrypted"),
         (Pack.NIST_800_53_R5, "NIST.800.53.R5-APIGWCacheEnabledAndEncrypted"),
         (Pack.PCI_DSS_321, "PCI.DSS.321-APIGWCacheEnabledAndEncrypted")],
        f"{path} caches only the routes given add_route(cache=...), always encrypted: the API Gateway cache key "
        "does not include the caller, so caching every method would serve one caller's authorized response "
        "to the next.",
    )
    if not client_certificate:
        acknowledge_all(
            cfn_stage,
            [(Pack.HIPAA_SECURITY, "HIPAA.Security-APIGWSSLEnabled"),
             (Pack.NIST_800_53_R5, "NIST.800.53.R5-APIGWSSLEnabled"),
             (Pack.PCI_DSS_321, "PCI.DSS.321-APIGWSSLEnabled")],
            f"A client certificate authenticates API Gateway to HTTP backends; {path} invokes Lambda functions "
            "and AWS services through IAM, which never see one. Pass client_certificate=True for HTTP backends.",
        )
    if logging_level == apigateway.MethodLoggingLevel.OFF:
        acknowledge_all(
            cfn_stage,
            [(Pack.AWS_SOLUTIONS, "AwsSolutions-APIG6"),
             (Pack.HIPAA_SECURITY, "HIPAA.Security-APIGWExecutionLoggingEnabled"),
             (Pack.NIST_800_53_R5, "NIST.800.53.R5-APIGWExecutionLoggingEnabled"),
             (Pack.PCI_DSS_321, "PCI.DSS.321-APIGWExecutionLoggingEnabled")],
            f"Execution logging of {path} was turned off with execution_logging_level=OFF (the account has no "
            "API Gateway CloudWatch role); JSON access logs still record every request.",
        )


_STREAM_MARK = "LambdaManifestStreaming"


def enable_streaming(function: lambda_.IFunction) -> None:
    """A Python function answers through the stream runtime's loop; a Node.js one streams natively."""
    if isinstance(function, ObservedFunction):
        function.enable_response_streaming()
    elif isinstance(function, lambda_.Function) and function.runtime.family is lambda_.RuntimeFamily.PYTHON \
            and function.node.try_find_child(_STREAM_MARK) is None:  # a second streaming route adds nothing
        function.add_layers(_assets.runtime_layer(function, "stream"))
        function.add_environment(_assets.EXEC_WRAPPER_ENV, _assets.STREAM_WRAPPER_IN_LAYER)
        Construct(function, _STREAM_MARK)


_BODY_METHODS = ("POST", "PUT", "PATCH", "ANY")


def check_request_model(problems: Problems, route: str, parsed: tuple[str, str] | None,
                        request_model: Mapping[str, Any]) -> None:
    if not isinstance(request_model, Mapping) or "type" not in request_model:
        problems.add("request_model", "a JSON schema dict (draft 4) with a 'type'", request_model,
                     "e.g. {'type': 'object', 'required': ['sku'], 'properties': {...}}")
    if parsed is not None and parsed[0] not in _BODY_METHODS:
        problems.add("request_model", f"used only on {'/'.join(_BODY_METHODS)} routes", route,
                     "only requests with a body can be validated against a model")


def check_stream(problems: Problems, handler: Any, cache: bool | RouteCache | None) -> None:
    if cache:
        problems.add("cache", "unset on a streaming route", cache,
                     "API Gateway cannot cache a streamed response: drop cache= or stream=True")
    if isinstance(handler, FunctionOptions):
        return
    if not isinstance(handler, lambda_.Function):
        problems.add("handler", "a function defined in this app when stream=True (it gets the stream runtime's "
                     "AWS_LAMBDA_EXEC_WRAPPER)", type(handler).__name__,
                     "pass the function where it is defined, or an ObservedFunction")
    elif handler.runtime.family not in (lambda_.RuntimeFamily.PYTHON, lambda_.RuntimeFamily.NODEJS):
        problems.add("handler runtime", "Python (the stream runtime) or Node.js (streamifyResponse) when "
                     "stream=True", handler.runtime.name, "use a Python or Node.js function")


def cache_key_parameters(path: str, cache: RouteCache | None) -> tuple[str, ...]:
    if cache is None:
        return ()
    keys = [f"method.request.path.{s[1:-1].rstrip('+')}" for s in path.split("/") if s.startswith("{")]
    keys += [f"method.request.querystring.{q}" for q in cache.query_strings]
    keys += [f"method.request.header.{h}" for h in cache.headers]
    return tuple(keys)


# HTTP API mapping expressions a queue route's message group and deduplication ids may use, and what a REST
# mapping template reads for each.
_REQUEST_VALUE = re.compile(r"^\$request\.(header|querystring|path)\.([A-Za-z0-9_.-]+)$")
_BODY_VALUE = re.compile(r"^\$request\.body\.([A-Za-z0-9_.]+)$")
_CONTEXT_VALUE = re.compile(r"^\$context\.([A-Za-z0-9_.]+)$")


def send_message_integration(problems: Problems, send: QueueSend) -> apigateway.AwsIntegration:
    """SQS ``SendMessage`` (query API, form-encoded) from a JSON request body, answering ``accepted_status``."""
    body = "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
    for name, prop, value in (("MessageGroupId", "message_group_id", send.message_group_id),
                              ("MessageDeduplicationId", "deduplication_id", send.deduplication_id)):
        if value is not None:
            body += f"&{name}={_template_value(problems, prop, value)}"
    return apigateway.AwsIntegration(
        service="sqs",
        path=f"{send.queue.env.account}/{send.queue.queue_name}",
        integration_http_method="POST",
        options=apigateway.IntegrationOptions(
            credentials_role=send.role,
            passthrough_behavior=apigateway.PassthroughBehavior.NEVER,
            request_parameters={"integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"},
            request_templates={"application/json": body},
            integration_responses=[
                apigateway.IntegrationResponse(status_code=str(send.accepted_status or 200)),
                apigateway.IntegrationResponse(status_code="400", selection_pattern="4\\d{2}"),
                apigateway.IntegrationResponse(status_code="500", selection_pattern="5\\d{2}"),
            ],
        ),
    )


def _template_value(problems: Problems, prop: str, value: str) -> str:
    """An HTTP API mapping expression (or a static value) as a URL-encoded mapping-template value."""
    if not value.startswith("$"):
        return quote(value, safe="")
    if match := _REQUEST_VALUE.match(value):
        return f"$util.urlEncode($input.params().{match.group(1)}.get('{match.group(2)}'))"
    if match := _BODY_VALUE.match(value):
        return f"$util.urlEncode($input.path('$.{match.group(1)}'))"
    if match := _CONTEXT_VALUE.match(value):
        return f"$util.urlEncode($context.{match.group(1)})"
    problems.add(prop, "a static value, $request.header|querystring|path.NAME, $request.body.FIELD or "
                 "$context.NAME", value, "pass e.g. '$request.header.X-Group-Id'")
    return ""
