"""Value types for the props of the API constructs (``HttpServerlessApi``, ``RestServerlessApi``).

Plain frozen dataclasses and enum-like classes with static factories: they carry what the caller asked for
and are validated by the construct, so one ``PropsError`` lists every problem.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_sqs as sqs

from lambda_manifest import _defaults as defaults
from lambda_manifest._validation import Problems, is_token, seconds

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
_LITERAL_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
_PARAM_SEGMENT = re.compile(r"^\{[A-Za-z_][A-Za-z0-9_]*\+?\}$")
_ORIGIN = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_LOCAL_ORIGIN = re.compile(r"^http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?$")
_HEADER = re.compile(r"^[A-Za-z0-9-]+$")
PRICE_NOTE = (
    "REST APIs cost $3.50 per million requests against $1.00 for HTTP APIs (us-east-1 list prices, first "
    "tiers) and add latency"
)


class ApiType(enum.Enum):
    """Which kind of API Gateway API an API construct is (its ``api_type``).

    ``HTTP`` (``HttpServerlessApi``): payload format 2.0, cheaper and faster. ``REST`` (``RestServerlessApi``):
    payload format 1.0, with response caching, API keys and usage plans, WAF, request validation, VTL
    integrations, canaries and response streaming.
    """

    HTTP = "HTTP"
    REST = "REST"


@dataclass(frozen=True)
class Throttle:
    """A token bucket: ``rate_limit`` requests per second refill it, ``burst_limit`` is its size."""

    rate_limit: float
    burst_limit: int

    def check(self, problems: Problems, prop: str) -> None:
        rate, burst = self.rate_limit, self.burst_limit
        # Type and finiteness first: NaN cannot cross into jsii, so it must never reach is_token().
        numeric = isinstance(rate, (int, float)) and not isinstance(rate, bool)
        if not numeric or not math.isfinite(rate) or (not is_token(rate) and rate <= 0):
            problems.add(f"{prop}.rate_limit", "a finite number of requests per second > 0", rate,
                         "pass e.g. Throttle(rate_limit=100, burst_limit=200); an unthrottled API lets one "
                         "client use up the account's shared quota")
        if isinstance(burst, bool) or not isinstance(burst, (int, float)) or not math.isfinite(burst) or (
                not is_token(burst) and (not isinstance(burst, int) or burst < 1)):
            problems.add(f"{prop}.burst_limit", "a whole number of requests >= 1", burst,
                         "pass e.g. burst_limit=200; 0 would refuse every request")


@dataclass(frozen=True, kw_only=True)
class Cors:
    """Cross-origin access for browsers. Origins are explicit; ``["*"]`` only when you mean it.

    Parameters
    ----------
    allow_origins:
        ``https://`` origins (``http://localhost`` for development), or ``["*"]`` (a synth warning).
    allow_methods:
        Default: - every method.
    allow_headers:
        Default: ``Authorization``, ``Content-Type``, ``If-Match``.
    expose_headers:
        Response headers scripts may read. Default: - none.
    allow_credentials:
        Send cookies / HTTP auth. Never with ``"*"``. Default: ``False``.
    max_age:
        How long browsers cache a preflight, 0-24 h. Default: 1 hour.
    """

    allow_origins: Sequence[str]
    allow_methods: Sequence[str] | None = None
    allow_headers: Sequence[str] = defaults.CORS_ALLOW_HEADERS.value
    expose_headers: Sequence[str] = ()
    allow_credentials: bool = False
    max_age: cdk.Duration | None = None

    @property
    def any_origin(self) -> bool:
        return "*" in self.allow_origins

    @property
    def max_age_seconds(self) -> int:
        value = seconds(self.max_age)
        return int(value) if value is not None else defaults.CORS_MAX_AGE_SECONDS.value

    def check(self, problems: Problems) -> None:
        origins = list(self.allow_origins)
        if not origins:
            problems.add("cors.allow_origins", "at least one origin", origins,
                         "name the browser origins, e.g. ['https://app.example.com'], or drop cors")
        if "*" in origins and len(origins) > 1:
            problems.add("cors.allow_origins", "either ['*'] or explicit origins", origins,
                         "'*' already allows every origin; list origins instead")
        for origin in origins:
            if origin != "*" and not is_token(origin) and not (_ORIGIN.match(origin) or _LOCAL_ORIGIN.match(origin)):
                problems.add("cors.allow_origins", "https://host[:port] origins (http only for localhost), "
                             "without a path", origin, "write the origin as the browser sends it")
        if self.any_origin and self.allow_credentials:
            problems.add("cors", "explicit origins when allow_credentials=True", "allow_origins=['*']",
                         "browsers refuse credentials with a wildcard origin, and allowing any site to send "
                         "your users' credentials is a CSRF hole; list the origins")
        for method in self.allow_methods or ():
            if method.upper() not in HTTP_METHODS:
                problems.add("cors.allow_methods", f"HTTP methods from {list(HTTP_METHODS)}", method, "fix the name")
        for header in [*self.allow_headers, *self.expose_headers]:
            if header != "*" and not _HEADER.match(header):
                problems.add("cors.allow_headers/expose_headers", "header names", header, "fix the name")
        low, high = defaults.CORS_MAX_AGE_RANGE_SECONDS
        problems.check_range("cors.max_age", seconds(self.max_age), low, high, "seconds",
                             "pass e.g. max_age=Duration.hours(1)")


@dataclass(frozen=True, kw_only=True)
class ResponseCache:
    """A REST stage cache cluster, always encrypted. Routes opt in with ``add_route(..., cache=...)``.

    Parameters
    ----------
    size:
        Cluster size in GB. Default: ``"0.5"``.
    ttl:
        Default time to live of a cached response, 0-3600 s. Default: 5 minutes.
    """

    size: str = defaults.REST_CACHE_SIZE.value
    ttl: cdk.Duration | None = None

    @property
    def ttl_seconds(self) -> int:
        value = seconds(self.ttl)
        return int(value) if value is not None else defaults.REST_CACHE_TTL_SECONDS.value

    def check(self, problems: Problems) -> None:
        if self.size not in defaults.CACHE_CLUSTER_SIZES:
            problems.add("cache.size", f"one of {list(defaults.CACHE_CLUSTER_SIZES)} (GB)", self.size,
                         "pick a cache cluster size API Gateway offers")
        low, high = defaults.CACHE_TTL_RANGE_SECONDS
        problems.check_range("cache.ttl", seconds(self.ttl), low, high, "seconds",
                             "pass e.g. ttl=Duration.minutes(5)")


@dataclass(frozen=True, kw_only=True)
class RouteCache:
    """Cache one REST route's responses. Path parameters are always part of the cache key.

    Parameters
    ----------
    ttl:
        0-3600 s. Default: - the API's ``cache.ttl``.
    query_strings:
        Query string parameters that are part of the cache key (e.g. ``["limit", "cursor"]``).
    headers:
        Request headers that are part of the cache key.
    """

    ttl: cdk.Duration | None = None
    query_strings: Sequence[str] = ()
    headers: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class UsagePlan:
    """A REST usage plan: a quota per period, an optional throttle, and the API keys it covers.

    Parameters
    ----------
    name:
        Plan name, also the prefix of its keys' construct ids.
    quota_limit:
        Requests allowed per ``quota_period`` per key (>= 1).
    quota_period:
        ``Period.DAY``, ``Period.WEEK`` or ``Period.MONTH``. Default: ``Period.MONTH``.
    throttle:
        Per-key throttle. Default: - the stage throttle.
    api_keys:
        Names of the API keys to create in this plan; API Gateway generates their values (read them with
        ``aws apigateway get-api-key --include-value``). Default: - none (add keys later with
        ``usage_plan.add_api_key``).
    """

    name: str
    quota_limit: int
    quota_period: apigateway.Period = apigateway.Period.MONTH
    throttle: Throttle | None = None
    api_keys: Sequence[str] = ()

    def check(self, problems: Problems) -> None:
        prop = f"usage_plans[{self.name!r}]"
        if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", self.name):
            problems.add(f"{prop}.name", "alphanumeric, starting with a letter", self.name, "rename the plan")
        if isinstance(self.quota_limit, bool) or not isinstance(self.quota_limit, int) or self.quota_limit < 1:
            problems.add(f"{prop}.quota_limit", "a whole number of requests >= 1", self.quota_limit,
                         "pass e.g. quota_limit=100_000")
        if self.throttle is not None:
            self.throttle.check(problems, f"{prop}.throttle")
        for key in self.api_keys:
            if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", key):
                problems.add(f"{prop}.api_keys", "alphanumeric names starting with a letter", key, "rename the key")


class Waf:
    """How a REST API stage is protected by AWS WAF. Use the factories.

    ``Waf.managed()`` creates a web ACL with the AWS managed rule groups; ``Waf.from_web_acl_arn(arn)``
    associates your own; ``Waf.disabled(reason)`` goes without, and the reason becomes the acknowledgement.
    """

    def __init__(self, *, mode: str, web_acl_arn: str | None = None, reason: str | None = None) -> None:
        self.mode = mode
        self.web_acl_arn = web_acl_arn
        self.reason = reason

    @staticmethod
    def managed() -> Waf:
        """A regional web ACL: common rule set, known bad inputs and Amazon IP reputation, with logging."""
        return Waf(mode="managed")

    @staticmethod
    def from_web_acl_arn(web_acl_arn: str) -> Waf:
        """Associate an existing regional web ACL (its logging is yours)."""
        return Waf(mode="arn", web_acl_arn=web_acl_arn)

    @staticmethod
    def disabled(reason: str) -> Waf:
        """No web ACL. ``reason`` (a sentence) is recorded as the acknowledgement of the WAF findings."""
        return Waf(mode="disabled", reason=reason)

    def check(self, problems: Problems) -> None:
        if self.mode == "disabled" and len((self.reason or "").strip()) < 20:
            problems.add("waf", "Waf.disabled(reason) with a reason of at least 20 characters", self.reason,
                         "say why this API needs no WAF; the reason is recorded as the acknowledgement")
        if self.mode == "arn" and not is_token(self.web_acl_arn) and ":wafv2:" not in (self.web_acl_arn or ""):
            problems.add("waf", "a WAFv2 web ACL ARN (arn:...:wafv2:...:regional/webacl/...)", self.web_acl_arn,
                         "pass the ARN of a REGIONAL WAFv2 web ACL")


@dataclass(frozen=True, kw_only=True)
class Canary:
    """A REST stage canary: ``percent_traffic`` of requests use ``stage_variable_overrides``."""

    percent_traffic: float
    stage_variable_overrides: Mapping[str, str] = field(default_factory=dict)

    def check(self, problems: Problems) -> None:
        if not 0 < self.percent_traffic <= 100:
            problems.add("canary.percent_traffic", "a percentage in (0, 100]", self.percent_traffic,
                         "pass e.g. percent_traffic=10")


@dataclass(frozen=True, kw_only=True)
class CustomDomain:
    """A custom domain (TLS 1.2+) mapped to the API's stage.

    Parameters
    ----------
    domain_name:
        e.g. ``api.example.com``.
    certificate:
        An ACM certificate for ``domain_name`` in the API's region.
    hosted_zone:
        Create an alias A record in this Route 53 zone. Default: - no record.
    base_path:
        Map the API under this path of the domain (e.g. ``"orders"``). Default: - the domain root.
    """

    domain_name: str
    certificate: acm.ICertificate
    hosted_zone: route53.IHostedZone | None = None
    base_path: str | None = None

    def check(self, problems: Problems) -> None:
        if not is_token(self.domain_name) and not re.match(r"^([a-z0-9-]+\.)+[a-z]{2,}$", self.domain_name or ""):
            problems.add("domain.domain_name", "a lower-case DNS name", self.domain_name, "e.g. 'api.example.com'")
        if self.base_path is not None and not re.match(r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$", self.base_path):
            problems.add("domain.base_path", "path segments without leading or trailing '/'", self.base_path,
                         "e.g. base_path='orders' or 'orders/v1'")


@dataclass(frozen=True, kw_only=True)
class QueueSend:
    """An SQS ``SendMessage`` route: the request body becomes one message of ``queue``, sent by API Gateway with
    ``role``. ``AsyncWorker.add_api_route`` builds one; both API kinds take it in ``add_queue_route``.

    Parameters
    ----------
    queue / role:
        The queue, and the role API Gateway assumes to send to it (``sqs:SendMessage``, and the key's use).
    message_group_id / deduplication_id:
        FIFO queues: a static value or a request value in HTTP API mapping syntax (``$request.header.NAME``,
        ``$request.querystring.NAME``, ``$request.path.NAME``, ``$request.body.FIELD``, ``$context.NAME``); a
        REST API maps the same forms. Default: - none.
    accepted_status:
        What the client gets when SQS took the message, with SQS's answer (its ``MessageId``) as the body.
        Default: - SQS's 200.
    id:
        The construct id of the integration. Default: - ``<route id>SendMessage``.
    """

    queue: sqs.IQueue
    role: iam.IRole
    message_group_id: str | None = None
    deduplication_id: str | None = None
    accepted_status: int | None = None
    id: str | None = None


def parse_route(route: str) -> tuple[str, str] | None:
    """``"GET /items/{id}"`` -> ``("GET", "/items/{id}")``; ``None`` when malformed. ``$default`` is kept."""
    if route == "$default":
        return ("ANY", "$default")
    parts = route.split(" ")
    if len(parts) != 2:
        return None
    method, path = parts[0].upper(), parts[1]
    if parts[0] != method or method not in HTTP_METHODS or not path.startswith("/"):
        return None
    if path == "/":
        return method, path
    segments = path[1:].split("/")
    for index, segment in enumerate(segments):
        if _LITERAL_SEGMENT.match(segment):
            continue
        if _PARAM_SEGMENT.match(segment) and (not segment.endswith("+}") or index == len(segments) - 1):
            continue
        return None
    names = [s[1:-1].rstrip("+") for s in segments if s.startswith("{")]
    if len(names) != len(set(names)):
        return None
    return method, path


def route_id(route: str) -> str:
    """A construct id for a route key: ``"GET /items/{id}"`` -> ``"GetItemsId"``."""
    if route == "$default":
        return "Default"
    words = re.findall(r"[A-Za-z0-9]+", route)
    return "".join(word[:1].upper() + word[1:].lower() for word in words) or "Root"
