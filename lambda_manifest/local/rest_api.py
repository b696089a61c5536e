"""``AWS::ApiGateway::RestApi`` (REST APIs) served on localhost with API Gateway's rules.

Resources and methods (``{id}``, ``{proxy+}``, ``ANY``), stages (``/prod/...``), Lambda proxy integrations
(payload 1.0), MOCK integrations (the CORS preflight methods CDK generates), TOKEN and REQUEST Lambda
authorizers (IAM policy evaluated against the method ARN, result cache), Cognito authorizers (local JWTs),
API keys and usage plans (``x-api-key``, per-key throttle and quota), stage throttling, binary media
types, and gateway responses.

Why this module is longer than 500 lines: like ``http_api``, one emulator read in the order API Gateway
handles a request, each step on the same parsed template (streamed responses are in ``rest_stream``).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from lambda_manifest.local.cfn import ACCOUNT_ID, REGION, Resolver, Stack, short_id
from lambda_manifest.local.functions import FunctionHost, Invocation
from lambda_manifest.local.functions_registry import FunctionRegistry
from lambda_manifest.local.gateway import (
    JwtError,
    Request,
    Response,
    TokenBucket,
    TtlCache,
    jwt_decode,
    policy_decision,
    request_id,
    request_time,
)
from lambda_manifest.local.http_api import match_template, split_path
from lambda_manifest.local.rest_stream import streamed_response
from lambda_manifest.local.steps import Blocking, Invoke, Steps, run

DEFAULT_TIMEOUT_SECONDS = 29.0


@dataclass
class Method:
    logical_id: str
    resource_path: str
    http_method: str
    integration_type: str
    function: FunctionHost | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    authorization: str = "NONE"
    authorizer: RestAuthorizer | None = None
    api_key_required: bool = False
    scopes: list[str] = field(default_factory=list)
    integration: dict[str, Any] = field(default_factory=dict)
    stream: bool = False  # ResponseTransferMode STREAM


@dataclass
class RestAuthorizer:
    logical_id: str
    name: str
    kind: str  # TOKEN | REQUEST | COGNITO_USER_POOLS
    function: FunctionHost | None = None
    identity_sources: list[str] = field(default_factory=list)
    ttl: float = 300.0
    validation: str | None = None
    cache: TtlCache = field(default_factory=TtlCache)


@dataclass
class RestStage:
    name: str
    variables: dict[str, str] = field(default_factory=dict)
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    deployment_id: str = ""

    def bucket(self, path: str, method: str) -> TokenBucket | None:
        for key in ((path, method), (path, "*"), ("/*", method), ("/*", "*")):
            if key in self.buckets:
                return self.buckets[key]
        return None


@dataclass
class ApiKey:
    key_id: str
    name: str
    value: str
    enabled: bool = True
    stages: set[str] = field(default_factory=set)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)  # stage -> bucket
    method_buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    quota: dict[str, tuple[int, str]] = field(default_factory=dict)  # stage -> (limit, period)
    used: dict[str, int] = field(default_factory=dict)


def _settings_bucket(rate: Any, burst: Any) -> TokenBucket | None:
    if rate is None and burst is None:
        return None
    return TokenBucket(float(rate if rate is not None else 10000), int(burst if burst is not None else 5000))


class RestApi:
    """One REST API of the assembly."""

    def __init__(self, stack: Stack, logical_id: str, resolver: Resolver, functions: FunctionRegistry) -> None:
        self.stack = stack
        self.logical_id = logical_id
        self.label = stack.label(logical_id)
        self.resolver = resolver
        self.functions = functions
        physical = resolver.physical(stack, logical_id)
        self.api_id = physical.ref
        self.root_id = physical.attributes["RootResourceId"]
        props = resolver.resolve(stack, stack.resources[logical_id].get("Properties", {}))
        self.name = str(props.get("Name", self.label))
        self.binary_types = [str(t).replace("~1", "/") for t in props.get("BinaryMediaTypes", [])]
        self.api_key_source = str(props.get("ApiKeySourceType", "HEADER"))
        self.problems: list[str] = []
        if props.get("Body") or props.get("BodyS3Location"):
            self.problems.append("OpenAPI bodies are not read; only Resource/Method resources are served")
        self.port = 0
        self._lock = threading.Lock()
        self.paths = self._paths()
        self.authorizers = self._authorizers()
        self.methods = self._methods()
        self.stages = self._stages()
        self.keys = self._api_keys()
        self.gateway_responses = {str(p.get("ResponseType")): p for _l, p in self._children("AWS::ApiGateway::GatewayResponse")}

    # -- model ------------------------------------------------------------------------------------------
    def _children(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for logical, resource in self.resolver.resources(self.stack, kind):
            props = self.resolver.resolve(self.stack, resource.get("Properties", {}))
            if str(props.get("RestApiId", "")) == self.api_id:
                out.append((logical, props))
        return out

    def _paths(self) -> dict[str, str]:
        """Resource id -> full path (``/items/{id}``)."""
        parents: dict[str, tuple[str, str]] = {}
        for logical, p in self._children("AWS::ApiGateway::Resource"):
            parents[self.resolver.physical(self.stack, logical).ref] = (str(p.get("ParentId")), str(p.get("PathPart")))
        paths: dict[str, str] = {self.root_id: "/"}

        def path_of(resource_id: str, depth: int = 0) -> str:
            if resource_id in paths:
                return paths[resource_id]
            if resource_id not in parents or depth > 64:
                return "/?"
            parent, part = parents[resource_id]
            base = path_of(parent, depth + 1)
            paths[resource_id] = (base.rstrip("/") + "/" + part) if base != "/" else "/" + part
            return paths[resource_id]

        for resource_id in parents:
            path_of(resource_id)
        return paths

    def _authorizers(self) -> dict[str, RestAuthorizer]:
        found: dict[str, RestAuthorizer] = {}
        for logical, p in self._children("AWS::ApiGateway::Authorizer"):
            ref = self.resolver.physical(self.stack, logical).ref
            kind = str(p.get("Type", "TOKEN"))
            sources = [s.strip() for s in str(p.get("IdentitySource", "")).split(",") if s.strip()]
            authorizer = RestAuthorizer(logical, str(p.get("Name", logical)), kind, identity_sources=sources,
                                        ttl=float(p.get("AuthorizerResultTtlInSeconds", 300)),
                                        validation=p.get("IdentityValidationExpression"))
            if kind in ("TOKEN", "REQUEST"):
                authorizer.function = self.functions.lookup(str(p.get("AuthorizerUri", "")))
                if authorizer.function is None:
                    self.problems.append(f"authorizer {logical}: no local function for {p.get('AuthorizerUri')}")
            if kind in ("TOKEN", "COGNITO_USER_POOLS") and not sources:
                authorizer.identity_sources = ["method.request.header.Authorization"]
            found[ref] = authorizer
        return found

    def _methods(self) -> list[Method]:
        methods: list[Method] = []
        for logical, p in self._children("AWS::ApiGateway::Method"):
            path = self.paths.get(str(p.get("ResourceId")), "/?")
            integration = p.get("Integration") or {}
            kind = str(integration.get("Type", "MOCK"))
            method = Method(logical, path, str(p.get("HttpMethod", "ANY")).upper(), kind,
                            timeout=float(integration.get("TimeoutInMillis", DEFAULT_TIMEOUT_SECONDS * 1000)) / 1000,
                            authorization=str(p.get("AuthorizationType", "NONE")),
                            api_key_required=str(p.get("ApiKeyRequired", False)).lower() == "true",
                            scopes=[str(s) for s in p.get("AuthorizationScopes", [])], integration=integration,
                            stream=str(integration.get("ResponseTransferMode", "BUFFERED")).upper() == "STREAM")
            if p.get("AuthorizerId"):
                method.authorizer = self.authorizers.get(str(p["AuthorizerId"]))
            if kind == "AWS_PROXY":
                method.function = self.functions.lookup(str(integration.get("Uri", "")))
                if method.function is None:
                    self.problems.append(f"{method.http_method} {path}: no local function for {integration.get('Uri')}")
            elif kind != "MOCK":
                self.problems.append(f"{method.http_method} {path}: {kind} integrations are not emulated (answers 500)")
            methods.append(method)
        return methods

    def _stages(self) -> dict[str, RestStage]:
        stages: dict[str, RestStage] = {}

        def add(name: str, variables: Any, settings: Any, deployment: str, stage_throttle: tuple[Any, Any] | None) -> None:
            stage = RestStage(name, {str(k): str(v) for k, v in (variables or {}).items()}, deployment_id=deployment)
            if stage_throttle:
                bucket = _settings_bucket(*stage_throttle)
                if bucket:
                    stage.buckets[("/*", "*")] = bucket
            for setting in settings or []:
                bucket = _settings_bucket(setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit"))
                if bucket:
                    path = str(setting.get("ResourcePath", "/*")).replace("~1", "/")
                    stage.buckets[(path, str(setting.get("HttpMethod", "*")).upper())] = bucket
            stages[name] = stage

        for logical, p in self._children("AWS::ApiGateway::Stage"):
            add(str(p.get("StageName", "prod")), p.get("Variables"), p.get("MethodSettings"),
                str(p.get("DeploymentId", "")), None)
            _ = logical
        for logical, p in self._children("AWS::ApiGateway::Deployment"):
            if p.get("StageName") and str(p["StageName"]) not in stages:
                description = p.get("StageDescription") or {}
                add(str(p["StageName"]), description.get("Variables"), description.get("MethodSettings"),
                    self.resolver.physical(self.stack, logical).ref,
                    (description.get("ThrottlingRateLimit"), description.get("ThrottlingBurstLimit")))
        if not stages:
            self.problems.append("no stage: API Gateway would not serve it; served locally as /local")
            stages["local"] = RestStage("local")
        return stages

    def _api_keys(self) -> dict[str, ApiKey]:
        """API key value -> key, with the usage plans that include this API's stages."""
        by_id: dict[str, ApiKey] = {}
        for logical, resource in self.resolver.resources(self.stack, "AWS::ApiGateway::ApiKey"):
            p = self.resolver.resolve(self.stack, resource.get("Properties", {}))
            key_id = self.resolver.physical(self.stack, logical).ref
            value = str(p.get("Value") or f"local-{short_id(self.stack.name, logical, length=24)}")
            key = ApiKey(key_id, str(p.get("Name", logical)), value, str(p.get("Enabled", True)).lower() == "true")
            for stage_key in p.get("StageKeys", []) or []:
                if str(stage_key.get("RestApiId")) == self.api_id:
                    key.stages.add(str(stage_key.get("StageName")))
            by_id[key_id] = key
        plans: dict[str, dict[str, Any]] = {}
        for logical, resource in self.resolver.resources(self.stack, "AWS::ApiGateway::UsagePlan"):
            plans[self.resolver.physical(self.stack, logical).ref] = self.resolver.resolve(
                self.stack, resource.get("Properties", {}))
        for _logical, resource in self.resolver.resources(self.stack, "AWS::ApiGateway::UsagePlanKey"):
            p = self.resolver.resolve(self.stack, resource.get("Properties", {}))
            planned = by_id.get(str(p.get("KeyId")))
            plan = plans.get(str(p.get("UsagePlanId")))
            if planned is None or plan is None:
                continue
            key = planned
            throttle = plan.get("Throttle") or {}
            quota = plan.get("Quota") or {}
            for api_stage in plan.get("ApiStages", []) or []:
                if str(api_stage.get("ApiId")) != self.api_id:
                    continue
                stage = str(api_stage.get("Stage"))
                key.stages.add(stage)
                bucket = _settings_bucket(throttle.get("RateLimit"), throttle.get("BurstLimit"))
                if bucket:
                    key.buckets[stage] = bucket
                for method_path, settings in (api_stage.get("Throttle") or {}).items():
                    method_bucket = _settings_bucket(settings.get("RateLimit"), settings.get("BurstLimit"))
                    path, _, verb = str(method_path).rpartition("/")
                    if method_bucket:
                        key.method_buckets[(path or "/", verb.upper())] = method_bucket
                if quota.get("Limit") is not None:
                    key.quota[stage] = (int(quota["Limit"]), str(quota.get("Period", "DAY")))
        return {key.value: key for key in by_id.values()}

    # -- request handling -------------------------------------------------------------------------------
    def _match(self, method: str, segments: list[str]) -> tuple[Method, dict[str, str]] | None:
        best: tuple[tuple[tuple[int, ...], int], Method, dict[str, str]] | None = None
        for candidate in self.methods:
            if candidate.http_method not in (method, "ANY"):
                continue
            matched = match_template(split_path(candidate.resource_path), segments)
            if matched is None:
                continue
            rank = (matched[0], 1 if candidate.http_method == method else 0)
            if best is None or rank > best[0]:
                best = (rank, candidate, matched[1])
        return (best[1], best[2]) if best else None

    def handle(self, request: Request) -> Response:
        """Answer ``request`` on this thread (the server drives ``steps`` instead)."""
        return run(self.steps(request))

    def steps(self, request: Request) -> Steps[Response]:
        rid = str(uuid.uuid4())
        response = yield from self._handle(request, rid)
        response.headers.extend([("x-amzn-RequestId", rid), ("x-amz-apigw-id", request_id()),
                                 ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")])
        return response

    def _error(self, response_type: str, status: int, message: str | None, *, key: str = "message",
               extra_headers: list[tuple[str, str]] | None = None) -> Response:
        """API Gateway's error response, shaped by a matching ``AWS::ApiGateway::GatewayResponse``."""
        body = json.dumps({key: message}).encode()
        headers = [("content-type", "application/json"), ("x-amzn-ErrorType", _error_type(response_type)),
                   *(extra_headers or [])]
        fallback = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        custom = self.gateway_responses.get(response_type) or self.gateway_responses.get(fallback)
        if custom:
            status = int(custom.get("StatusCode", status))
            for name, value in (custom.get("ResponseParameters") or {}).items():
                header = str(name).removeprefix("gatewayresponse.header.")
                headers.append((header, str(value).strip("'")))
            template = (custom.get("ResponseTemplates") or {}).get("application/json")
            if isinstance(template, str):
                body = template.replace("$context.error.messageString", json.dumps(message)) \
                    .replace("$context.error.message", message or "").encode()
        return Response(status, headers, body)

    def _handle(self, request: Request, rid: str) -> Steps[Response]:
        segments = split_path(request.raw_path)
        if not segments or segments[0] not in self.stages:
            return self._error("MISSING_AUTHENTICATION_TOKEN", 403, "Forbidden")
        stage = self.stages[segments[0]]
        resource_segments = segments[1:]
        path = "/" + "/".join(resource_segments)
        matched = self._match(request.method, resource_segments)
        if matched is None:
            return self._error("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token")
        method, path_params = matched
        bucket = stage.bucket(method.resource_path, method.http_method)
        if bucket is not None and not bucket.take():
            return self._error("THROTTLED", 429, "Too Many Requests")
        context = self._request_context(request, method, stage, rid)
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{self.api_id}/{stage.name}/{request.method}{path}"
        authorizer_context, denied = yield from self._authorize(request, method, stage, path_params, context,
                                                                method_arn)
        if denied is not None:
            return denied
        if authorizer_context is not None:
            context["authorizer"] = authorizer_context
        if method.api_key_required:
            key_error = self._check_api_key(request, method, stage, context, authorizer_context)
            if key_error is not None:
                return key_error
        if method.integration_type == "MOCK":
            return self._mock(request, method)
        if method.function is None:
            return self._error("INTEGRATION_FAILURE", 500, "Internal server error")
        event = self._event(request, method, stage, path, path_params, context)
        if method.stream:
            function = method.function
            streamed: Response = yield Blocking(lambda: streamed_response(self, function, event, method.timeout))
            return streamed
        result = yield Invoke(method.function, event, method.timeout, str(uuid.uuid4()))
        return self._response(request, result)

    # -- pieces -----------------------------------------------------------------------------------------
    def _request_context(self, request: Request, method: Method, stage: RestStage, rid: str) -> dict[str, Any]:
        host = request.header("host") or f"127.0.0.1:{self.port}"
        return {
            "resourceId": short_id(self.api_id, method.resource_path, length=6),
            "resourcePath": method.resource_path,
            "httpMethod": request.method,
            "extendedRequestId": request_id(),
            "requestTime": request_time(request.received),
            "path": request.path,
            "accountId": ACCOUNT_ID,
            "protocol": request.protocol,
            "stage": stage.name,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(request.received * 1000),
            "requestId": rid,
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
                "sourceIp": request.source_ip, "principalOrgId": None, "accessKey": None,
                "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None, "userArn": None,
                "userAgent": request.header("user-agent") or "", "user": None, "apiKey": None, "apiKeyId": None,
            },
            "domainName": host,
            "deploymentId": stage.deployment_id or short_id(self.api_id, stage.name, length=6),
            "apiId": self.api_id,
        }

    def _common(self, request: Request, method: Method, stage: RestStage, path: str,
                path_params: dict[str, str], context: dict[str, Any]) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers:
            multi_headers.setdefault(key, []).append(value)
        multi_headers.setdefault("X-Forwarded-For", [request.source_ip])
        multi_headers.setdefault("X-Forwarded-Proto", ["http"])
        multi_headers.setdefault("X-Forwarded-Port", [str(self.port)])
        multi_query: dict[str, list[str]] = {}
        for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
            multi_query.setdefault(key, []).append(value)
        return {
            "resource": method.resource_path,
            "path": path,
            "httpMethod": request.method,
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": stage.variables or None,
            "requestContext": context,
        }

    def _is_binary(self, content_type: str | None) -> bool:
        if not content_type or not self.binary_types:
            return False
        base = content_type.split(";")[0].strip().lower()
        return any(fnmatch.fnmatch(base, t.lower()) for t in self.binary_types)

    def _event(self, request: Request, method: Method, stage: RestStage, path: str, path_params: dict[str, str],
               context: dict[str, Any]) -> dict[str, Any]:
        event = self._common(request, method, stage, path, path_params, context)
        if not request.body:
            event["body"], event["isBase64Encoded"] = None, False
        elif self._is_binary(request.header("content-type")):
            event["body"], event["isBase64Encoded"] = base64.b64encode(request.body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = request.body.decode("utf-8", "replace"), False
        return event

    def _identity(self, source: str, request: Request, stage: RestStage,
                  context: dict[str, Any]) -> str | None:
        if source.startswith("method.request.header."):
            return request.header(source[len("method.request.header."):])
        if source.startswith("method.request.querystring."):
            return dict(parse_qsl(request.raw_query)).get(source[len("method.request.querystring."):])
        if source.startswith("stageVariables."):
            return stage.variables.get(source[len("stageVariables."):])
        if source.startswith("context."):
            value: Any = context
            for part in source[len("context."):].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return None if value is None else str(value)
        return None

    def _authorize(self, request: Request, method: Method, stage: RestStage, path_params: dict[str, str],
                   context: dict[str, Any], method_arn: str) -> Steps[tuple[dict[str, Any] | None, Response | None]]:
        if method.authorization == "AWS_IAM":
            if not (request.header("authorization") or "").startswith("AWS4-HMAC-SHA256"):
                return None, self._error("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token")
            return None, None
        authorizer = method.authorizer
        if authorizer is None or method.authorization == "NONE":
            return None, None
        values = [self._identity(s, request, stage, context) for s in authorizer.identity_sources]
        missing = any(v is None or v == "" for v in values)
        if authorizer.kind == "COGNITO_USER_POOLS":
            return self._cognito(method, values[0] if values and not missing else None)
        if missing and (authorizer.kind == "TOKEN" or authorizer.ttl > 0):
            return None, self._error("UNAUTHORIZED", 401, "Unauthorized")
        if authorizer.kind == "TOKEN" and authorizer.validation and not re.fullmatch(authorizer.validation, str(values[0])):
            return None, self._error("UNAUTHORIZED", 401, "Unauthorized")
        if authorizer.function is None:
            return None, self._error("AUTHORIZER_CONFIGURATION_ERROR", 500, None)
        cache_key = tuple(str(v) for v in values) if authorizer.ttl > 0 else None
        started = time.monotonic()
        payload = authorizer.cache.get(cache_key) if cache_key else None
        if payload is None:
            if authorizer.kind == "TOKEN":
                event: dict[str, Any] = {"type": "TOKEN", "authorizationToken": values[0], "methodArn": method_arn}
            else:
                event = {"type": "REQUEST", "methodArn": method_arn,
                         **self._common(request, method, stage, "/" + "/".join(split_path(request.raw_path)[1:]),
                                        path_params, context)}
            result = yield Invoke(authorizer.function, event, 10.0)
            if result.error and str(result.error.get("errorMessage")) == "Unauthorized":
                return None, self._error("UNAUTHORIZED", 401, "Unauthorized")
            if not result.ok or not isinstance(result.payload, dict):
                return None, self._error("AUTHORIZER_FAILURE", 500, None)
            payload = result.payload
            if cache_key:
                authorizer.cache.put(cache_key, payload, authorizer.ttl)
        if not isinstance(payload.get("policyDocument"), dict) or "principalId" not in payload:
            return None, self._error("AUTHORIZER_CONFIGURATION_ERROR", 500, None)
        if not policy_decision(payload["policyDocument"], method_arn):
            explicit = _explicit_deny(payload["policyDocument"], method_arn)
            message = "User is not authorized to access this resource" + (" with an explicit deny" if explicit else "")
            return None, self._error("ACCESS_DENIED", 403, message, key="Message")
        auth: dict[str, Any] = dict(payload.get("context") or {})
        auth["principalId"] = payload["principalId"]
        auth["integrationLatency"] = int((time.monotonic() - started) * 1000)
        if payload.get("usageIdentifierKey"):
            auth["_usageIdentifierKey"] = str(payload["usageIdentifierKey"])
        return auth, None

    def _cognito(self, method: Method, token: str | None) -> tuple[dict[str, Any] | None, Response | None]:
        from lambda_manifest.local.tokens import local_jwt_key

        if not token:
            return None, self._error("UNAUTHORIZED", 401, "Unauthorized")
        try:
            claims = jwt_decode(token.removeprefix("Bearer ").strip(), local_jwt_key())
        except JwtError:
            return None, self._error("UNAUTHORIZED", 401, "Unauthorized")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < time.time():
            return None, self._error("UNAUTHORIZED", 401, "The incoming token has expired")
        scopes = str(claims.get("scope", "")).split()
        if method.scopes and not any(s in scopes for s in method.scopes):
            return None, self._error("UNAUTHORIZED", 401, "Unauthorized")
        return {"claims": {k: str(v) for k, v in claims.items()}}, None

    def _check_api_key(self, request: Request, method: Method, stage: RestStage, context: dict[str, Any],
                       authorizer_context: dict[str, Any] | None) -> Response | None:
        if self.api_key_source == "AUTHORIZER":
            value = (authorizer_context or {}).pop("_usageIdentifierKey", None)
        else:
            value = request.header("x-api-key")
        key = self.keys.get(str(value)) if value else None
        if key is None or not key.enabled or stage.name not in key.stages:
            return self._error("INVALID_API_KEY", 403, "Forbidden")
        context["identity"]["apiKey"] = key.value
        context["identity"]["apiKeyId"] = key.key_id
        bucket = key.method_buckets.get((method.resource_path, request.method)) or key.buckets.get(stage.name)
        if bucket is not None and not bucket.take():
            return self._error("THROTTLED", 429, "Too Many Requests")
        if stage.name in key.quota:
            limit, _period = key.quota[stage.name]
            with self._lock:
                used = key.used.get(stage.name, 0)
                if used >= limit:
                    return self._error("QUOTA_EXCEEDED", 429, "Limit Exceeded")
                key.used[stage.name] = used + 1
        return None

    def _mock(self, request: Request, method: Method) -> Response:
        responses = method.integration.get("IntegrationResponses") or [{"StatusCode": "200"}]
        chosen = next((r for r in responses if not r.get("SelectionPattern")), responses[0])
        headers: list[tuple[str, str]] = []
        for name, value in (chosen.get("ResponseParameters") or {}).items():
            header = str(name).removeprefix("method.response.header.")
            text = str(value)
            if text.startswith("'") and text.endswith("'"):
                headers.append((header, text[1:-1]))
        body = b""
        template = (chosen.get("ResponseTemplates") or {}).get("application/json")
        if isinstance(template, str):
            origin = request.header("origin") or ""
            allowed = re.search(r'\.matches\("([^"]*)"\)', template)
            if "responseOverride.header.Access-Control-Allow-Origin" in template and allowed:
                if origin and re.fullmatch(allowed.group(1), origin):
                    headers = [(k, v) for k, v in headers if k.lower() != "access-control-allow-origin"]
                    headers.append(("Access-Control-Allow-Origin", origin))
            elif "#" not in template and "$" not in template:
                body = template.encode()
        if body:
            headers.append(("content-type", "application/json"))
        return Response(int(chosen.get("StatusCode", 200)), headers, body)

    def _response(self, request: Request, result: Invocation) -> Response:
        if result.caller_timed_out:
            return self._error("INTEGRATION_TIMEOUT", 504, "Endpoint request timed out")
        if not result.ok:
            return self._error("DEFAULT_5XX", 502, "Internal server error")
        payload = result.payload
        try:
            if not isinstance(payload, dict) or "statusCode" not in payload:
                raise TypeError("no statusCode")
            status = int(payload["statusCode"])
            headers: list[tuple[str, str]] = []
            single = payload.get("headers") or {}
            multi = payload.get("multiValueHeaders") or {}
            if not isinstance(single, dict) or not isinstance(multi, dict):
                raise TypeError("headers must be objects")
            for key, values in multi.items():
                headers.extend((str(key), str(v)) for v in values)
            for key, value in single.items():
                if key not in multi:
                    headers.append((str(key), str(value)))
            body = payload.get("body")
            if body is not None and not isinstance(body, str):
                raise TypeError("body must be a string")
            data = (body or "").encode()
            if payload.get("isBase64Encoded") and body:
                content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
                accept = request.header("accept")
                if self._is_binary(content_type) or (accept and self._is_binary(accept.split(",")[0])):
                    data = base64.b64decode(body, validate=True)
        except (TypeError, ValueError, AttributeError, binascii.Error):
            return self._error("DEFAULT_5XX", 502, "Internal server error")
        if not 100 <= status <= 599:
            return self._error("DEFAULT_5XX", 502, "Internal server error")
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("content-type", "application/json"))
        return Response(status, headers, data)


def _explicit_deny(policy: dict[str, Any], method_arn: str) -> bool:
    statements = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    for statement in statements:
        if isinstance(statement, dict) and str(statement.get("Effect", "")).lower() == "deny":
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            if any(fnmatch.fnmatchcase(method_arn, str(r)) for r in resources):
                return True
    return False


def _error_type(response_type: str) -> str:
    return {
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "UNAUTHORIZED": "UnauthorizedException",
        "ACCESS_DENIED": "AccessDeniedException",
        "INVALID_API_KEY": "ForbiddenException",
        "THROTTLED": "TooManyRequestsException",
        "QUOTA_EXCEEDED": "LimitExceededException",
        "AUTHORIZER_FAILURE": "AuthorizerFailureException",
        "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
        "INTEGRATION_TIMEOUT": "InternalServerErrorException",
    }.get(response_type, "InternalServerErrorException")
