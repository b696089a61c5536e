"""Both API constructs: every validation error, each naming the prop, the value and the fix."""

from __future__ import annotations

import math
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

from lambda_manifest import (
    ApiRoute,
    Authorizer,
    Canary,
    Cors,
    CustomDomain,
    FunctionOptions,
    HttpServerlessApi,
    IServerlessApi,
    ObservedFunction,
    PropsError,
    ResponseCache,
    RestServerlessApi,
    RouteCache,
    ServerlessApiBase,
    Throttle,
    UsagePlan,
    Waf,
)
from tests.constructs.api_support import (
    REASON,
    fails,
    function,
    http_api,
    jwt,
    lambda_auth,
    rest_api,
)
from tests.support import new_stack

# ---------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------
REST_ONLY = [
    ("cache", ResponseCache()),
    ("usage_plans", [UsagePlan(name="P", quota_limit=1)]),
    ("waf", Waf.managed()),
    ("canary", Canary(percent_traffic=5)),
    ("minimum_compression_size", 1024),
    ("endpoint_type", apigateway.EndpointType.EDGE),
    ("tracing", True),
    ("execution_logging_level", apigateway.MethodLoggingLevel.INFO),
    ("cloud_watch_role", True),
    ("client_certificate", True),
]


@pytest.mark.parametrize(("prop", "value"), REST_ONLY, ids=[r[0] for r in REST_ONLY])
def test_rest_only_props_belong_to_the_rest_api(prop: str, value: Any) -> None:
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{prop}'"):
        HttpServerlessApi(new_stack(), "Api", **{prop: value})
    stack = new_stack()
    rest_api(stack, **{prop: value}).add_route("GET /x", function(stack))


def test_rest_only_route_options_belong_to_the_rest_api() -> None:
    stack = new_stack()
    api, fn = http_api(stack), function(stack)
    for option, value in (("cache", True), ("request_model", {"type": "object"}), ("stream", True)):
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{option}'"):
            api.add_route("POST /orders", fn, **{option: value})


def test_fails_vtl_integration_on_http() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack).add_integration_route("GET /mock", apigateway.MockIntegration())  # type: ignore[arg-type]

    assert "AWS service and VTL integrations (aws_apigateway.Integration) need a RestServerlessApi" in fails(build)


def test_fails_http_integration_on_rest() -> None:
    def build(stack: cdk.Stack) -> None:
        rest_api(stack).add_integration_route(
            "GET /x", integrations.HttpUrlIntegration("U", "https://x.example"))  # type: ignore[arg-type]

    assert "integration must be an aws_apigateway.Integration on a REST API" in fails(build)


def test_fails_route_without_authorization_or_reason() -> None:
    def build(stack: cdk.Stack) -> None:
        HttpServerlessApi(stack, "Api").add_route("GET /items", function(stack))

    message = fails(build)
    assert "route must be authorized, got 'GET /items'" in message
    assert "public_reason=" in message


def test_public_route_without_authorizer_is_allowed() -> None:
    stack = new_stack()
    route = HttpServerlessApi(stack, "Api").add_route("GET /health", function(stack), public_reason=REASON)
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
        timeout=cdk.Duration.seconds(30), function_options=FunctionOptions(environment={}), identity_headers=["bad header"])))
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
        HttpServerlessApi(stack, "A", authorizer=shared)
        HttpServerlessApi(stack, "B", authorizer=shared)

    assert "authorizer must be a new Authorizer for each API, got 'already used by TestStack/A'" in fails(build)


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

    assert "handler must be a Lambda function (any IFunction) or FunctionOptions(handler=..., ...)" in fails(build)


def test_fails_dict_handler_with_the_typed_form_to_write() -> None:
    def build(stack: cdk.Stack) -> None:
        http_api(stack).add_route("GET /x", {"handler": "index.main", "timout": 3})  # type: ignore[arg-type]

    message = fails(build)
    assert "handler must be a FunctionOptions(...), got 'a dict'" in message
    assert "write FunctionOptions(handler=..., timout=...); 'timout' is not a prop of ObservedFunction" in message


def test_a_misspelt_function_option_fails_where_it_is_written() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'timout'"):
        FunctionOptions(handler="index.main", timout=cdk.Duration.seconds(3))  # type: ignore[call-arg]


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
    with pytest.raises(RuntimeError, match="RestServerlessApi 'Api' has no routes"):
        cdk.App.of(stack).synth()  # type: ignore[union-attr]


def test_fails_grant_invoke_without_iam_and_bad_version() -> None:
    stack = new_stack()
    api = http_api(stack)
    with pytest.raises(PropsError, match=r"grant_invoke needs authorizer=Authorizer\.iam\(\)"):
        api.grant_invoke(iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()))
    with pytest.raises(PropsError, match="version must be one path segment"):
        api.version("v1/beta")


def test_one_error_lists_every_problem() -> None:
    message = fails(lambda s: http_api(s, throttle=Throttle(0, 0), alarm_min_requests=0,
                                       cors=Cors(allow_origins=["*"], allow_credentials=True)))
    assert message.startswith("HttpServerlessApi 'Api' has invalid props:")
    assert message.count("\n  - ") == 4




def test_code_written_for_either_kind_takes_an_iserverlessapi() -> None:
    def add_health(api: IServerlessApi, fn: ObservedFunction) -> ApiRoute[Any]:
        return api.add_route("GET /health", fn, public_reason=REASON)

    for kind, resource in ((HttpServerlessApi, apigwv2.HttpRoute), (RestServerlessApi, apigateway.Method)):
        stack = new_stack()
        api = kind(stack, "Api")
        route = add_health(api, function(stack))
        assert isinstance(route.resource, resource) and route.key == "GET /health"
        assert api.integration_timeout_seconds == (30 if kind is HttpServerlessApi else 29)
        assert api.api_key_required is False


def test_the_shared_base_is_not_an_api_of_its_own() -> None:
    with pytest.raises(TypeError, match="create an HttpServerlessApi or a RestServerlessApi"):
        ServerlessApiBase(new_stack(), "Api", None)  # type: ignore[arg-type]
