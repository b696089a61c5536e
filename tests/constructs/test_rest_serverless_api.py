"""RestServerlessApi: every default, the REST API's own props, and the nag gate."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from lambda_manifest import (
    Authorizer,
    Canary,
    Cors,
    CustomDomain,
    ResponseCache,
    RouteCache,
    Throttle,
    UsagePlan,
    Waf,
)
from tests.constructs.api_support import (
    REASON,
    function,
    lambda_auth,
    only,
    props_of,
    rest_api,
)
from tests.support import nag_findings, new_stack, template_of


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
# REST API defaults and options
# ---------------------------------------------------------------------------------------------------
def test_rest_regional_compressed_no_account_role_by_default(rest_template: Template) -> None:
    api = only(rest_template, "AWS::ApiGateway::RestApi")["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert api["MinimumCompressionSize"] == 1024
    assert api["ApiKeySourceType"] == "HEADER"
    rest_template.resource_count_is("AWS::ApiGateway::Account", 0)


def test_rest_stage_tracing_logging_throttle_cache(rest_template: Template) -> None:
    stage = only(rest_template, "AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == "prod"
    assert stage["TracingEnabled"] is True
    assert stage["CacheClusterEnabled"] is True
    assert stage["CacheClusterSize"] == "0.5"
    settings = {(s["HttpMethod"], s["ResourcePath"]): s for s in stage["MethodSettings"]}
    default = settings[("*", "/*")]
    assert default["LoggingLevel"] == "ERROR"
    assert default["DataTraceEnabled"] is False
    assert default["ThrottlingRateLimit"] == 100
    assert default["ThrottlingBurstLimit"] == 200
    assert default["CachingEnabled"] is False and default["CacheDataEncrypted"] is True
    catalog = settings[("GET", "/~1catalog")]
    assert catalog["CachingEnabled"] is True and catalog["CacheDataEncrypted"] is True
    assert catalog["CacheTtlInSeconds"] == 300
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
    assert policy["MinimumLength"] == 12
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))
    assert props["MfaConfiguration"] == "OPTIONAL"
    assert props["UserPoolTier"] == "PLUS"
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
    assert authorizer["AuthorizerResultTtlInSeconds"] == 300
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
# Compliance
# ---------------------------------------------------------------------------------------------------
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


