"""ServerlessApi: every default (HTTP and REST), every option, every validation error, and the nag gate."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match, Template

from lambda_manifest import (
    ApiType,
    Authorizer,
    Canary,
    Cors,
    CustomDomain,
    ObservedFunction,
    Pack,
    PropsError,
    ResponseCache,
    RouteCache,
    ServerlessApi,
    StackResources,
    Throttle,
    UsagePlan,
    Waf,
    acknowledge,
)
from lambda_manifest import _defaults as defaults
from tests.support import INLINE, nag_findings, new_stack, template_of

ISSUER = "https://issuer.example.com/"
FN_OPTIONS = {"code": INLINE}
REASON = "Load balancer health checks carry no credentials and return no data."


def function(stack: cdk.Stack, id: str = "Fn") -> ObservedFunction:
    # 29 s fits behind both API kinds (the REST integration timeout is 29 s, HTTP's 30 s).
    return ObservedFunction(stack, id, handler="index.main", code=INLINE, timeout=cdk.Duration.seconds(29))


def jwt() -> Authorizer:
    return Authorizer.jwt(issuer=ISSUER, audience=["items"])


def lambda_auth(**options: Any) -> Authorizer:
    options.setdefault("jwks_url", "https://issuer.example.com/.well-known/jwks.json")
    options.setdefault("issuer", ISSUER)
    options.setdefault("audience", ["items"])
    return Authorizer.lambda_(function_options=FN_OPTIONS, **options)


def http_api(stack: cdk.Stack, **props: Any) -> ServerlessApi:
    props.setdefault("authorizer", jwt())
    return ServerlessApi(stack, "Api", **props)


def rest_api(stack: cdk.Stack, **props: Any) -> ServerlessApi:
    props.setdefault("authorizer", Authorizer.cognito())
    return ServerlessApi(stack, "Api", api_type=ApiType.REST, **props)


def only(template: Template, type_: str) -> dict[str, Any]:
    found = template.find_resources(type_)
    assert len(found) == 1, f"expected one {type_}, found {list(found)}"
    return dict(next(iter(found.values())))


def props_of(template: Template, type_: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template.find_resources(type_).values()]


def fails(build: Any) -> str:
    with pytest.raises(PropsError) as error:
        build(new_stack())
    return str(error.value)


@pytest.fixture(scope="module")
def http_template() -> Template:
    def build(stack: cdk.Stack) -> None:
        fn = function(stack)
        api = http_api(stack)
        api.add_route("GET /items", fn)
        api.add_route("GET /items/{id}", fn, throttle=Throttle(5, 10))
        api.add_route("GET /health", fn, public_reason=REASON)

    return template_of(build)


@pytest.fixture(scope="module")
def rest_template() -> Template:
    def build(stack: cdk.Stack) -> None:
        fn = function(stack)
        api = rest_api(stack, cache=ResponseCache(), usage_plans=[UsagePlan(name="Gold", quota_limit=1000,
                                                                              api_keys=["Acme"])])
        api.add_route("GET /catalog", fn, cache=RouteCache(query_strings=["limit"]))
        api.add_route("GET /catalog/{sku}", fn, cache=True, throttle=Throttle(7, 14))
        api.add_route("POST /orders", fn, request_model={"type": "object", "required": ["sku"]})
        api.add_route("GET /health", fn, public_reason=REASON)

    return template_of(build)


# ---------------------------------------------------------------------------------------------------
# HTTP API defaults
# ---------------------------------------------------------------------------------------------------
def test_http_is_the_default_with_payload_2(http_template: Template) -> None:
    http_template.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    http_template.resource_count_is("AWS::ApiGateway::RestApi", 0)
    assert only(http_template, "AWS::ApiGatewayV2::Api")["Properties"]["ProtocolType"] == "HTTP"
    integration = only(http_template, "AWS::ApiGatewayV2::Integration")["Properties"]
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert defaults.API_TYPE.value == ApiType.HTTP.value


def test_http_default_stage_auto_deploys_with_finite_throttle(http_template: Template) -> None:
    stage = only(http_template, "AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == defaults.THROTTLE_RATE_LIMIT.value
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == defaults.THROTTLE_BURST_LIMIT.value


def test_http_per_route_throttle_override(http_template: Template) -> None:
    stage = only(http_template, "AWS::ApiGatewayV2::Stage")
    assert stage["Properties"]["RouteSettings"] == {
        "GET /items/{id}": {"ThrottlingRateLimit": 5, "ThrottlingBurstLimit": 10}}
    assert any("RouteGetItemsId" in dep for dep in stage["DependsOn"])


def test_http_json_access_log_fields(http_template: Template) -> None:
    settings = only(http_template, "AWS::ApiGatewayV2::Stage")["Properties"]["AccessLogSettings"]
    fields = json.loads(settings["Format"])
    for name, variable in (("requestId", "$context.requestId"), ("routeKey", "$context.routeKey"),
                           ("status", "$context.status"), ("responseLatency", "$context.responseLatency"),
                           ("integrationError", "$context.integrationErrorMessage"),
                           ("authorizerError", "$context.authorizer.error"),
                           ("sourceIp", "$context.identity.sourceIp"),
                           ("userAgent", "$context.identity.userAgent")):
        assert fields[name] == variable
    group_id = next(k for k, v in http_template.find_resources("AWS::Logs::LogGroup").items()
                    if "AccessLogs" in k)
    assert settings["DestinationArn"] == {"Fn::GetAtt": [group_id, "Arn"]}


def test_access_log_group_encrypted_bounded_retained(http_template: Template) -> None:
    groups = {k: v for k, v in http_template.find_resources("AWS::Logs::LogGroup").items() if "AccessLogs" in k}
    (group,) = groups.values()
    key_id = next(iter(http_template.find_resources("AWS::KMS::Key")))
    assert group["Properties"]["RetentionInDays"] == defaults.ACCESS_LOG_RETENTION_DAYS.value
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert group["DeletionPolicy"] == "Retain"


def test_every_route_is_authorized_unless_public(http_template: Template) -> None:
    routes = {p["RouteKey"]: p for p in props_of(http_template, "AWS::ApiGatewayV2::Route")}
    assert set(routes) == {"GET /items", "GET /items/{id}", "GET /health"}
    assert routes["GET /items"]["AuthorizationType"] == "JWT"
    assert routes["GET /items/{id}"]["AuthorizationType"] == "JWT"
    assert routes["GET /health"]["AuthorizationType"] == "NONE"


def test_jwt_authorizer_issuer_audience_header(http_template: Template) -> None:
    authorizer = only(http_template, "AWS::ApiGatewayV2::Authorizer")["Properties"]
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["JwtConfiguration"] == {"Issuer": ISSUER, "Audience": ["items"]}
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]


def test_lambda_permission_scoped_to_api_and_route(http_template: Template) -> None:
    arns = [json.dumps(p["SourceArn"]) for p in props_of(http_template, "AWS::Lambda::Permission")]
    api_id = next(iter(http_template.find_resources("AWS::ApiGatewayV2::Api")))
    assert len(arns) == 3
    assert all(f'{{"Ref": "{api_id}"}}' in arn for arn in arns)
    assert any(arn.endswith('/*/*/items/{id}"]]}') for arn in arns)
    assert any(arn.endswith('/*/*/health"]]}') for arn in arns)


def test_one_integration_per_function(http_template: Template) -> None:
    http_template.resource_count_is("AWS::ApiGatewayV2::Integration", 1)


def test_no_cors_by_default(http_template: Template) -> None:
    assert "CorsConfiguration" not in only(http_template, "AWS::ApiGatewayV2::Api")["Properties"]


def test_alarms_with_actions_and_documented_thresholds(http_template: Template) -> None:
    alarms = props_of(http_template, "AWS::CloudWatch::Alarm")
    topic_id = next(iter(http_template.find_resources("AWS::SNS::Topic")))
    api = [a for a in alarms if "Api" in json.dumps(a.get("Metrics", a.get("Dimensions", "")))]
    by_description = {a["AlarmDescription"].split(":")[0]: a for a in api}
    assert len(api) == 4, by_description
    rates = [a for a in api if "Metrics" in a]
    thresholds = sorted(a["Threshold"] for a in rates)
    assert thresholds == [defaults.SERVER_ERROR_RATE_ALARM_PERCENT.value,
                          defaults.CLIENT_ERROR_RATE_ALARM_PERCENT.value]
    for rate in rates:
        expression = rate["Metrics"][0]["Expression"]
        assert f">= {defaults.ALARM_MIN_REQUESTS.value}" in expression
        assert rate["ComparisonOperator"] == "GreaterThanThreshold"
    latency = {a["MetricName"]: a for a in api if "MetricName" in a}
    assert latency["Latency"]["Threshold"] == defaults.LATENCY_ALARM_MS.value
    assert latency["IntegrationLatency"]["Threshold"] == defaults.INTEGRATION_LATENCY_ALARM_MS.value
    assert latency["Latency"]["ExtendedStatistic"] == "p99"
    for alarm in api:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["OKActions"] == [{"Ref": topic_id}]


def test_dashboard_row_and_url_output(http_template: Template) -> None:
    body = json.dumps(only(http_template, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
    assert "API TestStack/Api (HTTP)" in body
    outputs = http_template.find_outputs("*")
    assert any("execute-api" in json.dumps(o["Value"]) for o in outputs.values())


def test_attributes() -> None:
    stack = new_stack()
    fn = function(stack)
    api = http_api(stack)
    route = api.add_route("GET /items", fn)
    assert isinstance(api.api, apigwv2.HttpApi)
    assert isinstance(api.stage, apigwv2.HttpStage)
    assert isinstance(api.access_log_group, logs.LogGroup)
    assert set(api.alarms) == {"ServerErrorRate", "ClientErrorRate", "LatencyP99", "IntegrationLatencyP99"}
    assert api.routes == {"GET /items": route}
    assert route.function is fn and route.method == "GET" and route.path == "/items"
    assert api.functions == [fn]
    assert api.authorizer is not None and api.authorizer.http_authorizer is not None
    assert cdk.Token.is_unresolved(api.url)
    for metric in (api.metric_count(), api.metric_server_errors(), api.metric_client_errors()):
        assert metric.namespace == "AWS/ApiGateway"
    assert api.metric_latency().statistic == "p99"
    assert "IF(" in api.metric_server_error_rate().expression


# ---------------------------------------------------------------------------------------------------
# HTTP API options
# ---------------------------------------------------------------------------------------------------
def test_handler_props_create_an_observed_function() -> None:
    stack = new_stack()
    api = http_api(stack)
    route = api.add_route("POST /items", {"handler": "index.main", "code": INLINE, "memory_size": 512})
    assert isinstance(route.function, ObservedFunction)
    assert route.function.node.path == "TestStack/Api/PostItemsHandler"
    Template.from_stack(stack).has_resource_properties("AWS::Lambda::Function", {"MemorySize": 512})


def test_default_handler_is_the_catch_all_route() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack, default_handler=function(stack))

    route = only(template_of(build), "AWS::ApiGatewayV2::Route")["Properties"]
    assert route["RouteKey"] == "$default"
    assert route["AuthorizationType"] == "JWT"


def test_version_prefixes_routes() -> None:
    stack = new_stack()
    api = http_api(stack)
    v1 = api.version("v1")
    v1.add_route("GET /items", function(stack))
    assert list(api.routes) == ["GET /v1/items"]


def test_cors_explicit_origin() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack, cors=Cors(allow_origins=["https://app.example.com"], expose_headers=["ETag"],
                                  allow_methods=["GET", "POST"], allow_credentials=True)
                 ).add_route("GET /x", function(stack))

    cors = only(template_of(build), "AWS::ApiGatewayV2::Api")["Properties"]["CorsConfiguration"]
    assert cors == {"AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
                    "AllowHeaders": list(defaults.CORS_ALLOW_HEADERS.value), "ExposeHeaders": ["ETag"],
                    "AllowCredentials": True, "MaxAge": defaults.CORS_MAX_AGE_SECONDS.value}


def test_cors_any_origin_warns() -> None:
    stack = new_stack()
    http_api(stack, cors=Cors(allow_origins=["*"])).add_route("GET /x", function(stack))
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp(".*allow_origins=\\['\\*'\\].*"))
    assert len(warnings) == 1


def test_lambda_authorizer_function_environment_and_cache() -> None:
    def build(stack: cdk.Stack) -> None:
        api = http_api(stack, authorizer=lambda_auth(leeway_seconds=10, tenant_claim="org",
                                                     key_cache_ttl=cdk.Duration.minutes(10)))
        api.add_route("GET /items", {"handler": "index.main", "code": INLINE})

    template = template_of(build)
    authorizer = only(template, "AWS::ApiGatewayV2::Authorizer")["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["AuthorizerResultTtlInSeconds"] == defaults.AUTHORIZER_CACHE_TTL_SECONDS.value
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    fn = next(f for f in props_of(template, "AWS::Lambda::Function") if f["Handler"] == "lambda_manifest.runtime.authorizer.handler.main")
    env = fn["Environment"]["Variables"]
    assert env["LM_AUTH_JWKS_URL"] == "https://issuer.example.com/.well-known/jwks.json"
    assert env["LM_AUTH_ISSUER"] == ISSUER
    assert env["LM_AUTH_AUDIENCE"] == "items"
    assert env["LM_AUTH_LEEWAY_SECONDS"] == "10"
    assert env["LM_AUTH_TENANT_CLAIM"] == "org"
    assert env["LM_AUTH_CACHE_TTL_SECONDS"] == "600"
    assert fn["Timeout"] == defaults.AUTHORIZER_TIMEOUT_SECONDS.value
    permissions = [json.dumps(p["SourceArn"]) for p in props_of(template, "AWS::Lambda::Permission")]
    assert sum("/authorizers/" in arn for arn in permissions) == 1


def test_lambda_authorizer_api_key_table_created_and_read_only() -> None:
    stack = new_stack()
    api = http_api(stack, authorizer=Authorizer.lambda_(api_key_table=True, function_options=FN_OPTIONS))
    assert api.authorizer is not None and api.authorizer.api_key_table is not None
    api.add_route("GET /items", api.authorizer.function)  # type: ignore[arg-type]
    template = Template.from_stack(stack)
    table = only(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    env = only(template, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    table_id = next(iter(template.find_resources("AWS::DynamoDB::Table")))
    assert env["LM_AUTH_API_KEY_TABLE"] == {"Ref": table_id}
    policy = json.dumps(only(template, "AWS::IAM::ManagedPolicy")["Properties"]["PolicyDocument"])
    assert '"dynamodb:GetItem"' in policy and "PutItem" not in policy and "Scan" not in policy
    authorizer = only(template, "AWS::ApiGatewayV2::Authorizer")["Properties"]
    assert authorizer["IdentitySource"] == ["$request.header.x-api-key"]


def test_lambda_authorizer_with_tokens_and_keys_skips_cache_by_default() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack, authorizer=lambda_auth(api_key_table=True)).add_route("GET /x", function(stack))

    authorizer = only(template_of(build), "AWS::ApiGatewayV2::Authorizer")["Properties"]
    assert authorizer["AuthorizerResultTtlInSeconds"] == 0
    assert authorizer["IdentitySource"] == []


def test_lambda_authorizer_hs256_secret_read_without_key_policy_cycle() -> None:
    stack = new_stack()
    secret = secretsmanager.Secret(stack, "Signing", encryption_key=StackResources.of(stack).key)
    http_api(stack, authorizer=Authorizer.lambda_(hs256_secret=secret, issuer=ISSUER, audience=["a"],
                                                  function_options=FN_OPTIONS)
             ).add_route("GET /x", {"handler": "index.main", "code": INLINE})
    template = Template.from_stack(stack)
    secret_id = next(iter(template.find_resources("AWS::SecretsManager::Secret")))
    env = next(f for f in props_of(template, "AWS::Lambda::Function")
               if f["Handler"] == "lambda_manifest.runtime.authorizer.handler.main")["Environment"]["Variables"]
    assert env["LM_AUTH_HS256_SECRET_ARN"] == {"Ref": secret_id}
    policy = json.dumps(props_of(template, "AWS::IAM::ManagedPolicy"))
    assert "secretsmanager:GetSecretValue" in policy and "kms:ViaService" in policy
    key_policy = json.dumps(only(template, "AWS::KMS::Key")["Properties"]["KeyPolicy"])
    assert "Authorizer" not in key_policy  # the role is not in the key policy: no circular dependency


def test_http_cognito_creates_pool_and_client() -> None:
    stack = new_stack()
    api = http_api(stack, authorizer=Authorizer.cognito())
    api.add_route("GET /x", function(stack))
    assert api.authorizer is not None and api.authorizer.user_pool is not None
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Cognito::UserPoolClient", 1)
    assert only(template, "AWS::ApiGatewayV2::Authorizer")["Properties"]["AuthorizerType"] == "JWT"


def test_iam_authorizer_and_grant_invoke() -> None:
    stack = new_stack()
    api = http_api(stack, authorizer=Authorizer.iam())
    api.add_route("GET /items/{id}", function(stack))
    caller = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())
    api.grant_invoke(caller)
    api.grant_invoke(caller, "GET /items/{id}")
    template = Template.from_stack(stack)
    assert only(template, "AWS::ApiGatewayV2::Route")["Properties"]["AuthorizationType"] == "AWS_IAM"
    policy = json.dumps(only(template, "AWS::IAM::Policy")["Properties"]["PolicyDocument"])
    assert "execute-api:Invoke" in policy
    assert "/$default/*/*" in policy and "/$default/GET/items/*" in policy


def test_integration_route_gets_the_default_authorizer() -> None:
    stack = new_stack()
    api = http_api(stack)
    queue = sqs.Queue(stack, "Queue")
    route = api.add_integration_route("POST /jobs", integrations.HttpSqsIntegration("Sqs", queue=queue),
                                      throttle=Throttle(1, 2))
    assert route.function is None
    template = Template.from_stack(stack)
    assert only(template, "AWS::ApiGatewayV2::Route")["Properties"]["AuthorizationType"] == "JWT"
    assert only(template, "AWS::ApiGatewayV2::Stage")["Properties"]["RouteSettings"]["POST /jobs"] == {
        "ThrottlingRateLimit": 1, "ThrottlingBurstLimit": 2}


def test_authorization_scopes_on_jwt_route() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack).add_route("GET /items", function(stack), authorization_scopes=["items/read"])

    route = only(template_of(build), "AWS::ApiGatewayV2::Route")["Properties"]
    assert route["AuthorizationScopes"] == ["items/read"]


def test_http_custom_domain_tls12_mapping_and_alias() -> None:
    def build(stack: cdk.Stack) -> None:
        zone = route53.HostedZone(stack, "Zone", zone_name="example.com")
        certificate = acm.Certificate.from_certificate_arn(stack, "Cert", "arn:aws:acm:us-east-1:1:certificate/x")
        http_api(stack, domain=CustomDomain(domain_name="api.example.com", certificate=certificate,
                                            hosted_zone=zone, base_path="items"),
                 disable_execute_api_endpoint=True).add_route("GET /x", function(stack))

    template = template_of(build)
    domain = only(template, "AWS::ApiGatewayV2::DomainName")["Properties"]
    assert domain["DomainNameConfigurations"][0]["SecurityPolicy"] == "TLS_1_2"
    assert only(template, "AWS::ApiGatewayV2::ApiMapping")["Properties"]["ApiMappingKey"] == "items"
    template.resource_count_is("AWS::Route53::RecordSet", 1)
    assert only(template, "AWS::ApiGatewayV2::Api")["Properties"]["DisableExecuteApiEndpoint"] is True


def test_custom_retention_and_alarm_thresholds() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack, access_log_retention=logs.RetentionDays.ONE_MONTH, server_error_rate_alarm_percent=5,
                 latency_alarm_threshold=cdk.Duration.seconds(1), dashboard=False).add_route("GET /x", function(stack))

    template = template_of(build)
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Latency", "Threshold": 1000})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"Threshold": 5})
    body = json.dumps(only(template, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
    assert "Function TestStack/Fn" in body and "API TestStack/Api" not in body


# ---------------------------------------------------------------------------------------------------
# REST API defaults and options
# ---------------------------------------------------------------------------------------------------
def test_rest_regional_compressed_no_account_role_by_default(rest_template: Template) -> None:
    api = only(rest_template, "AWS::ApiGateway::RestApi")["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert api["MinimumCompressionSize"] == defaults.REST_MIN_COMPRESSION_BYTES.value
    assert api["ApiKeySourceType"] == "HEADER"
    rest_template.resource_count_is("AWS::ApiGateway::Account", 0)


def test_rest_stage_tracing_logging_throttle_cache(rest_template: Template) -> None:
    stage = only(rest_template, "AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == defaults.REST_STAGE_NAME.value
    assert stage["TracingEnabled"] is True
    assert stage["CacheClusterEnabled"] is True
    assert stage["CacheClusterSize"] == defaults.REST_CACHE_SIZE.value
    settings = {(s["HttpMethod"], s["ResourcePath"]): s for s in stage["MethodSettings"]}
    default = settings[("*", "/*")]
    assert default["LoggingLevel"] == "ERROR"
    assert default["DataTraceEnabled"] is False
    assert default["ThrottlingRateLimit"] == defaults.THROTTLE_RATE_LIMIT.value
    assert default["ThrottlingBurstLimit"] == defaults.THROTTLE_BURST_LIMIT.value
    assert default["CachingEnabled"] is False and default["CacheDataEncrypted"] is True
    catalog = settings[("GET", "/~1catalog")]
    assert catalog["CachingEnabled"] is True and catalog["CacheDataEncrypted"] is True
    assert catalog["CacheTtlInSeconds"] == defaults.REST_CACHE_TTL_SECONDS.value
    sku = settings[("GET", "/~1catalog~1{sku}")]
    assert sku["ThrottlingRateLimit"] == 7 and sku["ThrottlingBurstLimit"] == 14 and sku["CachingEnabled"] is True
    assert len(settings) == 3


def test_rest_access_log_json_and_execution_log_group(rest_template: Template) -> None:
    stage = only(rest_template, "AWS::ApiGateway::Stage")
    fields = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    for name in ("requestId", "routeKey", "status", "responseLatency", "integrationError", "authorizerError",
                 "sourceIp", "userAgent"):
        assert name in fields
    groups = rest_template.find_resources("AWS::Logs::LogGroup")
    execution = next(v for k, v in groups.items() if "ExecutionLogs" in k)
    assert "API-Gateway-Execution-Logs_" in json.dumps(execution["Properties"]["LogGroupName"])
    assert "KmsKeyId" in execution["Properties"] and execution["Properties"]["RetentionInDays"] == 365
    assert any("ExecutionLogs" in dep for dep in stage["DependsOn"])


def test_rest_methods_cognito_api_keys_validator(rest_template: Template) -> None:
    methods = {(p["HttpMethod"], json.dumps(p["ResourceId"])): p for p in props_of(rest_template, "AWS::ApiGateway::Method")}
    validator = next(iter(rest_template.find_resources("AWS::ApiGateway::RequestValidator")))
    authorized = [p for p in methods.values() if p["AuthorizationType"] == "COGNITO_USER_POOLS"]
    public = [p for p in methods.values() if p["AuthorizationType"] == "NONE"]
    assert len(authorized) == 3 and len(public) == 1
    for method in authorized:
        assert method["ApiKeyRequired"] is True
        assert method["RequestValidatorId"] == {"Ref": validator}
        assert method["Integration"]["Type"] == "AWS_PROXY"
    assert "ApiKeyRequired" not in public[0]
    assert only(rest_template, "AWS::ApiGateway::RequestValidator")["Properties"].items() >= {
        "ValidateRequestBody": True, "ValidateRequestParameters": True}.items()


def test_rest_cache_key_includes_path_and_query_parameters(rest_template: Template) -> None:
    methods = props_of(rest_template, "AWS::ApiGateway::Method")
    keys = sorted(tuple(m["Integration"].get("CacheKeyParameters", [])) for m in methods if "Integration" in m)
    assert ("method.request.querystring.limit",) in keys
    assert ("method.request.path.sku",) in keys


def test_rest_request_model(rest_template: Template) -> None:
    model = only(rest_template, "AWS::ApiGateway::Model")["Properties"]
    assert model["ContentType"] == "application/json"
    assert model["Schema"]["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert model["Schema"]["required"] == ["sku"]
    model_id = next(iter(rest_template.find_resources("AWS::ApiGateway::Model")))
    rest_template.has_resource_properties("AWS::ApiGateway::Method", {
        "HttpMethod": "POST", "RequestModels": {"application/json": {"Ref": model_id}}})


def test_rest_usage_plan_quota_and_key(rest_template: Template) -> None:
    plan = only(rest_template, "AWS::ApiGateway::UsagePlan")["Properties"]
    assert plan["Quota"] == {"Limit": 1000, "Period": "MONTH"}
    rest_template.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    rest_template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)


def test_rest_managed_waf_with_logging_and_redaction(rest_template: Template) -> None:
    acl = only(rest_template, "AWS::WAFv2::WebACL")["Properties"]
    assert acl["Scope"] == "REGIONAL"
    groups = [r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in acl["Rules"]]
    assert groups == ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                      "AWSManagedRulesAmazonIpReputationList"]
    association = only(rest_template, "AWS::WAFv2::WebACLAssociation")
    assert "/stages/" in json.dumps(association["Properties"]["ResourceArn"])
    logging = only(rest_template, "AWS::WAFv2::LoggingConfiguration")["Properties"]
    redacted = [f["SingleHeader"]["Name"] for f in logging["RedactedFields"]]
    assert {"authorization", "x-api-key"} <= set(redacted)
    waf_group = next(v for k, v in rest_template.find_resources("AWS::Logs::LogGroup").items() if "WafLogs" in k)
    assert waf_group["Properties"]["LogGroupName"].startswith("aws-waf-logs-")
    assert "KmsKeyId" in waf_group["Properties"]


def test_rest_cognito_pool_is_secure() -> None:
    stack = new_stack()
    api = rest_api(stack)
    api.add_route("GET /x", function(stack))
    pool = only(Template.from_stack(stack), "AWS::Cognito::UserPool")
    props = pool["Properties"]
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == defaults.COGNITO_PASSWORD_MIN_LENGTH.value
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))
    assert props["MfaConfiguration"] == defaults.COGNITO_MFA.value == "OPTIONAL"
    assert props["UserPoolTier"] == defaults.COGNITO_FEATURE_PLAN.value
    assert props["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["DeletionProtection"] == "ACTIVE"
    assert pool["DeletionPolicy"] == "Retain"


def test_rest_cloud_watch_role_without_aws_managed_policy() -> None:
    def build(stack: cdk.Stack) -> None:
        rest_api(stack, cloud_watch_role=True).add_route("GET /x", function(stack))

    template = template_of(build)
    account = only(template, "AWS::ApiGateway::Account")
    assert account["DeletionPolicy"] == "Retain"
    roles = [r for r in props_of(template, "AWS::IAM::Role") if "apigateway" in json.dumps(r)]
    assert len(roles) == 1 and "aws:policy" not in json.dumps(roles[0])
    stage = only(template, "AWS::ApiGateway::Stage")
    assert any("Account" in dep for dep in stage["DependsOn"])


def test_rest_waf_from_arn_and_disabled() -> None:
    arn = "arn:aws:wafv2:us-east-1:111111111111:regional/webacl/mine/abc"

    def build_arn(stack: cdk.Stack) -> None:
        rest_api(stack, waf=Waf.from_web_acl_arn(arn)).add_route("GET /x", function(stack))

    template = template_of(build_arn)
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    assert only(template, "AWS::WAFv2::WebACLAssociation")["Properties"]["WebACLArn"] == arn

    def build_off(stack: cdk.Stack) -> None:
        rest_api(stack, waf=Waf.disabled("Reached only through CloudFront, whose web ACL filters traffic.")
                 ).add_route("GET /x", function(stack))

    template = template_of(build_off)
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 0)


def test_rest_lambda_authorizer_iam_canary_certificate_logging_off() -> None:
    def build(stack: cdk.Stack) -> None:
        api = rest_api(stack, authorizer=lambda_auth(), canary=Canary(percent_traffic=10,
                                                                      stage_variable_overrides={"alias": "next"}),
                       client_certificate=True, execution_logging_level=apigateway.MethodLoggingLevel.OFF,
                       minimum_compression_size=0, endpoint_type=apigateway.EndpointType.EDGE, tracing=False)
        api.add_route("GET /x", function(stack))

    template = template_of(build)
    authorizer = only(template, "AWS::ApiGateway::Authorizer")["Properties"]
    assert authorizer["Type"] == "REQUEST"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    assert authorizer["AuthorizerResultTtlInSeconds"] == defaults.AUTHORIZER_CACHE_TTL_SECONDS.value
    method = only(template, "AWS::ApiGateway::Method")["Properties"]
    assert method["AuthorizationType"] == "CUSTOM"
    stage = only(template, "AWS::ApiGateway::Stage")["Properties"]
    assert stage["CanarySetting"] == {"PercentTraffic": 10, "StageVariableOverrides": {"alias": "next"},
                                      "UseStageCache": False}
    assert "ClientCertificateId" in stage
    assert stage["MethodSettings"][0]["LoggingLevel"] == "OFF"
    assert stage["TracingEnabled"] is False
    assert only(template, "AWS::ApiGateway::RestApi")["Properties"]["MinimumCompressionSize"] == 0
    assert not [k for k in template.find_resources("AWS::Logs::LogGroup") if "ExecutionLogs" in k]


def test_rest_iam_authorizer_and_default_handler() -> None:
    def build(stack: cdk.Stack) -> None:
        api = rest_api(stack, authorizer=Authorizer.iam(), default_handler=function(stack))
        api.grant_invoke(iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal()))

    template = template_of(build)
    methods = props_of(template, "AWS::ApiGateway::Method")
    assert sorted(m["HttpMethod"] for m in methods) == ["ANY", "ANY"]
    assert {m["AuthorizationType"] for m in methods} == {"AWS_IAM"}
    assert "execute-api:Invoke" in json.dumps(only(template, "AWS::IAM::Policy")["Properties"])


def test_rest_cors_preflight_and_gateway_responses() -> None:
    def build(stack: cdk.Stack) -> None:
        rest_api(stack, cors=Cors(allow_origins=["https://partner.example.com"])).add_route("GET /x", function(stack))

    template = template_of(build)
    options = [m for m in props_of(template, "AWS::ApiGateway::Method") if m["HttpMethod"] == "OPTIONS"]
    assert options and all(m["AuthorizationType"] == "NONE" for m in options)
    responses = props_of(template, "AWS::ApiGateway::GatewayResponse")
    assert {r["ResponseType"] for r in responses} == {"DEFAULT_4XX", "DEFAULT_5XX"}
    assert all(r["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
               == "'https://partner.example.com'" for r in responses)


def test_rest_integration_route_takes_a_rest_integration() -> None:
    stack = new_stack()
    api = rest_api(stack)
    api.add_integration_route("GET /mock", apigateway.MockIntegration(
        integration_responses=[apigateway.IntegrationResponse(status_code="200")],
        request_templates={"application/json": '{"statusCode": 200}'}))
    method = only(Template.from_stack(stack), "AWS::ApiGateway::Method")["Properties"]
    assert method["Integration"]["Type"] == "MOCK"
    assert method["AuthorizationType"] == "COGNITO_USER_POOLS"


def test_rest_custom_domain() -> None:
    def build(stack: cdk.Stack) -> None:
        certificate = acm.Certificate.from_certificate_arn(stack, "Cert", "arn:aws:acm:us-east-1:1:certificate/x")
        rest_api(stack, domain=CustomDomain(domain_name="partners.example.com", certificate=certificate)
                 ).add_route("GET /x", function(stack))

    template = template_of(build)
    domain = only(template, "AWS::ApiGateway::DomainName")["Properties"]
    assert domain["SecurityPolicy"] == "TLS_1_2"
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    template.resource_count_is("AWS::ApiGateway::BasePathMapping", 1)


# ---------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------
REST_ONLY = [
    ("cache", ResponseCache(), "response caching"),
    ("usage_plans", [UsagePlan(name="P", quota_limit=1)], "API keys and usage plans"),
    ("waf", Waf.managed(), "WAF"),
    ("canary", Canary(percent_traffic=5), "canary"),
    ("minimum_compression_size", 1024, "compression"),
    ("endpoint_type", apigateway.EndpointType.EDGE, "endpoint types"),
    ("tracing", True, "X-Ray"),
    ("execution_logging_level", apigateway.MethodLoggingLevel.INFO, "execution logging"),
    ("cloud_watch_role", True, "CloudWatch role"),
    ("client_certificate", True, "client certificates"),
]


@pytest.mark.parametrize(("prop", "value", "feature"), REST_ONLY, ids=[r[0] for r in REST_ONLY])
def test_fails_rest_only_feature_on_http(prop: str, value: Any, feature: str) -> None:
    message = fails(lambda s: http_api(s, **{prop: value}))
    assert f"{prop} must be used only with api_type=ApiType.REST" in message
    assert feature in message
    assert "$3.50 per million" in message and "$1.00 for HTTP APIs" in message


def test_fails_route_cache_and_request_model_on_http() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack).add_route("POST /orders", function(stack), cache=True, request_model={"type": "object"})

    message = fails(build)
    assert "cache must be used only with api_type=ApiType.REST" in message
    assert "request_model must be used only with api_type=ApiType.REST" in message
    assert "request validation with JSON-schema models" in message


def test_fails_vtl_integration_on_http() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack).add_integration_route("GET /mock", apigateway.MockIntegration())

    assert "custom (VTL mapping template) integrations" in fails(build)


def test_fails_http_integration_on_rest() -> None:
    def build(stack: cdk.Stack) -> None:
        rest_api(stack).add_integration_route("GET /x", integrations.HttpUrlIntegration("U", "https://x.example"))

    assert "integration must be an aws_apigateway.Integration on a REST API" in fails(build)


def test_fails_route_without_authorization_or_reason() -> None:
    def build(stack: cdk.Stack) -> None:
        ServerlessApi(stack, "Api").add_route("GET /items", function(stack))

    message = fails(build)
    assert "route must be authorized, got 'GET /items'" in message
    assert "public_reason=" in message


def test_public_route_without_authorizer_is_allowed() -> None:
    stack = new_stack()
    route = ServerlessApi(stack, "Api").add_route("GET /health", function(stack), public_reason=REASON)
    assert route.public_reason == REASON


def test_fails_thin_public_reason_and_scopes_on_public_route() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack).add_route("GET /x", function(stack), public_reason="because", authorization_scopes=["a"])

    message = fails(build)
    assert "public_reason must be a sentence of at least 20 characters" in message
    assert "authorization_scopes must be unset on a public route" in message


@pytest.mark.parametrize(("throttle", "expected"), [
    (Throttle(0, 10), "throttle.rate_limit must be a finite number of requests per second > 0"),
    (Throttle(-1, 10), "throttle.rate_limit must be a finite number"),
    (Throttle(math.nan, 10), "throttle.rate_limit must be a finite number"),
    (Throttle(math.inf, 10), "throttle.rate_limit must be a finite number"),
    (Throttle(10, 0), "throttle.burst_limit must be a whole number of requests >= 1"),
    (Throttle(10, 2.5), "throttle.burst_limit must be a whole number"),  # type: ignore[arg-type]
])
def test_fails_bad_throttle(throttle: Throttle, expected: str) -> None:
    assert expected in fails(lambda s: http_api(s, throttle=throttle))
    assert expected in fails(lambda s: http_api(s).add_route("GET /x", function(s), throttle=throttle))


def test_fails_bad_usage_plan_throttle_and_quota() -> None:
    plan = UsagePlan(name="Gold", quota_limit=0, throttle=Throttle(0, 1))
    message = fails(lambda s: rest_api(s, usage_plans=[plan, UsagePlan(name="Gold", quota_limit=5)]))
    assert "usage_plans['Gold'].quota_limit must be a whole number of requests >= 1" in message
    assert "usage_plans['Gold'].throttle.rate_limit must be" in message
    assert "usage_plans must be uniquely named plans" in message


def test_fails_cors_any_origin_with_credentials() -> None:
    message = fails(lambda s: http_api(s, cors=Cors(allow_origins=["*"], allow_credentials=True)))
    assert "cors must be explicit origins when allow_credentials=True" in message


@pytest.mark.parametrize(("origins", "expected"), [
    ([], "cors.allow_origins must be at least one origin"),
    (["http://app.example.com"], "cors.allow_origins must be https://host[:port] origins"),
    (["https://app.example.com/path"], "cors.allow_origins must be https://host[:port] origins"),
    (["*", "https://a.example.com"], "cors.allow_origins must be either ['*'] or explicit origins"),
])
def test_fails_bad_cors_origins(origins: list[str], expected: str) -> None:
    assert expected in fails(lambda s: http_api(s, cors=Cors(allow_origins=origins)))


def test_fails_bad_cors_method_and_max_age() -> None:
    message = fails(lambda s: http_api(s, cors=Cors(allow_origins=["https://a.example.com"], allow_methods=["FETCH"],
                                                    max_age=cdk.Duration.days(2))))
    assert "cors.allow_methods must be HTTP methods" in message
    assert "cors.max_age must be between 0 and 86400 seconds" in message


def test_fails_jwt_on_rest_and_bad_jwt_settings() -> None:
    message = fails(lambda s: rest_api(s, authorizer=Authorizer.jwt(issuer="http://issuer", audience=[])))
    assert "REST APIs have no JWT authorizer" in message
    assert "authorizer.issuer must be an https:// URL" in message
    assert "authorizer.audience must be at least one audience" in message


def test_fails_lambda_authorizer_without_credentials() -> None:
    message = fails(lambda s: http_api(s, authorizer=Authorizer.lambda_()))
    assert "authorizer must be Authorizer.lambda_ with jwks_url, hs256_secret and/or api_key_table" in message


def test_fails_lambda_authorizer_bad_settings() -> None:
    message = fails(lambda s: http_api(s, authorizer=Authorizer.lambda_(
        jwks_url="http://keys.example.com", results_cache_ttl=cdk.Duration.hours(2), leeway_seconds=900,
        timeout=cdk.Duration.seconds(30), function_options={"environment": {}}, identity_headers=["bad header"])))
    assert "authorizer.jwks_url must be an https:// URL" in message
    assert "authorizer.issuer must be set when bearer tokens are enabled" in message
    assert "authorizer.audience must be at least one audience" in message
    assert "authorizer.results_cache_ttl must be between 0 and 3600 seconds" in message
    assert "authorizer.leeway_seconds must be between 0 and 300 seconds" in message
    assert "authorizer.timeout must be between 1 and 10 seconds" in message
    assert "authorizer.function_options must be free of" in message
    assert "authorizer.identity_headers must be header names" in message


def test_fails_lambda_authorizer_cache_without_identity() -> None:
    message = fails(lambda s: http_api(s, authorizer=lambda_auth(api_key_table=True,
                                                                 results_cache_ttl=cdk.Duration.minutes(5))))
    assert "results_cache_ttl must be 0 when both bearer tokens and API keys are enabled" in message
    message = fails(lambda s: http_api(s, authorizer=lambda_auth(identity_headers=[],
                                                                 results_cache_ttl=cdk.Duration.minutes(5))))
    assert "results_cache_ttl must be 0 when identity_headers is empty" in message


def test_fails_cognito_mfa_off_and_options_with_own_pool() -> None:
    message = fails(lambda s: rest_api(s, authorizer=Authorizer.cognito(mfa=cognito.Mfa.OFF)))
    assert "authorizer.mfa must be Mfa.OPTIONAL or Mfa.REQUIRED" in message

    def own_pool(stack: cdk.Stack) -> None:
        pool = cognito.UserPool(stack, "Pool")
        rest_api(stack, authorizer=Authorizer.cognito(user_pool=pool, feature_plan=cognito.FeaturePlan.ESSENTIALS))

    assert "mfa/feature_plan/password_min_length only for a created user pool" in fails(own_pool)


def test_fails_scopes_with_lambda_authorizer() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack, authorizer=lambda_auth()).add_route("GET /x", function(stack), authorization_scopes=["a"])

    assert "authorization_scopes must be used only with Authorizer.jwt() or Authorizer.cognito()" in fails(build)


def test_fails_authorizer_reused_by_two_apis() -> None:
    def build(stack: cdk.Stack) -> None:
        shared = jwt()
        ServerlessApi(stack, "A", authorizer=shared)
        ServerlessApi(stack, "B", authorizer=shared)

    assert "authorizer must be a new Authorizer for each ServerlessApi" in fails(build)


@pytest.mark.parametrize("route", ["get /x", "GET x", "GET /a/{p+}/b", "GET /{a}/{a}", "GET /a b", "FETCH /x",
                                   "GET /a//b"])
def test_fails_malformed_route(route: str) -> None:
    assert "route must be 'METHOD /path'" in fails(lambda s: http_api(s).add_route(route, function(s)))


def test_fails_duplicate_route_and_default_on_rest() -> None:
    def duplicate(stack: cdk.Stack) -> None:
        api = http_api(stack)
        api.add_route("GET /x", function(stack))
        api.add_route("GET /x", function(stack, "Other"))

    assert "route must be added once, got 'GET /x'" in fails(duplicate)
    assert "route must be 'METHOD /path' on a REST API" in fails(
        lambda s: rest_api(s).add_route("$default", function(s)))


def test_fails_bad_handler_type() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack).add_route("GET /x", "index.main")  # type: ignore[arg-type]

    assert "handler must be a Lambda function (any IFunction) or a dict of ObservedFunction props" in fails(build)


def test_fails_rest_cache_misuse() -> None:
    message = fails(lambda s: rest_api(s).add_route("GET /x", function(s), cache=True))
    assert "cache must be used with a stage cache" in message
    message = fails(lambda s: rest_api(s, cache=ResponseCache()).add_route("POST /x", function(s), cache=True))
    assert "cache must be used only on GET or HEAD routes" in message
    message = fails(lambda s: rest_api(s, cache=ResponseCache()).add_route(
        "GET /x", function(s), cache=RouteCache(ttl=cdk.Duration.hours(2))))
    assert "cache.ttl must be between 0 and 3600 seconds" in message


def test_fails_rest_request_model_misuse() -> None:
    message = fails(lambda s: rest_api(s).add_route("GET /x", function(s), request_model={"properties": {}}))
    assert "request_model must be a JSON schema dict (draft 4) with a 'type'" in message
    assert "request_model must be used only on POST/PUT/PATCH/ANY routes" in message


def test_fails_bad_rest_props() -> None:
    message = fails(lambda s: rest_api(
        s, cache=ResponseCache(size="2", ttl=cdk.Duration.hours(2)), canary=Canary(percent_traffic=0),
        minimum_compression_size=20 * 1024 * 1024, waf=Waf.disabled("no"), stage_name="prod-1"))
    assert "cache.size must be one of" in message
    assert "cache.ttl must be between 0 and 3600 seconds" in message
    assert "canary.percent_traffic must be a percentage in (0, 100]" in message
    assert "minimum_compression_size must be between 0 and 1.04858e+07 bytes" in message
    assert "waf must be Waf.disabled(reason) with a reason of at least 20 characters" in message
    assert "stage_name must be letters, digits and '_'" in message
    assert "waf must be a WAFv2 web ACL ARN" in fails(lambda s: rest_api(s, waf=Waf.from_web_acl_arn("arn:aws:x")))


def test_fails_bad_usage_plan_names() -> None:
    plans = [UsagePlan(name="a-b", quota_limit=1, api_keys=["K"]), UsagePlan(name="B", quota_limit=1, api_keys=["K"])]
    message = fails(lambda s: rest_api(s, usage_plans=plans))
    assert "usage_plans['a-b'].name must be alphanumeric" in message
    assert "usage_plans must be unique API key names across plans" in message


def test_fails_unbounded_logs_bad_alarms_and_endpoint() -> None:
    message = fails(lambda s: http_api(
        s, access_log_retention=logs.RetentionDays.INFINITE, server_error_rate_alarm_percent=0,
        client_error_rate_alarm_percent=150, alarm_min_requests=0, latency_alarm_threshold=cdk.Duration.seconds(40),
        integration_latency_alarm_threshold=cdk.Duration.millis(0), disable_execute_api_endpoint=True))
    assert "access_log_retention must be a bounded retention" in message
    assert "server_error_rate_alarm_percent must be a percentage in (0, 100]" in message
    assert "client_error_rate_alarm_percent must be a percentage in (0, 100]" in message
    assert "alarm_min_requests must be a whole number >= 1" in message
    assert "latency_alarm_threshold must be between 1 and 30000 ms" in message
    assert "integration_latency_alarm_threshold must be between 1 and 30000 ms" in message
    assert "disable_execute_api_endpoint must be used with a custom domain" in message


def test_fails_bad_domain() -> None:
    def build(stack: cdk.Stack) -> None:
        certificate = acm.Certificate.from_certificate_arn(stack, "Cert", "arn:aws:acm:us-east-1:1:certificate/x")
        http_api(stack, domain=CustomDomain(domain_name="API.Example", certificate=certificate, base_path="/v1/"))

    message = fails(build)
    assert "domain.domain_name must be a lower-case DNS name" in message
    assert "domain.base_path must be path segments without leading or trailing '/'" in message


def test_fails_synth_without_routes() -> None:
    stack = new_stack()
    rest_api(stack)
    with pytest.raises(RuntimeError, match="ServerlessApi 'Api' has no routes"):
        cdk.App.of(stack).synth()  # type: ignore[union-attr]


def test_fails_grant_invoke_without_iam_and_bad_version() -> None:
    stack = new_stack()
    api = http_api(stack)
    with pytest.raises(PropsError, match=r"grant_invoke needs authorizer=Authorizer\.iam\(\)"):
        api.grant_invoke(iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()))
    with pytest.raises(PropsError, match="version must be one path segment"):
        api.version("v1/beta")


def test_one_error_lists_every_problem() -> None:
    message = fails(lambda s: http_api(s, throttle=Throttle(0, 0), cache=ResponseCache(),
                                       cors=Cors(allow_origins=["*"], allow_credentials=True)))
    assert message.startswith("ServerlessApi 'Api' has invalid props:")
    assert message.count("\n  - ") == 4


# ---------------------------------------------------------------------------------------------------
# Compliance: zero unacknowledged findings, and public_reason acknowledges one route only
# ---------------------------------------------------------------------------------------------------
def test_nag_clean_http_jwt(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        fn = function(stack)
        api = http_api(stack, cors=Cors(allow_origins=["https://app.example.com"]))
        api.add_route("GET /items", fn, authorization_scopes=["items/read"])
        api.add_default_route(fn)

    assert nag_findings(build, tmp_path) == []


def test_nag_clean_http_lambda_authorizer(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        secret = secretsmanager.Secret(stack, "Signing", encryption_key=StackResources.of(stack).key)
        for rule in ("AwsSolutions-SMG4", "HIPAA.Security-SecretsManagerRotationEnabled",
                     "NIST.800.53.R5-SecretsManagerRotationEnabled"):
            pack = next(p for p in Pack if rule.startswith(p.value + "-"))
            acknowledge(secret, pack, rule, "Test secret shared with an external issuer; rotated with it.")
        api = http_api(stack, authorizer=Authorizer.lambda_(
            hs256_secret=secret, issuer=ISSUER, audience=["a"], api_key_table=True, function_options=FN_OPTIONS))
        api.add_route("GET /items", function(stack))

    assert nag_findings(build, tmp_path) == []


def test_nag_clean_rest_cognito_waf_cache_keys(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        fn = function(stack)
        api = rest_api(stack, cache=ResponseCache(), cloud_watch_role=True,
                       usage_plans=[UsagePlan(name="Gold", quota_limit=1000, api_keys=["Acme"])],
                       cors=Cors(allow_origins=["https://app.example.com"]))
        api.add_route("GET /catalog", fn, cache=True)
        api.add_route("POST /orders", fn, request_model={"type": "object"})

    assert nag_findings(build, tmp_path) == []


def test_nag_clean_rest_lambda_authorizer_without_waf(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        api = rest_api(stack, authorizer=lambda_auth(), waf=Waf.disabled(
            "Private partner network only; the upstream firewall filters requests."))
        api.add_route("GET /x", function(stack))

    assert nag_findings(build, tmp_path) == []


def test_public_reason_acknowledges_only_that_route(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        fn = function(stack)
        api = http_api(stack)
        api.add_route("GET /health", fn, public_reason=REASON)
        api.add_route("GET /items", fn)
        # A sibling route made by hand without authorization is still reported: the reason is route-scoped.
        http = api.api
        assert isinstance(http, apigwv2.HttpApi)
        apigwv2.HttpRoute(http, "Unguarded", http_api=http,
                          route_key=apigwv2.HttpRouteKey.with_("/open", apigwv2.HttpMethod.GET),
                          integration=integrations.HttpLambdaIntegration("Open", fn))

    assert nag_findings(build, tmp_path) == ["AwsSolutions-APIG4 @ NagStack/Api/Api/Unguarded/Resource"]
    report = json.loads((tmp_path / "validation-report.json").read_text())
    suppressed = [
        (s["ruleName"], c["constructPath"], s["reason"])
        for p in report["pluginReports"] for s in p.get("suppressedViolations") or []
        for c in s["violatingConstructs"] if s["ruleName"] == "AwsSolutions-APIG4"
    ]
    assert [(rule, path) for rule, path, _ in suppressed] == [
        ("AwsSolutions-APIG4", "NagStack/Api/Api/RouteGetHealth/Resource")]
    assert REASON in suppressed[0][2]
