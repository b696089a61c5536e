"""``AWS::ApiGatewayV2::Api`` (HTTP APIs) served on localhost with API Gateway's rules.

Routes (``GET /items/{id}``, ``ANY /{proxy+}``, ``$default``), stages, CORS, throttling, Lambda REQUEST
authorizers (simple and IAM-policy responses, result cache), JWT authorizers (verified against a local key),
Lambda proxy integrations with payload format 2.0 or 1.0, and ``SQS-SendMessage`` integrations.

Why this module is longer than 500 lines: it is one emulator of one AWS service, read in the order API
Gateway handles a request (match the route, throttle, authorize, build the event, map the response), and each
step reads the same parsed template; split, every step would take the whole ``HttpApi`` as an argument.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from lambda_manifest.local.cfn import ACCOUNT_ID, REGION, Resolver, Stack
from lambda_manifest.local.functions import FunctionHost, Invocation
from lambda_manifest.local.functions_registry import FunctionRegistry
from lambda_manifest.local.gateway import (
    JwtError,
    Request,
    Response,
    TokenBucket,
    TtlCache,
    is_text,
    jwt_decode,
    policy_decision,
    request_id,
    request_time,
)
from lambda_manifest.local.ids import trace_id, uuid4_text
from lambda_manifest.local.steps import Blocking, Invoke, Steps, run

DEFAULT_TIMEOUT_SECONDS = 30.0
MATCH_CACHE_SIZE = 4096  # remembered (method, path) -> route matches


@dataclass
class Integration:
    logical_id: str
    kind: str  # "lambda" | "sqs" | "unsupported"
    function: FunctionHost | None = None
    payload_version: str = "2.0"
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    parameters: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # status code (or range) -> [{"Destination": "overwrite:statuscode", "Source": "202"}, ...]
    response_parameters: dict[str, list[dict[str, str]]] = field(default_factory=dict)


def _response_parameters(raw: Any) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for status, spec in (raw or {}).items():
        mappings = spec.get("ResponseParameters", []) if isinstance(spec, dict) else []
        if isinstance(mappings, dict):  # the API's own shape: {"overwrite:statuscode": "202"}
            mappings = [{"Destination": k, "Source": v} for k, v in mappings.items()]
        out[str(status)] = [{"Destination": str(m.get("Destination", "")), "Source": str(m.get("Source", ""))}
                            for m in mappings if isinstance(m, dict)]
    return out


@dataclass
class Authorizer:
    logical_id: str
    name: str
    kind: str  # "REQUEST" | "JWT"
    function: FunctionHost | None = None
    payload_version: str = "2.0"
    simple: bool = False
    identity_sources: list[str] = field(default_factory=list)
    ttl: float = 0.0
    issuer: str = ""
    audiences: list[str] = field(default_factory=list)
    cache: TtlCache = field(default_factory=TtlCache)


@dataclass
class Route:
    logical_id: str
    key: str
    method: str
    segments: list[str] | None
    integration: Integration | None
    authorization: str = "NONE"
    authorizer: Authorizer | None = None
    scopes: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.key.split(" ", 1)[1] if " " in self.key else self.key


@dataclass
class Stage:
    name: str
    variables: dict[str, str] = field(default_factory=dict)
    default_bucket: TokenBucket | None = None
    route_buckets: dict[str, TokenBucket] = field(default_factory=dict)


def _bucket(settings: Any) -> TokenBucket | None:
    if not isinstance(settings, dict):
        return None
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    if rate is None and burst is None:
        return None
    return TokenBucket(float(rate if rate is not None else 10000), int(burst if burst is not None else 5000))


def split_path(path: str) -> list[str]:
    return [segment for segment in path.strip("/").split("/")] if path.strip("/") else []


def match_template(template: list[str], segments: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match request path segments against ``/items/{id}`` or ``/files/{proxy+}``; returns a specificity
    score (literal > parameter > greedy, segment by segment) and the decoded path parameters."""
    params: dict[str, str] = {}
    score: list[int] = []
    for index, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest:
                return None
            params[part[1:-2]] = unquote("/".join(rest))
            score.append(1)
            return tuple(score), params
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if segments[index] == "":
                return None
            params[part[1:-1]] = unquote(segments[index])
            score.append(2)
        elif part == segments[index]:
            score.append(3)
        else:
            return None
    if len(template) != len(segments):
        return None
    return tuple(score), params


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    return any(a == "*" or a.lower() == origin.lower() or ("*" in a and fnmatch.fnmatch(origin.lower(), a.lower()))
               for a in allowed)


class HttpApi:
    """One HTTP API of the assembly."""

    _MISSING: Any = object()

    def __init__(self, stack: Stack, logical_id: str, resolver: Resolver, functions: FunctionRegistry,
                 sqs: Any = None) -> None:
        self.stack = stack
        self.logical_id = logical_id
        self.label = stack.label(logical_id)
        self.resolver = resolver
        self.functions = functions
        self.sqs = sqs
        self.api_id = resolver.physical(stack, logical_id).ref
        props = resolver.resolve(stack, stack.resources[logical_id].get("Properties", {}))
        self.name = str(props.get("Name", self.label))
        self.cors: dict[str, Any] | None = props.get("CorsConfiguration")
        self.problems: list[str] = []
        self.port = 0
        self.integrations = self._integrations()
        self.authorizers = self._authorizers()
        self.routes = self._routes(props)
        self.stages = self._stages()
        self._matches: dict[tuple[str, str], tuple[Route, dict[str, str]] | None] = {}

    # -- model ------------------------------------------------------------------------------------------
    def _belongs(self, props: dict[str, Any]) -> bool:
        return str(props.get("ApiId", "")) == self.api_id

    def _children(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for logical, resource in self.resolver.resources(self.stack, kind):
            props = self.resolver.resolve(self.stack, resource.get("Properties", {}))
            if self._belongs(props):
                out.append((logical, props))
        return out

    def _integrations(self) -> dict[str, Integration]:
        found: dict[str, Integration] = {}
        for logical, p in self._children("AWS::ApiGatewayV2::Integration"):
            ref = self.resolver.physical(self.stack, logical).ref
            mapped = _response_parameters(p.get("ResponseParameters"))
            timeout = float(p.get("TimeoutInMillis", DEFAULT_TIMEOUT_SECONDS * 1000)) / 1000
            kind = str(p.get("IntegrationType", ""))
            subtype = str(p.get("IntegrationSubtype", ""))
            if kind == "AWS_PROXY" and subtype == "SQS-SendMessage":
                found[ref] = Integration(logical, "sqs", timeout=timeout,
                                         parameters={k: str(v) for k, v in (p.get("RequestParameters") or {}).items()},
                                         description="SQS SendMessage", response_parameters=mapped)
            elif kind == "AWS_PROXY" and not subtype:
                uri = str(p.get("IntegrationUri", ""))
                host = self.functions.lookup(uri)
                if host is None:
                    self.problems.append(f"integration {logical}: no local function for {uri}")
                found[ref] = Integration(logical, "lambda" if host else "unsupported", host,
                                         str(p.get("PayloadFormatVersion", "2.0")), timeout,
                                         description=f"Lambda {host.spec.label}" if host else uri,
                                         response_parameters=mapped)
            else:
                found[ref] = Integration(logical, "unsupported", timeout=timeout,
                                         description=f"{kind} {subtype}".strip())
                self.problems.append(f"integration {logical}: {kind} {subtype} is not emulated (answers 500)")
        return found

    def _authorizers(self) -> dict[str, Authorizer]:
        found: dict[str, Authorizer] = {}
        for logical, p in self._children("AWS::ApiGatewayV2::Authorizer"):
            ref = self.resolver.physical(self.stack, logical).ref
            kind = str(p.get("AuthorizerType", "REQUEST"))
            sources = p.get("IdentitySource") or []
            sources = [sources] if isinstance(sources, str) else [str(s) for s in sources]
            authorizer = Authorizer(logical, str(p.get("Name", logical)), kind, identity_sources=sources,
                                    ttl=float(p.get("AuthorizerResultTtlInSeconds", 0) or 0))
            if kind == "REQUEST":
                authorizer.function = self.functions.lookup(str(p.get("AuthorizerUri", "")))
                authorizer.payload_version = str(p.get("AuthorizerPayloadFormatVersion", "2.0"))
                authorizer.simple = str(p.get("EnableSimpleResponses", False)).lower() == "true"
                if authorizer.function is None:
                    self.problems.append(f"authorizer {logical}: no local function for {p.get('AuthorizerUri')}")
            elif kind == "JWT":
                jwt = p.get("JwtConfiguration") or {}
                authorizer.issuer = str(jwt.get("Issuer", ""))
                authorizer.audiences = [str(a) for a in jwt.get("Audience", [])]
                if not authorizer.identity_sources:
                    authorizer.identity_sources = ["$request.header.Authorization"]
            found[ref] = authorizer
        return found

    def _routes(self, api_props: dict[str, Any]) -> list[Route]:
        routes: list[Route] = []
        for logical, p in self._children("AWS::ApiGatewayV2::Route"):
            key = str(p.get("RouteKey", ""))
            target = str(p.get("Target", ""))
            integration = self.integrations.get(target.split("/", 1)[1]) if target.startswith("integrations/") else None
            authorizer = self.authorizers.get(str(p.get("AuthorizerId", ""))) if p.get("AuthorizerId") else None
            method, segments = ("*", None) if key == "$default" else (key.split(" ", 1)[0].upper(),
                                                                       split_path(key.split(" ", 1)[1]))
            routes.append(Route(logical, key, method, segments, integration,
                                str(p.get("AuthorizationType", "NONE")), authorizer,
                                [str(s) for s in p.get("AuthorizationScopes", [])]))
        if api_props.get("Target"):  # quick create: Target on the Api itself makes a $default route
            host = self.functions.lookup(str(api_props["Target"]))
            integration = Integration("QuickCreate", "lambda" if host else "unsupported", host, "2.0",
                                      description=f"Lambda {host.spec.label}" if host else "")
            routes.append(Route("QuickCreate", str(api_props.get("RouteKey", "$default")), "*", None, integration))
        return routes

    def _stages(self) -> dict[str, Stage]:
        stages: dict[str, Stage] = {}
        for _logical, p in self._children("AWS::ApiGatewayV2::Stage"):
            stage = Stage(str(p.get("StageName", "$default")),
                          {str(k): str(v) for k, v in (p.get("StageVariables") or {}).items()},
                          _bucket(p.get("DefaultRouteSettings")))
            for route_key, settings in (p.get("RouteSettings") or {}).items():
                bucket = _bucket(settings)
                if bucket:
                    stage.route_buckets[str(route_key)] = bucket
            stages[stage.name] = stage
        if not stages:
            self.problems.append("no stage: API Gateway would not serve it; served locally as $default")
            stages["$default"] = Stage("$default")
        return stages

    def stage_prefix(self, stage: Stage) -> str:
        return "" if stage.name == "$default" else f"/{stage.name}"

    # -- request handling -------------------------------------------------------------------------------
    def _select_stage(self, raw_path: str) -> tuple[Stage, str] | None:
        for name, stage in self.stages.items():
            if name == "$default":
                continue
            prefix = f"/{name}"
            if raw_path == prefix or raw_path.startswith(prefix + "/"):
                return stage, raw_path[len(prefix):] or "/"
        if "$default" in self.stages:
            return self.stages["$default"], raw_path
        return None

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for ``method`` and ``path``; remembered, since routes do not change while serving and
        clients repeat the same few paths (bounded: a client sending ever new paths only refills it)."""
        key = (method, path)
        known = self._matches.get(key, self._MISSING)
        if known is self._MISSING:
            known = self._match_routes(method, path)
            if len(self._matches) >= MATCH_CACHE_SIZE:
                self._matches.clear()
            self._matches[key] = known
        return None if known is None else (known[0], dict(known[1]))  # a copy: the event owns its parameters

    def _match_routes(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        segments = split_path(path)
        best: tuple[tuple[tuple[int, ...], int], Route, dict[str, str]] | None = None
        default: Route | None = None
        for route in self.routes:
            if route.segments is None:
                default = route
                continue
            if route.method not in (method, "ANY"):
                continue
            matched = match_template(route.segments, segments)
            if matched is None:
                continue
            rank = (matched[0], 1 if route.method == method else 0)
            if best is None or rank > best[0]:
                best = (rank, route, matched[1])
        if best is not None:
            return best[1], best[2]
        if default is not None:
            return default, {}
        return None

    def handle(self, request: Request) -> Response:
        """Answer ``request`` on this thread (the server drives ``steps`` instead)."""
        return run(self.steps(request))

    def steps(self, request: Request) -> Steps[Response]:
        rid = request_id()
        response = yield from self._handle(request, rid)
        response.headers.append(("apigw-requestid", rid))
        return response

    def _handle(self, request: Request, rid: str) -> Steps[Response]:
        selected = self._select_stage(request.raw_path)
        if selected is None:
            return Response.message(404, "Not Found")
        stage, path = selected
        if self.cors and request.method == "OPTIONS" and request.header("origin") and \
                request.header("access-control-request-method"):
            return self._preflight(request)
        matched = self._match(request.method, path)
        if matched is None:
            return self._cors(request, Response.message(404, "Not Found"))
        route, path_params = matched
        bucket = stage.route_buckets.get(route.key) or stage.default_bucket
        if bucket is not None and not bucket.take():
            return self._cors(request, Response.message(429, "Too Many Requests"))
        context = self._context(request, route, stage, path, rid)
        authorizer_context, denied = yield from self._authorize(request, route, stage, path, path_params, context)
        if denied is not None:
            return self._cors(request, denied)
        if authorizer_context is not None:
            context["authorizer"] = authorizer_context
        integration = route.integration
        if integration is None or integration.kind == "unsupported":
            return self._cors(request, Response.message(500, "Internal Server Error"))
        if integration.kind == "sqs":
            response = yield Blocking(lambda: self._sqs(request, integration, route, stage, path_params, context))
            return self._cors(request, self._map_response(integration, response, context))
        assert integration.function is not None
        if integration.payload_version == "1.0":
            event = self._event_v1(request, route, stage, path, path_params, context)
        else:
            event = self._event_v2(request, route, stage, path_params, context)
        result = yield Invoke(integration.function, event, integration.timeout, uuid4_text())
        response = self._response(result, integration.payload_version)
        if result.ok:
            response = self._map_response(integration, response, context)
        return self._cors(request, response)

    @staticmethod
    def _map_response(integration: Integration, response: Response, context: dict[str, Any]) -> Response:
        """Response parameter mapping: ``overwrite:statuscode``, ``append:header.x``, ``overwrite:header.x``,
        ``remove:header.x``; sources are literals, ``$response.header.x``, ``$response.body`` or ``$context.x``."""
        mappings = integration.response_parameters.get(str(response.status))
        if mappings is None:
            for key, ranged in integration.response_parameters.items():
                if "-" in key and key.split("-")[0].isdigit() and \
                        int(key.split("-")[0]) <= response.status <= int(key.split("-")[1]):
                    mappings = ranged
                    break
        for mapping in mappings or []:
            source = mapping["Source"]
            if source.startswith("$response.header."):
                value = response.header(source[len("$response.header."):]) or ""
            elif source == "$response.body":
                value = response.body.decode("utf-8", "replace")
            elif source.startswith("$context."):
                value = str(context.get(source[len("$context."):], ""))
            else:
                value = source
            action, _, target = mapping["Destination"].partition(":")
            if target == "statuscode" and value.isdigit():
                response.status = int(value)
            elif target.startswith("header."):
                name = target[len("header."):]
                if action in ("overwrite", "remove"):
                    response.headers = [(k, v) for k, v in response.headers if k.lower() != name.lower()]
                if action in ("overwrite", "append"):
                    response.headers.append((name, value))
        return response

    # -- events -----------------------------------------------------------------------------------------
    def _context(self, request: Request, route: Route, stage: Stage, path: str, rid: str) -> dict[str, Any]:
        host = request.header("host") or f"127.0.0.1:{self.port}"
        return {
            "accountId": ACCOUNT_ID,
            "apiId": self.api_id,
            "domainName": host,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": request.header("user-agent") or "",
            },
            "requestId": rid,
            "routeKey": route.key,
            "stage": stage.name,
            "time": request_time(request.received),
            "timeEpoch": int(request.received * 1000),
        }

    def _headers(self, request: Request) -> dict[str, str]:
        headers: dict[str, str] = {}
        for key, value in request.headers:
            key = key.lower()
            if key == "cookie":
                continue
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        headers.setdefault("x-forwarded-for", request.source_ip)
        headers.setdefault("x-forwarded-proto", "http")
        headers.setdefault("x-forwarded-port", str(self.port))
        headers.setdefault("x-amzn-trace-id", f"Root={trace_id(request.received)}")
        return headers

    @staticmethod
    def _cookies(request: Request) -> list[str]:
        cookies: list[str] = []
        for header in request.header_values("cookie"):
            cookies.extend(part.strip() for part in header.split(";") if part.strip())
        return cookies

    @staticmethod
    def _query(request: Request) -> dict[str, str]:
        query: dict[str, str] = {}
        for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        return query

    @staticmethod
    def _body(request: Request) -> tuple[str | None, bool]:
        if not request.body:
            return None, False
        if is_text(request.header("content-type")):
            try:
                return request.body.decode("utf-8"), False
            except UnicodeDecodeError:
                pass
        return base64.b64encode(request.body).decode(), True

    def _event_v2(self, request: Request, route: Route, stage: Stage, path_params: dict[str, str],
                  context: dict[str, Any]) -> dict[str, Any]:
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": request.raw_path,
            "rawQueryString": request.raw_query,
        }
        cookies = self._cookies(request)
        if cookies:
            event["cookies"] = cookies
        event["headers"] = self._headers(request)
        query = self._query(request)
        if query:
            event["queryStringParameters"] = query
        event["requestContext"] = context
        if path_params:
            event["pathParameters"] = path_params
        if stage.variables:
            event["stageVariables"] = stage.variables
        body, encoded = self._body(request)
        if body is not None:
            event["body"] = body
        event["isBase64Encoded"] = encoded
        return event

    def _event_v1(self, request: Request, route: Route, stage: Stage, path: str, path_params: dict[str, str],
                  context: dict[str, Any]) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers:
            multi_headers.setdefault(key, []).append(value)
        multi_query: dict[str, list[str]] = {}
        for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
            multi_query.setdefault(key, []).append(value)
        body, encoded = self._body(request)
        request_context = {
            "accountId": ACCOUNT_ID, "apiId": self.api_id, "domainName": context["domainName"],
            "domainPrefix": context["domainPrefix"], "extendedRequestId": context["requestId"],
            "httpMethod": request.method,
            "identity": {"accessKey": None, "accountId": None, "caller": None, "cognitoAmr": None,
                         "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
                         "cognitoIdentityId": None, "cognitoIdentityPoolId": None, "principalOrgId": None,
                         "sourceIp": request.source_ip, "user": None,
                         "userAgent": request.header("user-agent") or "", "userArn": None},
            "path": request.path, "protocol": request.protocol, "requestId": context["requestId"],
            "requestTime": context["time"], "requestTimeEpoch": context["timeEpoch"], "resourceId": route.key,
            "resourcePath": route.path, "stage": stage.name,
        }
        if "authorizer" in context:
            request_context["authorizer"] = context["authorizer"]
        return {
            "version": "1.0",
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "requestContext": request_context,
            "pathParameters": path_params or None,
            "stageVariables": stage.variables or None,
            "body": body,
            "isBase64Encoded": encoded,
        }

    # -- authorization ----------------------------------------------------------------------------------
    def _identity(self, source: str, request: Request, stage: Stage, context: dict[str, Any]) -> str | None:
        if source.startswith("$request.header."):
            return request.header(source[len("$request.header."):])
        if source.startswith("$request.querystring."):
            return self._query(request).get(source[len("$request.querystring."):])
        if source.startswith("$stageVariables."):
            return stage.variables.get(source[len("$stageVariables."):])
        if source.startswith("$context."):
            value: Any = context
            for part in source[len("$context."):].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return None if value is None else str(value)
        return None

    def route_arn(self, request: Request, stage: Stage, path: str) -> str:
        return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{self.api_id}/{stage.name}/{request.method}{path}"

    def _authorize(self, request: Request, route: Route, stage: Stage, path: str, path_params: dict[str, str],
                   context: dict[str, Any]) -> Steps[tuple[dict[str, Any] | None, Response | None]]:
        if route.authorization == "AWS_IAM":
            if not (request.header("authorization") or "").startswith("AWS4-HMAC-SHA256"):
                return None, Response.message(403, "Forbidden")
            return {"iam": {"accessKey": "testing", "accountId": ACCOUNT_ID, "callerId": "local",
                            "principalOrgId": None, "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/local",
                            "userId": "local"}}, None
        authorizer = route.authorizer
        if authorizer is None or route.authorization in ("NONE", ""):
            return None, None
        values = [self._identity(s, request, stage, context) for s in authorizer.identity_sources]
        if any(v is None or v == "" for v in values):
            return None, Response.message(401, "Unauthorized")
        if authorizer.kind == "JWT":
            return self._jwt(authorizer, route, str(values[0]))
        return (yield from self._lambda_authorizer(authorizer, request, route, stage, path, path_params, context,
                                                   [str(v) for v in values]))

    def _jwt(self, authorizer: Authorizer, route: Route, token: str) -> tuple[dict[str, Any] | None, Response | None]:
        from lambda_manifest.local.tokens import local_jwt_key

        if token.lower().startswith("bearer "):
            token = token[7:].strip()

        def unauthorized(reason: str) -> tuple[None, Response]:
            header = f'Bearer scope="" error="invalid_token" error_description="{reason}"'
            return None, Response.message(401, "Unauthorized", [("www-authenticate", header)])

        try:
            claims = jwt_decode(token, local_jwt_key())
        except JwtError as exc:
            return unauthorized(str(exc))
        now = time.time()
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < now:
            return unauthorized("the token has expired")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now:
            return unauthorized("the token is not valid yet")
        if authorizer.issuer and claims.get("iss") != authorizer.issuer:
            return unauthorized("the token has an invalid issuer")
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if authorizer.audiences and not any(a in authorizer.audiences for a in audiences):
            return unauthorized("the token does not have a valid audience")
        scopes = claims.get("scope", claims.get("scp", ""))
        token_scopes = scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes]
        if route.scopes and not any(s in token_scopes for s in route.scopes):
            return None, Response.message(403, "Forbidden")
        flat = {k: (v if isinstance(v, str) else
                    "[" + " ".join(str(i) for i in v) + "]" if isinstance(v, list) else json.dumps(v))
                for k, v in claims.items()}
        return {"jwt": {"claims": flat, "scopes": token_scopes or None}}, None

    def _lambda_authorizer(self, authorizer: Authorizer, request: Request, route: Route, stage: Stage, path: str,
                           path_params: dict[str, str], context: dict[str, Any],
                           values: list[str]) -> Steps[tuple[dict[str, Any] | None, Response | None]]:
        if authorizer.function is None:
            return None, Response.message(500, "Internal Server Error")
        route_arn = self.route_arn(request, stage, path)
        cache_key = tuple(values) if authorizer.identity_sources and authorizer.ttl > 0 else None
        cached = authorizer.cache.get(cache_key) if cache_key else None
        if cached is None:
            if authorizer.payload_version == "1.0":
                event = self._event_v1(request, route, stage, path, path_params, context)
                event.update({"type": "REQUEST", "methodArn": route_arn, "identitySource": ",".join(values),
                              "authorizationToken": values[0] if values else None})
            else:
                event = {k: v for k, v in self._event_v2(request, route, stage, path_params, context).items()
                         if k not in ("body", "isBase64Encoded")}
                event.update({"type": "REQUEST", "routeArn": route_arn, "identitySource": values})
            result = yield Invoke(authorizer.function, event, 10.0)
            if not result.ok or not isinstance(result.payload, dict):
                return None, Response.message(500, "Internal Server Error")
            cached = result.payload
            if cache_key:
                authorizer.cache.put(cache_key, cached, authorizer.ttl)
        payload: dict[str, Any] = cached
        auth_context = payload.get("context") if isinstance(payload.get("context"), dict) else {}
        if authorizer.simple and authorizer.payload_version == "2.0":
            if not isinstance(payload.get("isAuthorized"), bool):
                return None, Response.message(500, "Internal Server Error")
            if not payload["isAuthorized"]:
                return None, Response.message(403, "Forbidden")
            return {"lambda": auth_context}, None
        if not isinstance(payload.get("policyDocument"), dict) or "principalId" not in payload:
            return None, Response.message(500, "Internal Server Error")
        if not policy_decision(payload["policyDocument"], route_arn):
            return None, Response.message(403, "Forbidden")
        return {"lambda": auth_context, "principalId": str(payload["principalId"])}, None

    # -- responses --------------------------------------------------------------------------------------
    def _response(self, result: Invocation, payload_version: str) -> Response:
        if result.caller_timed_out:
            return Response.message(503, "Service Unavailable")
        if not result.ok:
            return Response.message(500, "Internal Server Error")
        payload = result.payload
        if payload_version != "1.0" and not (isinstance(payload, dict) and "statusCode" in payload):
            return Response(200, [("content-type", "application/json")], json.dumps(payload).encode())
        if not isinstance(payload, dict) or "statusCode" not in payload:
            return Response.message(500, "Internal Server Error")
        try:
            status = int(payload["statusCode"])
            headers: list[tuple[str, str]] = []
            for key, value in (payload.get("headers") or {}).items():
                headers.append((str(key), value if isinstance(value, str) else json.dumps(value)))
            if payload_version == "1.0":
                for key, values in (payload.get("multiValueHeaders") or {}).items():
                    headers.extend((str(key), str(v)) for v in values)
            for cookie in payload.get("cookies") or []:
                headers.append(("set-cookie", str(cookie)))
            body = payload.get("body")
            if body is not None and not isinstance(body, str):
                raise TypeError("body must be a string")
            data = (body or "").encode()
            if payload.get("isBase64Encoded"):
                data = base64.b64decode(body or "", validate=True)
        except (TypeError, ValueError, AttributeError, binascii.Error):
            return Response.message(500, "Internal Server Error")
        if not 100 <= status <= 599:
            return Response.message(500, "Internal Server Error")
        if not any(k.lower() == "content-type" for k, _ in headers) and data:
            headers.append(("content-type", "text/plain; charset=utf-8"))
        return Response(status, headers, data)

    def _preflight(self, request: Request) -> Response:
        cors = self.cors or {}
        origin = request.header("origin") or ""
        headers: list[tuple[str, str]] = []
        if origin_allowed(origin, [str(o) for o in cors.get("AllowOrigins", [])]):
            allow_origins = [str(o) for o in cors.get("AllowOrigins", [])]
            headers.append(("access-control-allow-origin", "*" if "*" in allow_origins else origin))
            methods = [str(m) for m in cors.get("AllowMethods", [])]
            if methods:
                headers.append(("access-control-allow-methods", ",".join(methods)))
            allow_headers = [str(h) for h in cors.get("AllowHeaders", [])]
            if "*" in allow_headers and request.header("access-control-request-headers"):
                headers.append(("access-control-allow-headers", str(request.header("access-control-request-headers"))))
            elif allow_headers:
                headers.append(("access-control-allow-headers", ",".join(allow_headers)))
            if cors.get("MaxAge") is not None:
                headers.append(("access-control-max-age", str(cors["MaxAge"])))
            if str(cors.get("AllowCredentials", False)).lower() == "true":
                headers.append(("access-control-allow-credentials", "true"))
        return Response(204, headers)

    def _cors(self, request: Request, response: Response) -> Response:
        """API Gateway replaces an integration's CORS headers with the configured ones."""
        if not self.cors:
            return response
        response.headers = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
        origin = request.header("origin")
        allowed = [str(o) for o in self.cors.get("AllowOrigins", [])]
        if origin and origin_allowed(origin, allowed):
            response.headers.append(("access-control-allow-origin", "*" if "*" in allowed else origin))
            expose = [str(h) for h in self.cors.get("ExposeHeaders", [])]
            if expose:
                response.headers.append(("access-control-expose-headers", ",".join(expose)))
            if str(self.cors.get("AllowCredentials", False)).lower() == "true":
                response.headers.append(("access-control-allow-credentials", "true"))
        return response

    # -- SQS-SendMessage ----------------------------------------------------------------------------------
    def _parameter(self, expression: str, request: Request, path_params: dict[str, str], stage: Stage,
                   context: dict[str, Any]) -> str | None:
        if not expression.startswith("$"):
            return expression
        if expression == "$request.body":
            return request.body.decode("utf-8", "replace")
        if expression.startswith("$request.body."):
            try:
                value: Any = json.loads(request.body or b"null")
            except json.JSONDecodeError:
                return None
            for part in expression[len("$request.body."):].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return None if value is None else value if isinstance(value, str) else json.dumps(value)
        if expression.startswith("$request.path."):
            return path_params.get(expression[len("$request.path."):])
        return self._identity(expression, request, stage, context)

    def _sqs(self, request: Request, integration: Integration, route: Route, stage: Stage,
             path_params: dict[str, str], context: dict[str, Any]) -> Response:
        if self.sqs is None:
            return Response.message(500, "Internal Server Error")
        args: dict[str, Any] = {}
        for key, expression in integration.parameters.items():
            value = self._parameter(expression, request, path_params, stage, context)
            if value is None:
                continue
            if key == "MessageAttributes":
                args[key] = json.loads(value)
            elif key == "DelaySeconds":
                args[key] = int(value)
            elif key != "Region":
                args[key] = value
        if "QueueUrl" not in args or "MessageBody" not in args:
            return Response.message(500, "Internal Server Error")
        try:
            sent = self.sqs.send_message(**args)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "InternalError")
            message = getattr(exc, "response", {}).get("Error", {}).get("Message", str(exc))
            body = json.dumps({"Error": {"Code": code, "Message": message, "Type": "Sender"},
                               "RequestId": context["requestId"]}).encode()
            return Response(400, [("content-type", "application/json")], body)
        result = {"MD5OfMessageBody": sent.get("MD5OfMessageBody"), "MessageId": sent.get("MessageId")}
        if sent.get("SequenceNumber"):
            result["SequenceNumber"] = sent["SequenceNumber"]
        body = json.dumps({"SendMessageResponse": {"ResponseMetadata": {"RequestId": uuid4_text()},
                                                   "SendMessageResult": result}}).encode()
        return Response(200, [("content-type", "application/json")], body)
