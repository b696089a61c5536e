"""Every default the constructs use, with the reason it was chosen.

This is the one place a default value lives. Constructs read their defaults from here, and the README's
reference tables are generated from ``REFERENCE`` (``python -m lambda_manifest._defaults``), so the docs and
the code cannot drift apart: a test compares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

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
TRACING = _d(_OF, "tracing", "ACTIVE", "X-Ray active tracing, so a request can be followed across services.")
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
LOG_RETENTION_DAYS = _d(
    _OF, "log_retention", 365,
    "One year: bounded cost, and long enough for the audit look-backs HIPAA/PCI reviews ask for.",
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
ALARM_PERIOD_SECONDS = 300
ALARM_EVALUATION_PERIODS = 1

# Service limits the validators enforce (documented ranges, not choices).
MEMORY_RANGE_MB = (128, 10240)
TIMEOUT_RANGE_SECONDS = (1, 900)
EPHEMERAL_STORAGE_RANGE_MB = (512, 10240)
ASYNC_RETRY_RANGE = (0, 2)
ASYNC_MAX_EVENT_AGE_RANGE_SECONDS = (60, 21600)


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
DASHBOARD = _d(
    _SR, "dashboard", "one CloudWatch dashboard per stack",
    "One dashboard per stack, one row per construct: a service is read on one screen, and dashboards beyond "
    "the free three cost $3/month each.",
)


def markdown_reference(construct: str) -> str:
    """Render the reference table of one construct's defaults as Markdown (used for the README)."""
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


README_START = "<!-- defaults:start (generated by `make docs` from lambda_manifest/_defaults.py) -->"
README_END = "<!-- defaults:end -->"


def readme_block() -> str:
    """The README section between the markers: one table per construct, in definition order."""
    parts = [README_START]
    for name in constructs_in_reference():
        parts.append(f"\n#### {name} defaults\n\n{markdown_reference(name)}\n")
    parts.append(README_END)
    return "\n".join(parts)


def update_readme(path: str = "README.md") -> bool:
    """Rewrite the generated block of the README; return True when it changed."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    new = text[:start] + readme_block() + text[end:]
    if new != text:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(new)
    return new != text

