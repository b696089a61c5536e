"""HttpServerlessApi: every default, every option, authorizers, and the nag gate."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match, Template

from lambda_manifest import (
    Authorizer,
    Cors,
    CustomDomain,
    FunctionOptions,
    ObservedFunction,
    Pack,
    StackResources,
    Throttle,
    acknowledge,
)
from tests.constructs.api_support import (
    FN_OPTIONS,
    ISSUER,
    REASON,
    function,
    http_api,
    lambda_auth,
    only,
    props_of,
)
from tests.support import INLINE, nag_findings, new_stack, template_of


@pytest.fixture(scope="module")
def http_template() -> Template:
    def build(stack: cdk.Stack) -> None:
        fn = function(stack)
        api = http_api(stack)
        api.add_route("GET /items", fn)
        api.add_route("GET /items/{id}", fn, throttle=Throttle(5, 10))
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


def test_http_default_stage_auto_deploys_with_finite_throttle(http_template: Template) -> None:
    stage = only(http_template, "AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 100
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 200


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
    assert group["Properties"]["RetentionInDays"] == 365
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
    assert thresholds == [1.0,
                          10.0]
    for rate in rates:
        expression = rate["Metrics"][0]["Expression"]
        assert f">= {20}" in expression
        assert rate["ComparisonOperator"] == "GreaterThanThreshold"
    latency = {a["MetricName"]: a for a in api if "MetricName" in a}
    assert latency["Latency"]["Threshold"] == 3000
    assert latency["IntegrationLatency"]["Threshold"] == 2500
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
    route = api.add_route("POST /items", FunctionOptions(handler="index.main", code=INLINE, memory_size=512))
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
                    "AllowHeaders": ["Authorization", "Content-Type", "If-Match"], "ExposeHeaders": ["ETag"],
                    "AllowCredentials": True, "MaxAge": 3600}


def test_cors_any_origin_warns() -> None:
    stack = new_stack()
    http_api(stack, cors=Cors(allow_origins=["*"])).add_route("GET /x", function(stack))
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp(".*allow_origins=\\['\\*'\\].*"))
    assert len(warnings) == 1


def test_lambda_authorizer_function_environment_and_cache() -> None:
    def build(stack: cdk.Stack) -> None:
        api = http_api(stack, authorizer=lambda_auth(leeway_seconds=10, tenant_claim="org",
                                                     key_cache_ttl=cdk.Duration.minutes(10)))
        api.add_route("GET /items", FunctionOptions(handler="index.main", code=INLINE))

    template = template_of(build)
    authorizer = only(template, "AWS::ApiGatewayV2::Authorizer")["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["AuthorizerResultTtlInSeconds"] == 300
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    fn = next(f for f in props_of(template, "AWS::Lambda::Function") if f["Handler"] == "lambda_manifest.runtime.authorizer.handler.main")
    env = fn["Environment"]["Variables"]
    assert env["LM_AUTH_JWKS_URL"] == "https://issuer.example.com/.well-known/jwks.json"
    assert env["LM_AUTH_ISSUER"] == ISSUER
    assert env["LM_AUTH_AUDIENCE"] == "items"
    assert env["LM_AUTH_LEEWAY_SECONDS"] == "10"
    assert env["LM_AUTH_TENANT_CLAIM"] == "org"
    assert env["LM_AUTH_CACHE_TTL_SECONDS"] == "600"
    assert fn["Timeout"] == 10
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
             ).add_route("GET /x", FunctionOptions(handler="index.main", code=INLINE))
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
