"""Every default the constructs use, with the reason it was chosen.

This is the one place a default value lives. Constructs read their defaults from here, and the defaults tables
of the construct reference (``docs/constructs/*.md``) are generated from ``REFERENCE`` by ``make docs``, so the
docs and the code cannot drift apart: a test compares them.

Why this module is longer than 500 lines: it is one table, an entry per default with its reason and range,
read top to bottom like the reference it generates. Split by construct it would put the single place a
default lives in eight places, and the shared API entries in none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

# The gateway runtime's own defaults for what the construct may leave out of its configuration (stdlib only).
from lambda_manifest.runtime.gateway import contract as _gateway_contract

T = TypeVar("T")


@dataclass(frozen=True)
class Default(Generic[T]):
    """A default value, the construct prop it belongs to, and why it is the default."""

    construct: str
    prop: str
    value: T
    why: str
    allowed: str = ""


REFERENCE: list[Default[object]] = []


def _d(construct: str, prop: str, value: T, why: str, allowed: str = "") -> Default[T]:
    entry: Default[T] = Default(construct, prop, value, why, allowed)
    REFERENCE.append(entry)  # type: ignore[arg-type]
    return entry


# --------------------------------------------------------------------------------------------------
# ObservedFunction
# --------------------------------------------------------------------------------------------------
_OF = "ObservedFunction"

RUNTIME = _d(
    _OF, "runtime", "python3.14",
    "The newest Python runtime aws-cdk-lib 2.275 offers: the longest support window, and AwsSolutions-L1 "
    "passes.",
)
ARCHITECTURE = _d(
    _OF, "architecture", "arm64",
    "Graviton costs about 20% less per GB-second than x86_64 and runs pure-Python code unchanged.",
)
MEMORY_SIZE_MB = _d(
    _OF, "memory_size", 256,
    "Explicit, because the platform default (128 MB) trips the Serverless pack and starves CPU: Lambda "
    "allocates CPU in proportion to memory.",
    "128-10240 (MB)",
)
TIMEOUT_SECONDS = _d(
    _OF, "timeout", 30,
    "Explicit, because the platform default (3 s) is too short for a cold start plus one AWS call and trips "
    "the Serverless pack; 30 s is also under API Gateway's integration timeout.",
    "1-900 (s)",
)
TRACING = _d(_OF, "tracing", "ACTIVE", "X-Ray active tracing: every invocation is traced (init, invocation, "
             "errors), and an API Gateway trace continues into the function.")
TRACE_AWS_SDK = _d(_OF, "trace_aws_sdk", False, "Off: recording each AWS SDK call as a subsegment adds about "
                   "200 ms to every cold start on Python 3.14 (the X-Ray SDK and botocore at init); turn it on "
                   "where the calls are what you need to see.")
LOG_FORMAT = _d(
    _OF, "log_format", "JSON",
    "Lambda's native JSON log format: every line is queryable in Logs Insights without parsing.",
)
APPLICATION_LOG_LEVEL = _d(
    _OF, "application_log_level", "INFO",
    "INFO keeps request-level events; DEBUG is a deploy-time switch, not a default.",
    "TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
)
SYSTEM_LOG_LEVEL = _d(
    _OF, "system_log_level", "WARN",
    "Drops the START/END/REPORT platform lines (metrics carry the same facts) and keeps platform warnings.",
    "DEBUG, INFO, WARN",
)
LOG_RETENTION = _d(
    _OF, "log_retention", "ONE_YEAR",
    "One year (365 days): bounded cost, and long enough for the audit look-backs HIPAA/PCI reviews ask for.",
    "any aws_logs.RetentionDays value except INFINITE",
)
LOG_ENCRYPTION = _d(
    _OF, "log_encryption_key", "the stack's shared KMS key",
    "Log groups are encrypted with a customer-managed key (HIPAA/NIST/PCI CloudWatchLogGroupEncrypted).",
)
POWERTOOLS = _d(
    _OF, "powertools", True,
    "Attach the official Powertools for AWS Lambda (Python) layer so handlers import it without vendoring "
    "it: no Docker build, and AWS publishes and scans the layer. Set False for stdlib-only handlers.",
)
POWERTOOLS_LAYER_VERSION = _d(
    _OF, "powertools_layer_version", 27,
    "The official public layer AWSLambdaPowertoolsPythonV3-python314-arm64, pinned so a deploy is "
    "reproducible; bump it deliberately.",
)
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
METRICS_NAMESPACE = _d(
    _OF, "metrics_namespace", "LambdaManifest",
    "One namespace for the whole library, so dashboards and alarms find every service's custom metrics.",
)
ASYNC_RETRY_ATTEMPTS = _d(
    _OF, "retry_attempts", 2,
    "The Lambda maximum for asynchronous invocations, so transient failures heal before the event is "
    "dead-lettered.",
    "0-2",
)
ASYNC_MAX_EVENT_AGE_SECONDS = _d(
    _OF, "max_event_age", 6 * 3600,
    "The Lambda maximum (6 h): an event is dead-lettered, never silently dropped for age.",
    "60-21600 (s)",
)
ASYNC_DLQ_RETENTION_DAYS = _d(
    _OF, "on_failure", 14,
    "An encrypted SQS on-failure destination with 14-day retention (the SQS maximum) is created for "
    "asynchronous functions, so a failed event waits two weeks for someone to look at it.",
)
SCHEDULE_RETRY_ATTEMPTS = _d(
    _OF, "add_schedule retry_attempts", 2,
    "EventBridge retries a delivery it could not make twice, then hands the event to the function's "
    "on-failure queue; Lambda's own retries of a failed run are separate (retry_attempts).",
    "0-185",
)
ERRORS_ALARM_THRESHOLD = _d(
    _OF, "errors_alarm_threshold", 1,
    "Any invocation error in 5 minutes alarms: a production function should not error at all.",
    ">= 1",
)
THROTTLES_ALARM_THRESHOLD = _d(
    _OF, "throttles_alarm_threshold", 1,
    "Any throttle in 5 minutes alarms: throttles mean lost or delayed work.",
    ">= 1",
)
DURATION_ALARM_FRACTION = _d(
    _OF, "duration_alarm_fraction", 0.8,
    "p99 duration above 80% of the timeout alarms before requests start timing out.",
    "0 < x <= 1",
)
CONCURRENCY_ALARM_FRACTION = _d(
    _OF, "concurrency_alarm_fraction", 0.8,
    "With reserved concurrency set, peak concurrency above 80% of it alarms before throttling starts.",
    "0 < x <= 1",
)
FUNCTION_DASHBOARD = _d(
    _OF, "dashboard", True,
    "A row of the stack's dashboard (invocations, errors, throttles, duration against the timeout, concurrency): "
    "every function is watched the same way without anyone building a dashboard.",
)
ASYNC_INVOCATION = _d(
    _OF, "async_invocation", False,
    "Synchronous callers (API Gateway, event source mappings) receive every error themselves; an on-failure "
    "queue is created only for functions invoked asynchronously.",
)
ALARM_PERIOD_SECONDS = 300
ALARM_EVALUATION_PERIODS = 1

# Service limits the validators enforce (documented ranges, not choices).
MEMORY_RANGE_MB = (128, 10240)
TIMEOUT_RANGE_SECONDS = (1, 900)
EPHEMERAL_STORAGE_RANGE_MB = (512, 10240)
ASYNC_RETRY_RANGE = (0, 2)
ASYNC_MAX_EVENT_AGE_RANGE_SECONDS = (60, 21600)


# --------------------------------------------------------------------------------------------------
# HttpServerlessApi and RestServerlessApi (the shared props, then each kind's own)
# --------------------------------------------------------------------------------------------------
_SA = "HttpServerlessApi and RestServerlessApi"
_HTTP = "HttpServerlessApi"
_REST = "RestServerlessApi"

HTTP_STAGE_NAME = _d(
    _HTTP, "stage_name", "$default",
    "The HTTP API default stage serves at the root of the URL, so paths carry the version (/v1/...) and the "
    "stage name never leaks into client URLs.",
)
REST_STAGE_NAME = _d(
    _REST, "stage_name", "prod",
    "REST APIs always put the stage in the path; one stage per API, versions live in the route paths.",
    "[A-Za-z0-9_]+",
)
THROTTLE_RATE_LIMIT = _d(
    _SA, "throttle.rate_limit", 100,
    "A finite stage-wide steady rate (requests/second): one API cannot use up the account's shared "
    "10,000 rps quota and starve every other API in the region. Raise it deliberately.",
    "> 0 (requests/s)",
)
THROTTLE_BURST_LIMIT = _d(
    _SA, "throttle.burst_limit", 200,
    "Twice the rate: absorbs a client's retry burst without letting a runaway caller through.",
    ">= 1 (requests)",
)
ACCESS_LOG_RETENTION = _d(
    _SA, "access_log_retention", "ONE_YEAR",
    "JSON access logs (request id, route, status, latency, integration and authorizer errors, source IP, "
    "user agent) kept one year in a KMS-encrypted log group: the audit look-back HIPAA/PCI reviews ask for.",
    "any aws_logs.RetentionDays value except INFINITE",
)
DETAILED_METRICS = _d(
    _SA, "detailed_metrics", False,
    "Per-route (HTTP) or per-method (REST) metrics are billed as custom metrics; the API-wide metrics the "
    "alarms use are free.",
)
API_DASHBOARD = _d(
    _SA, "dashboard", True,
    "A row of the stack's dashboard: requests and errors, error rates, latency p50/p99 and integration latency.",
)
ACCESS_LOG_ENCRYPTION = _d(
    _SA, "log_encryption_key", "the stack's shared KMS key",
    "Access, execution and WAF logs are encrypted with a customer-managed key.",
)
CORS = _d(
    _SA, "cors", "off",
    "No CORS headers unless asked: a browser origin is an explicit decision. '*' is allowed only when passed "
    "explicitly (synth warning), never together with credentials.",
    "Cors(allow_origins=[https origins] or ['*'], ...)",
)
CORS_MAX_AGE_SECONDS = _d(
    _SA, "cors.max_age", 3600,
    "Browsers cache a preflight for an hour: one OPTIONS round trip per hour per client, not per request.",
    "0-86400 (s)",
)
CORS_ALLOW_HEADERS = _d(
    _SA, "cors.allow_headers", ("Authorization", "Content-Type", "If-Match"),
    "What the shipped handlers read: the bearer token, a JSON body, and optimistic-concurrency If-Match.",
)
AUTHORIZER_CACHE_TTL_SECONDS = _d(
    _SA, "Authorizer.lambda_(results_cache_ttl)", 300,
    "API Gateway caches an allow or deny per identity (the Authorization header) for 5 minutes: one "
    "authorizer invocation per caller per 5 minutes instead of one per request. Revocation takes up to "
    "this long; pass 0 to check every request.",
    "0-3600 (s)",
)
AUTHORIZER_TIMEOUT_SECONDS = _d(
    _SA, "Authorizer.lambda_(timeout)", 10,
    "API Gateway waits at most 10 s for an authorizer, so a longer function timeout would only hide a hang.",
    "1-10 (s)",
)
AUTHORIZER_LEEWAY_SECONDS = _d(
    _SA, "Authorizer.lambda_(leeway_seconds)", 30,
    "Clock skew allowed for exp/nbf/iat: enough for NTP-synced issuers, short enough not to stretch tokens.",
    "0-300 (s)",
)
JWT_IDENTITY_HEADER = _d(
    _SA, "Authorizer.jwt / lambda_(identity_headers)", "Authorization",
    "Bearer tokens travel in the Authorization header; requests without it are refused by API Gateway "
    "before any function runs.",
)
COGNITO_PASSWORD_MIN_LENGTH = _d(
    _SA, "Authorizer.cognito(user_pool) password policy", 12,
    "A created user pool requires 12+ characters with upper case, lower case, digits and symbols "
    "(AwsSolutions-COG1) and remembers the last 5 passwords.",
    "8-99",
)
COGNITO_MFA = _d(
    _SA, "Authorizer.cognito(mfa)", "OPTIONAL",
    "Users can enrol a TOTP app, and the Plus tier's adaptive authentication challenges risky sign-ins "
    "with MFA; REQUIRED would lock out machine clients and users without an authenticator.",
    "Mfa.OFF is rejected; Mfa.OPTIONAL, Mfa.REQUIRED",
)
COGNITO_FEATURE_PLAN = _d(
    _SA, "Authorizer.cognito(feature_plan)", "PLUS",
    "Threat protection (compromised-credential checks, adaptive authentication) in full-function mode "
    "(AwsSolutions-COG8). It costs $0.02 per monthly active user; pass FeaturePlan.ESSENTIALS to save it.",
    "FeaturePlan.ESSENTIALS, FeaturePlan.PLUS",
)
REST_ENDPOINT_TYPE = _d(
    _REST, "endpoint_type", "REGIONAL",
    "Regional, not edge-optimized: no hidden CloudFront hop, WAF attaches directly, and callers in the region "
    "get lower latency. Put your own CloudFront in front for global clients.",
    "EndpointType.REGIONAL, EndpointType.EDGE, EndpointType.PRIVATE",
)
REST_TRACING = _d(_REST, "tracing", True, "X-Ray on the REST stage: a request is traced from the edge to the "
                  "function and beyond.")
REST_EXECUTION_LOGGING = _d(
    _REST, "execution_logging_level", "ERROR",
    "Execution logs for failed requests only, in a pre-created encrypted log group with bounded retention; "
    "INFO logs every request twice (access log plus execution log) and full request data is never logged.",
    "MethodLoggingLevel.ERROR, MethodLoggingLevel.INFO, MethodLoggingLevel.OFF",
)
REST_CLIENT_CERTIFICATE = _d(
    _REST, "client_certificate", False,
    "A client certificate only authenticates API Gateway to HTTP backends; Lambda and AWS service integrations "
    "use IAM and never see one.",
)
REST_CLOUD_WATCH_ROLE = _d(
    _REST, "cloud_watch_role", False,
    "The API Gateway CloudWatch role is one per account and region. Accounts that already manage it must not "
    "have it overwritten, so it is created only when asked (execution logging fails to deploy until one "
    "stack in the account sets it).",
)
REST_WAF = _d(
    _REST, "waf", "managed",
    "A regional WAFv2 web ACL with AWS managed rule groups (common rule set, known bad inputs, Amazon IP "
    "reputation), logging to an encrypted aws-waf-logs-* group with the Authorization and x-api-key headers "
    "redacted. About $8/month plus $0.60 per million requests; pass Waf.disabled(reason) to go without.",
    "Waf.managed(), Waf.from_web_acl_arn(arn), Waf.disabled(reason)",
)
REST_CACHE_SIZE = _d(
    _REST, "cache.size", "0.5",
    "The smallest cache cluster (0.5 GB, about $14/month), encrypted; caching is enabled per route only, "
    "because the cache key does not include the caller and a cached authorized response would be served to "
    "the next caller.",
    "0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237 (GB)",
)
REST_CACHE_TTL_SECONDS = _d(
    _REST, "cache.ttl / add_route(cache=)", 300,
    "Five minutes: stale data is bounded and the backend sees one request per cache key per 5 minutes.",
    "0-3600 (s)",
)
REST_MIN_COMPRESSION_BYTES = _d(
    _REST, "minimum_compression_size", 1024,
    "Responses of 1 KiB or more are gzip-compressed for clients that accept it; smaller ones are not worth "
    "the CPU.",
    "0-10485760 (bytes)",
)
REST_REQUEST_VALIDATION = _d(
    _REST, "request validation", "body and parameters on every method",
    "One request validator checks required parameters and, where a route has a request_model, the JSON "
    "body, so malformed requests are refused before a function is billed (AwsSolutions-APIG2).",
)
DOMAIN_SECURITY_POLICY = _d(
    _SA, "domain.security_policy", "TLS_1_2",
    "Custom domains accept TLS 1.2 and newer only.",
)
SERVER_ERROR_RATE_ALARM_PERCENT = _d(
    _SA, "server_error_rate_alarm_percent", 1.0,
    "More than 1% of requests answered 5xx in 5 minutes alarms: server errors are the API's own failures.",
    "0 < x <= 100",
)
CLIENT_ERROR_RATE_ALARM_PERCENT = _d(
    _SA, "client_error_rate_alarm_percent", 10.0,
    "A higher bar for 4xx: clients make mistakes, but 10% usually means a broken client release, an expired "
    "credential rollout or an attack.",
    "0 < x <= 100",
)
ALARM_MIN_REQUESTS = _d(
    _SA, "alarm_min_requests", 20,
    "Error-rate alarms ignore 5-minute periods with fewer requests, so one failed request out of three at "
    "night does not page anyone.",
    ">= 1",
)
LATENCY_ALARM_MS = _d(
    _SA, "latency_alarm_threshold", 3000,
    "p99 end-to-end latency above 3 s alarms: well inside the 29-30 s integration timeout, and slow enough "
    "that users notice.",
    "1-30000 (ms)",
)
INTEGRATION_LATENCY_ALARM_MS = _d(
    _SA, "integration_latency_alarm_threshold", 2500,
    "p99 backend latency above 2.5 s alarms. Latency alarming without integration latency points at the "
    "authorizer or API Gateway, not the function.",
    "1-30000 (ms)",
)
ROUTE_STREAM = _d(
    _REST, "add_route(stream=)", False,
    "A buffered route answers once the handler returns (10 MB, 29 s). stream=True (REST only: HTTP APIs cannot "
    "stream) sends each piece as it is produced, for up to 15 minutes; a Python function then runs the stream "
    "runtime's loop through AWS_LAMBDA_EXEC_WRAPPER, because the managed Python runtime cannot stream.",
)

# Service limits the validators enforce.
CACHE_TTL_RANGE_SECONDS = (0, 3600)
AUTHORIZER_CACHE_TTL_RANGE_SECONDS = (0, 3600)
AUTHORIZER_TIMEOUT_RANGE_SECONDS = (1, 10)
AUTHORIZER_LEEWAY_RANGE_SECONDS = (0, 300)
CORS_MAX_AGE_RANGE_SECONDS = (0, 86400)
MIN_COMPRESSION_RANGE_BYTES = (0, 10 * 1024 * 1024)
LATENCY_ALARM_RANGE_MS = (1, 30000)
CACHE_CLUSTER_SIZES = ("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237")
COGNITO_PASSWORD_RANGE = (8, 99)


# --------------------------------------------------------------------------------------------------
# AsyncWorker
# --------------------------------------------------------------------------------------------------
_AW = "AsyncWorker"

QUEUE_ENCRYPTION = _d(
    _AW, "encryption", "KMS",
    "Messages are encrypted with a customer-managed key (the stack's shared key unless encryption_key is given) "
    "whose policy already lets SNS, EventBridge and S3 "
    "(this account only) deliver into the queue. QueueEncryption.SQS_MANAGED is the cheaper alternative "
    "(no KMS request charges); the AWS-managed aws/sqs key is rejected because SNS and EventBridge cannot use it.",
    "QueueEncryption.KMS, QueueEncryption.SQS_MANAGED",
)
QUEUE_RETENTION_DAYS = _d(
    _AW, "retention_period", 14,
    "The SQS maximum: a worker that is down over a long weekend loses nothing (the platform default of 4 "
    "days would silently delete the backlog).",
    "60 s-14 days",
)
DLQ_RETENTION_DAYS = _d(
    _AW, "dead_letter_queue (retention)", 14,
    "The SQS maximum. A standard queue keeps a message's original enqueue time when it moves to the DLQ, so "
    "the DLQ must keep messages at least as long as the source queue does.",
)
MAX_RECEIVE_COUNT = _d(
    _AW, "max_receive_count", 5,
    "A message is received five times before it is dead-lettered: AWS's minimum advice for Lambda consumers, "
    "because throttled or timed-out invocations also count as receives.",
    "1-1000",
)
VISIBILITY_TIMEOUT = _d(
    _AW, "visibility_timeout", "6 x function timeout + max_batching_window",
    "AWS's guidance for Lambda consumers: a batch is never made visible again (and processed twice) while a "
    "retried invocation may still be working on it. A shorter value is a synth-time error naming the minimum.",
    ">= 6 x timeout + window, <= 12 h",
)
BATCH_SIZE = _d(
    _AW, "batch_size", 10,
    "The Lambda default for SQS: ten messages per invocation amortize the cold start without a batching "
    "window, so messages are not held back.",
    "1-10000 standard (above 10 needs max_batching_window), 1-10 FIFO",
)
MAX_BATCHING_WINDOW_SECONDS = _d(
    _AW, "max_batching_window", 0,
    "No waiting: a message is processed as soon as it is polled. Set a window to trade latency for fuller "
    "batches (required for batch sizes above 10). Not supported on FIFO queues.",
    "0-300 (s)",
)
MAX_CONCURRENCY = _d(
    _AW, "max_concurrency", "unset",
    "Unset lets Lambda scale with the backlog. Set it to protect a downstream system; unlike reserved "
    "concurrency it stops polling instead of throttling, so messages are not burned through max_receive_count.",
    "2-1000, <= reserved_concurrent_executions",
)
REPORT_BATCH_ITEM_FAILURES = _d(
    _AW, "report_batch_item_failures", True,
    "Always on, not a prop: only the failed records of a batch are retried, so one poison message never makes "
    "nine good ones run twice. The lambda_manifest.runtime.worker runtime returns the batchItemFailures response.",
)
CONTENT_BASED_DEDUPLICATION = _d(
    _AW, "content_based_deduplication", False,
    "FIFO only. Off: producers send a MessageDeduplicationId (the API route sends the request id). On: SQS "
    "hashes the body, so two genuinely equal orders within 5 minutes would collapse into one.",
)
RAW_BODY = _d(
    _AW, "raw_body", False,
    "Message bodies are JSON: one that is not fails and is retried, so a producer's bug is noticed instead of "
    "handed to process() as text. Pass True for workers that take plain text.",
)
WORKER_DASHBOARD = _d(
    _AW, "dashboard", True,
    "A row of the stack's dashboard: queue depth and messages in flight, the age of the oldest message and the "
    "dead-letter queue's depth.",
)
IDEMPOTENCY = _d(
    _AW, "idempotency", False,
    "Off unless asked: it costs a DynamoDB read and write per message. On: an encrypted on-demand table "
    "(partition key id, TTL on expiration) lets the runtime run each message's side effect once.",
)
IDEMPOTENCY_WINDOW_SECONDS = _d(
    _AW, "idempotency_window", 3600,
    "A processed message is remembered for an hour (the Powertools default): longer than any redelivery "
    "after a lost delete, which comes one visibility timeout later.",
    ">= visibility_timeout",
)
DLQ_ALARM_THRESHOLD = _d(
    _AW, "dead_letter_alarm_threshold", 1,
    "Any message in the DLQ alarms: it is work that did not happen. The alarm text gives the redrive command.",
    ">= 1",
)
AGE_ALARM = _d(
    _AW, "age_alarm_threshold", "visibility_timeout x max_receive_count",
    "A message older than its whole retry budget is not failing, it is waiting: the worker is not keeping up "
    "(or not running).",
    ">= 60 s",
)
SNS_RAW_MESSAGE_DELIVERY = _d(
    _AW, "add_sns_subscription(raw_message_delivery)", True,
    "The queue receives the published message itself, and its message attributes become SQS message "
    "attributes; the worker runtime also unwraps the envelope when it is off.",
)
SOURCE_RETRY_ATTEMPTS = _d(
    _AW, "add_event_rule(retry_attempts)", 185,
    "The EventBridge maximum, spread over max_event_age: an event that cannot be delivered is retried for a "
    "day and then lands in the delivery DLQ, which alarms.",
    "0-185",
)
SOURCE_MAX_EVENT_AGE_SECONDS = _d(
    _AW, "add_event_rule(max_event_age)", 24 * 3600,
    "The EventBridge maximum (24 h).",
    "60-86400 (s)",
)
DELIVERY_DLQ = _d(
    _AW, "delivery dead-letter queue", "created with the first SNS subscription or EventBridge rule",
    "Deliveries SNS or EventBridge could not make (a broken queue policy or key) land in one encrypted queue "
    "per worker, retained 14 days and alarmed, instead of being dropped.",
)
API_ACCEPTED_STATUS = _d(
    _AW, "add_api_route(accepted_status)", 202,
    "The route answers 202 Accepted with SQS's SendMessage result (the MessageId): the work is queued, not "
    "done. Pass None to keep SQS's 200.",
    "200-299 or None",
)

# Service limits the validators enforce.
MAX_RECEIVE_RANGE = (1, 1000)
BATCH_SIZE_RANGE_STANDARD = (1, 10000)
BATCH_SIZE_RANGE_FIFO = (1, 10)
BATCH_SIZE_WITHOUT_WINDOW = 10
MAX_BATCHING_WINDOW_RANGE_SECONDS = (0, 300)
MAX_CONCURRENCY_RANGE = (2, 1000)
VISIBILITY_TIMEOUT_MAX_SECONDS = 12 * 3600
VISIBILITY_TIMEOUT_FACTOR = 6
RETENTION_RANGE_SECONDS = (60, 14 * 24 * 3600)
SOURCE_RETRY_RANGE = (0, 185)
SOURCE_MAX_EVENT_AGE_RANGE_SECONDS = (60, 86400)
AGE_ALARM_MIN_SECONDS = 60


# API Gateway's maximum integration timeouts: a function that may run longer is cut off with a 503/504. A REST
# integration that streams its response (ResponseTransferMode STREAM) may run for 15 minutes.
HTTP_INTEGRATION_TIMEOUT_SECONDS = 30
REST_INTEGRATION_TIMEOUT_SECONDS = 29
STREAM_INTEGRATION_TIMEOUT_SECONDS = 900

# --------------------------------------------------------------------------------------------------
# AiGatewayFunction
# --------------------------------------------------------------------------------------------------
_GW = "AiGatewayFunction"

GATEWAY_TIMEOUT_SECONDS = _d(
    _GW, "timeout", 25,
    "The gateway bounds retries and fallbacks by the Lambda's remaining time, so with 25 s it answers its own "
    "OpenAI-style 504 before API Gateway's integration timeout (30 s HTTP, 29 s REST) cuts the connection with "
    "a bare 503, with room left for a cold start. Longer than the integration timeout is rejected.",
    "1-30 (s) on HTTP APIs, 1-29 on REST",
)
GATEWAY_STREAMING = _d(
    _GW, "streaming", False,
    "stream: true needs a REST API (HTTP APIs cannot stream) and the stream runtime's loop; without it such "
    "requests get a 400 that names this prop. With it the gateway's API defaults to REST, its routes stream "
    "(ResponseTransferMode STREAM) and ordinary requests keep their JSON answers.",
)
GATEWAY_STREAMING_TIMEOUT_SECONDS = _d(
    _GW, "timeout (streaming=True)", 300,
    "A streamed answer is not bound by API Gateway's 29 s: long generations stream for up to 5 minutes. API "
    "Gateway allows a streamed response 15 minutes.",
    "1-900 (s)",
)
GATEWAY_STREAM_KEEPALIVE_SECONDS = _d(
    _GW, "stream keep-alive", 10,
    "While a provider is silent the gateway sends an SSE comment every 10 s, under API Gateway's idle timeouts "
    "for streams (30 s edge-optimized, 5 minutes regional).",
)
GATEWAY_KEY_CACHE_TTL_SECONDS = _d(
    _GW, "key_cache_ttl", _gateway_contract.KEY_CACHE_TTL_SECONDS,
    "A warm container keeps each valid virtual key's item this long, so a key's requests skip the DynamoDB read "
    "that otherwise comes before every first token (about half of the gateway's time to first token). The price: "
    "a revocation or a changed key limit takes effect in a warm container up to 10 s after it is written. "
    "Duration.seconds(0) reads the key on every request (revocation at once). Quotas are never cached.",
    "0-300 (s)",
)
GATEWAY_MAX_KEY_CACHE_TTL_SECONDS = _gateway_contract.MAX_KEY_CACHE_TTL_SECONDS
GATEWAY_MEMORY_SIZE_MB = _d(
    _GW, "memory_size", 512,
    "Lambda allocates CPU in proportion to memory: the cold start (boto3 import, first TLS handshakes) and "
    "JSON work run about twice as fast as at 256 MB for about the same cost per request.",
    "128-10240 (MB)",
)
GATEWAY_POWERTOOLS = _d(
    _GW, "powertools", False,
    "The runtime is stdlib + boto3 only and writes its own EMF and audit lines: no layer to load at cold start.",
)
GATEWAY_METRICS_NAMESPACE = _d(
    _GW, "metrics_namespace", "LmGateway/<construct path>",
    "One namespace per gateway, so two gateways in an account never share an alarm; the runtime emits "
    "Requests, PromptTokens, CompletionTokens, CostUSD, LatencyMs, Fallbacks, CacheHits, QuotaRejections, "
    "Errors and UpstreamFailures by Tenant, Model, Provider and Tenant+Model, ProviderFailures by Provider, "
    "the request counters once more with no dimension for gateway-wide alarms, and the OpenTelemetry GenAI "
    "metrics gen_ai.client.operation.duration, gen_ai.server.time_to_first_token and gen_ai.client.token.usage "
    "by gen_ai.operation.name and gen_ai.request.model.",
)
GATEWAY_CONFIG_ENV_MAX_BYTES = _d(
    _GW, "configuration delivery", 3500,
    "The configuration JSON travels in LM_GATEWAY_CONFIG while its deployed size (each deploy-time value such "
    "as a secret ARN counted at 128 characters) is at most 3,500 bytes, inside Lambda's 4 KB environment "
    "limit: it shares the library's code asset and changes without a code upload. A larger one is written to "
    "lm_gateway_config.json in a generated asset (LM_GATEWAY_CONFIG_FILE).",
    "<= 3500 bytes in the environment, else a file",
)
GATEWAY_TABLE = _d(
    _GW, "table", "pk/sk strings, TTL expires_at, on-demand, stack CMK, PITR, deletion protection, retained",
    "One single-table design for keys, quotas, usage, cache and conversations: on-demand costs nothing idle, "
    "TTL expires caches, windows and conversations for free, and the keys and usage records survive a stack "
    "delete.",
)
GATEWAY_DASHBOARD = _d(
    _GW, "dashboard", True,
    "A row of the stack's dashboard: tokens and cost by tenant and by model, requests and failed attempts by "
    "provider, error and fallback rates, latency p99 by provider.",
)
GATEWAY_BACKUP = _d(
    _GW, "backup", True,
    "A daily AWS Backup plan with 35-day retention (HIPAA/NIST DynamoDBInBackupPlan): virtual keys and usage "
    "records are billing data. An empty table's backups cost nearly nothing; pass False to rely on PITR alone.",
)
GATEWAY_PUBLIC_REASON = _d(
    _GW, "public_reason",
    "The gateway authenticates every request itself: it requires a virtual key ('Authorization: Bearer <key>' "
    "or 'x-api-key: <key>', or the configured key_header) and checks the key's SHA-256 against its DynamoDB table "
    "(a consistent read; a warm container reuses a valid key's item for key_cache_ttl) before any provider is "
    "called.",
    "Routes are public at API Gateway unless an authorizer is given, because the gateway checks the virtual "
    "key itself; this sentence is the routes' AwsSolutions-APIG4 acknowledgement.",
)
GATEWAY_API_LATENCY_HEADROOM_SECONDS = 1
GATEWAY_API = _d(
    _GW, "api", "a new HttpServerlessApi",
    "HTTP APIs cost $1.00 per million requests against REST's $3.50 and the gateway needs none of REST's "
    "extras. The created API's latency alarms follow latency_alarm_threshold, not the 3 s default of a CRUD API.",
)
GATEWAY_PROVIDER_ERROR_RATE_PERCENT = _d(
    _GW, "provider_error_rate_alarm_percent", 1.0,
    "More than 1% of routed requests failing at every provider (502/504) in 5 minutes alarms: fallbacks "
    "already absorbed single-provider trouble, so what is left is an outage users see.",
    "0 < x <= 100, or None",
)
GATEWAY_FALLBACK_RATE_PERCENT = _d(
    _GW, "fallback_rate_alarm_percent", 10.0,
    "More than 10 fallbacks per 100 served requests in 5 minutes alarms: a primary target is failing, answers "
    "are slower and may cost more, before it turns into errors.",
    "0 < x <= 100, or None",
)
GATEWAY_QUOTA_REJECTIONS_THRESHOLD = _d(
    _GW, "quota_rejections_alarm_threshold", 10,
    "A few 429s are quotas doing their job; 10 or more in 5 minutes means a tenant is refused steadily.",
    ">= 1, or None",
)
GATEWAY_LATENCY_ALARM_SECONDS = _d(
    _GW, "latency_alarm_threshold", 10,
    "p99 latency of the slowest provider above 10 s alarms: completions usually take 1-8 s, and this fires "
    "well before the function's own duration alarm at 80% of the timeout.",
    "1-30 (s)",
)
GATEWAY_ALARM_MIN_REQUESTS = _d(
    _GW, "alarm_min_requests", 20,
    "Rate alarms ignore 5-minute periods with fewer requests, so one failure out of three at night pages nobody.",
    ">= 1",
)


# --------------------------------------------------------------------------------------------------
# DataTable
# --------------------------------------------------------------------------------------------------
TABLE_BACKUP = _d(
    "DataTable", "backup", True,
    "Every table joins the stack's daily AWS Backup plan (35-day retention) on top of point-in-time recovery: "
    "PITR undoes a bad write, a backup survives a deleted table (HIPAA/NIST DynamoDBInBackupPlan).",
)
TABLE_BILLING = _d(
    "DataTable", "billing", "PAY_PER_REQUEST",
    "On-demand capacity: nothing to size, nothing paid while idle, and no throttling from a forgotten limit.",
)
TABLE_ENCRYPTION = _d(
    "DataTable", "encryption", "the stack's shared KMS key",
    "Customer-managed encryption, so key use is logged in CloudTrail and access can be revoked by key policy.",
)


# --------------------------------------------------------------------------------------------------
# Per-stack shared resources
# --------------------------------------------------------------------------------------------------
_SR = "StackResources"

KEY_ROTATION = _d(
    _SR, "key", "one KMS key per stack, rotation on",
    "One customer-managed key per stack encrypts every log group, queue, topic and table the constructs "
    "create: one key costs $1/month, ten would cost $10 and protect nothing more.",
)
ALARM_TOPIC = _d(
    _SR, "alarm_topic", "one KMS-encrypted SNS topic per stack",
    "Every alarm needs an action (HIPAA/NIST CloudWatchAlarmAction); one topic per stack gives on-call one "
    "place to subscribe. Pass your own topic to route alarms elsewhere.",
)
ALARM_SUBSCRIBERS = _d(
    _SR, "subscribe_alarms", "no one (context alarmEmail / alarmUrl)",
    "Who is on call differs by team and stage, so no address is guessed: subscribe_alarms(emails, urls, queues, "
    "functions) or `-c alarmEmail=... -c alarmUrl=https://...` name them, and `make synth` lists every stack "
    "whose alarms reach no one.",
)
ALARM_DELIVERY_DLQ_DAYS = _d(
    _SR, "alarm delivery dead-letter queue", 14,
    "An alarm SNS could not deliver to a subscriber (a pager endpoint down, a deleted queue) waits 14 days in "
    "one encrypted queue per stack, and an alarm on that queue tells the other subscribers, instead of the page "
    "being dropped silently.",
)
DASHBOARD = _d(
    _SR, "dashboard", "one CloudWatch dashboard per stack",
    "One dashboard per stack, one row per construct: a service is read on one screen, and dashboards beyond "
    "the free three cost $3/month each.",
)


# --------------------------------------------------------------------------------------------------
# McpToolGateway
# --------------------------------------------------------------------------------------------------
_MCP = "McpToolGateway"

MCP_MODE = _d(
    _MCP, "mode", "lambda",
    "The library's runtime in a gateway function: the AI gateway's virtual keys with a tool allowlist and rpm per "
    "key, an audit line and metrics per call, alarms per tool. mode='agentcore' hands the endpoint to the managed "
    "AgentCore Gateway, which has none of those.",
    "'lambda' or 'agentcore'",
)
MCP_API = _d(
    _MCP, "api", "a new RestServerlessApi",
    "REST, so the endpoint can take WAF, usage plans and response streaming; an HttpServerlessApi (api= or "
    "api_options=HttpApiOptions(...)) serves it as well, for a second less of timeout headroom.",
    "any IServerlessApi",
)
MCP_TIMEOUT_SECONDS = _d(
    _MCP, "timeout", 28,
    "One second under the REST integration timeout (29 s), so a slow tool ends in the gateway's own tool error "
    "rather than API Gateway's bare 504. A tool's own timeout must leave 2 s of it for the call around it.",
    "4 s to 1 s under the API's integration timeout (28 s REST, 29 s HTTP)",
)
MCP_MEMORY_SIZE_MB = _d(
    _MCP, "memory_size", 256,
    "The gateway parses JSON and waits on one Lambda invoke per call; 256 MB gives it a fast enough CPU share "
    "for a cold start with boto3.",
    "128-10240 (MB)",
)
MCP_PATH = _d(
    _MCP, "path", "/mcp",
    "The conventional Streamable HTTP endpoint path; MCP clients are configured with the full URL.",
)
MCP_PAGE_SIZE = _d(
    _MCP, "page_size", 50,
    "tools/list pages of 50: one page for most servers, and clients that page (the spec lets the server pick "
    "the size) get bounded answers from large ones.",
    "1-1000",
)
MCP_LIST_TTL_SECONDS = _d(
    _MCP, "list_ttl", 300,
    "The ttlMs cache hint of tools/list and server/discover (2026-07-28): tools change only with a deploy, so "
    "clients may reuse the list for 5 minutes instead of asking before every turn.",
    "0-86400 (s)",
)
MCP_ERROR_RATE_ALARM_PERCENT = _d(
    _MCP, "error_rate_alarm_percent", 5.0,
    "More than 5% of a tool's calls ending in a tool error in 5 minutes alarms, per tool: models retry a failed "
    "tool call, so steady failures first show as cost and latency, then as wrong answers.",
    "0 < x <= 100, or None",
)
MCP_LATENCY_ALARM_FRACTION = _d(
    _MCP, "latency_alarm_fraction", 0.8,
    "A tool whose p99 latency passes 80% of its function's timeout alarms, per tool, before its calls start "
    "timing out.",
    "0 < x <= 1, or None",
)
MCP_ALARM_MIN_CALLS = _d(
    _MCP, "alarm_min_calls", 10,
    "The error-rate alarm ignores 5-minute periods with fewer calls to the tool, so one failed call out of two "
    "pages nobody.",
    ">= 1",
)
MCP_DASHBOARD = _d(
    _MCP, "dashboard", True,
    "A row of the stack's dashboard: calls, tool errors and p99 latency by tool, and refused calls; the gateway "
    "function and its API add their own rows.",
)
MCP_PUBLIC_REASON = _d(
    _MCP, "public_reason",
    "The MCP gateway authenticates every request itself with the AI gateway's virtual keys (Authorization: "
    "Bearer <key>) against that gateway's DynamoDB table, before the body is read.",
    "The endpoint is public at API Gateway when callers use virtual keys; this sentence is its "
    "AwsSolutions-APIG4 acknowledgement.",
)
# Lambda allows 4 KB of environment (keys and values together); what the tool catalogue and the tools' ARNs may
# take of it, leaving room for the function's other variables.
MCP_ENVIRONMENT_BUDGET_BYTES = 3500

def markdown_reference(construct: str) -> str:
    """Render the reference table of one construct's defaults as Markdown (used for docs/constructs/)."""
    rows = ["| prop | default | allowed | why |", "| --- | --- | --- | --- |"]
    for entry in REFERENCE:
        if entry.construct == construct:
            rows.append(f"| `{entry.prop}` | `{entry.value}` | {entry.allowed or '-'} | {entry.why} |")
    return "\n".join(rows)


def constructs_in_reference() -> list[str]:
    seen: list[str] = []
    for entry in REFERENCE:
        if entry.construct not in seen:
            seen.append(entry.construct)
    return seen


DOCS_START = "<!-- defaults:start (generated by `make docs` from lambda_manifest/_defaults.py) -->"
DOCS_END = "<!-- defaults:end -->"
# The construct reference page (docs/constructs/<page>) that shows each construct's defaults.
DOC_PAGES: dict[str, tuple[str, ...]] = {
    "observed-function.md": (_OF,),
    "http-serverless-api.md": (_SA, _HTTP),
    "rest-serverless-api.md": (_REST,),
    "async-worker.md": (_AW,),
    "ai-gateway-function.md": (_GW,),
    "mcp-tool-gateway.md": (_MCP,),
    "data-table.md": ("DataTable",),
    "stack-resources.md": (_SR,),
}


def docs_block(constructs: tuple[str, ...]) -> str:
    """The generated section of one reference page: a table per construct, between the markers."""
    parts = [DOCS_START]
    for name in constructs:
        parts.append(f"\n#### {name} defaults\n\n{markdown_reference(name)}\n")
    parts.append(DOCS_END)
    return "\n".join(parts)


def update_docs(folder: str = "docs/constructs") -> list[str]:
    """Rewrite the generated section of every reference page; return the pages that changed."""
    changed = []
    for page, constructs in DOC_PAGES.items():
        path = f"{folder}/{page}"
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        start, end = text.index(DOCS_START), text.index(DOCS_END) + len(DOCS_END)
        new = text[:start] + docs_block(constructs) + text[end:]
        if new != text:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(new)
            changed.append(page)
    return changed
