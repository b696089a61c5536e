"""The props of an AsyncWorker, resolved and checked before anything is built.

``WorkerProps.resolve`` applies the defaults (all from :mod:`lambda_manifest._defaults`) and collects every
problem into one ``PropsError``. The visibility timeout depends on the worker function's timeout, which is known
only once the function exists: :meth:`WorkerProps.with_function_timeout` completes the props from the built
function, never from a second guess at its defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs

from lambda_manifest import _defaults as defaults
from lambda_manifest import _handlers
from lambda_manifest._function_props import FunctionOptions, function_options
from lambda_manifest._validation import Problems, is_token, pick, seconds
from lambda_manifest.runtime.worker.contract import ENV_NAMES as RUNTIME_ENV
from lambda_manifest.runtime.worker.contract import (
    ENV_PROCESS,
)
from lambda_manifest.runtime.worker.contract import HANDLER as WORKER_ENTRY

# ObservedFunction props that configure asynchronous invocation; an event source mapping invokes synchronously.
_ASYNC_PROPS = ("async_invocation", "retry_attempts", "max_event_age", "on_failure")


@dataclass(frozen=True, kw_only=True)
class WorkerProps:
    """Resolved, validated AsyncWorker props. ``function`` is the function given, or the options of the one to
    create (its ``handler``, ``code`` and ``environment`` already set for the worker runtime)."""

    function: lambda_.IFunction | FunctionOptions
    process: str | None
    queue: sqs.IQueue | None
    fifo: bool
    content_based_deduplication: bool | None
    encryption: sqs.QueueEncryption
    encryption_key: kms.IKey | None
    retention_period: cdk.Duration
    visibility_timeout: cdk.Duration | None
    max_receive_count: int
    dead_letter_queue: sqs.IQueue | None
    batch_size: int
    max_batching_window: cdk.Duration | None
    max_concurrency: int | None
    raw_body: bool
    idempotency: bool
    idempotency_window: cdk.Duration | None
    idempotency_key: str | None
    dead_letter_alarm_threshold: int
    age_alarm_threshold: cdk.Duration | None
    dashboard: bool

    @staticmethod
    def resolve(id: str, path: str, *, function: lambda_.IFunction | FunctionOptions | None, process: str | None,
                code: lambda_.Code | None, queue: sqs.IQueue | None, fifo: bool | None,
                content_based_deduplication: bool | None, encryption: sqs.QueueEncryption | None,
                encryption_key: kms.IKey | None, retention_period: cdk.Duration | None,
                visibility_timeout: cdk.Duration | None, max_receive_count: int | None,
                dead_letter_queue: sqs.IQueue | None, batch_size: int | None,
                max_batching_window: cdk.Duration | None, max_concurrency: int | None, raw_body: bool | None,
                idempotency: bool | None, idempotency_window: cdk.Duration | None, idempotency_key: str | None,
                dead_letter_alarm_threshold: int | None, age_alarm_threshold: cdk.Duration | None,
                dashboard: bool | None) -> WorkerProps:
        problems = Problems("AsyncWorker", id)
        if queue is not None:
            _check_existing_queue(problems, queue, fifo=fifo, content_based_deduplication=content_based_deduplication,
                                  encryption=encryption, encryption_key=encryption_key,
                                  retention_period=retention_period, visibility_timeout=visibility_timeout,
                                  max_receive_count=max_receive_count, dead_letter_queue=dead_letter_queue)
            fifo = bool(queue.fifo)
            redrive = queue.dead_letter_queue if isinstance(queue, sqs.Queue) else None
            dead_letter_queue = dead_letter_queue or (redrive.queue if redrive else None)
            if redrive is not None:
                max_receive_count = int(redrive.max_receive_count)
            visibility_timeout = _visibility_of(queue)
        idempotency = pick(idempotency, defaults.IDEMPOTENCY.value)
        props = WorkerProps(
            function=_worker_function(problems, id, path, function, process, code),  # type: ignore[arg-type]
            process=process,
            queue=queue,
            fifo=bool(fifo),
            content_based_deduplication=content_based_deduplication,
            encryption=encryption or sqs.QueueEncryption[defaults.QUEUE_ENCRYPTION.value],
            encryption_key=encryption_key,
            retention_period=retention_period or cdk.Duration.days(defaults.QUEUE_RETENTION_DAYS.value),
            visibility_timeout=visibility_timeout,
            # not `or`: 0 is a value to reject, not a request for the default
            max_receive_count=pick(max_receive_count, defaults.MAX_RECEIVE_COUNT.value),
            dead_letter_queue=dead_letter_queue,
            batch_size=pick(batch_size, defaults.BATCH_SIZE.value),
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
            raw_body=pick(raw_body, defaults.RAW_BODY.value),
            idempotency=idempotency,
            idempotency_window=idempotency_window or (
                cdk.Duration.seconds(defaults.IDEMPOTENCY_WINDOW_SECONDS.value) if idempotency else None),
            idempotency_key=idempotency_key,
            dead_letter_alarm_threshold=pick(dead_letter_alarm_threshold, defaults.DLQ_ALARM_THRESHOLD.value),
            age_alarm_threshold=age_alarm_threshold,
            dashboard=pick(dashboard, defaults.WORKER_DASHBOARD.value),
        )
        props._check(problems, given_window=idempotency_window, given_key=idempotency_key)
        problems.raise_if_any()
        return props

    def with_function_timeout(self, id: str, timeout: cdk.Duration | None) -> WorkerProps:
        """The props completed from the built function's timeout (``None`` for an imported function): the
        visibility timeout defaults to, and may not be shorter than, 6 x that timeout + the batching window."""
        problems = Problems("AsyncWorker", id)
        timeout_s = seconds(timeout)
        minimum = None if timeout_s is None else int(
            defaults.VISIBILITY_TIMEOUT_FACTOR * timeout_s + (seconds(self.max_batching_window) or 0.0))
        visibility = self.visibility_timeout
        if visibility is None and minimum is not None:
            visibility = cdk.Duration.seconds(minimum)
        visibility_s = seconds(visibility)
        if visibility is None:
            problems.add("visibility_timeout", "set when the function timeout is unknown (a token, or an imported "
                         "function)", None,
                         "pass visibility_timeout explicitly (at least 6 x the timeout + the batching window)")
        if visibility_s is not None and minimum is not None and visibility_s < minimum:
            problems.add("visibility_timeout", f"at least {minimum} seconds (6 x the function timeout + "
                         "max_batching_window)", visibility_s,
                         f"pass visibility_timeout=Duration.seconds({minimum}) or leave it unset; a shorter value "
                         "makes a message visible again while a retried invocation is still processing it")
        if visibility_s is not None and visibility_s > defaults.VISIBILITY_TIMEOUT_MAX_SECONDS:
            problems.add("visibility_timeout", f"at most {defaults.VISIBILITY_TIMEOUT_MAX_SECONDS} seconds (12 h)",
                         visibility_s, "lower the function timeout or the batching window")
        window_s = seconds(self.idempotency_window)
        if self.idempotency and window_s is not None and visibility_s is not None and window_s < visibility_s:
            problems.add("idempotency_window", f"at least the visibility timeout ({visibility_s:g} seconds)", window_s,
                         "a message redelivered after a lost delete arrives one visibility timeout later and must "
                         "still be remembered; pass e.g. Duration.hours(1)")
        problems.raise_if_any()
        return dataclasses.replace(self, visibility_timeout=visibility)

    def _check(self, problems: Problems, *, given_window: cdk.Duration | None, given_key: str | None) -> None:
        fifo = self.fifo
        if self.content_based_deduplication is not None and not fifo:
            problems.add("content_based_deduplication", "used only with fifo=True", self.content_based_deduplication,
                         "drop it, or pass fifo=True")
        if self.encryption not in (sqs.QueueEncryption.KMS, sqs.QueueEncryption.SQS_MANAGED):
            problems.add("encryption", "QueueEncryption.KMS or QueueEncryption.SQS_MANAGED", self.encryption.value,
                         "unencrypted queues are not allowed, and SNS/EventBridge cannot use the AWS-managed "
                         "aws/sqs key")
        if self.encryption_key is not None and self.encryption != sqs.QueueEncryption.KMS:
            problems.add("encryption_key", "used only with encryption=QueueEncryption.KMS", "set",
                         "drop it, or pass encryption=QueueEncryption.KMS")
        low, high = defaults.RETENTION_RANGE_SECONDS
        retention = seconds(self.retention_period)
        if retention is not None and not low <= retention <= high:
            problems.add("retention_period", f"between {low} seconds and {high // 86400} days (the SQS limits)",
                         retention, "pass between Duration.minutes(1) and Duration.days(14)")
        low, high = defaults.MAX_RECEIVE_RANGE
        problems.check_range("max_receive_count", self.max_receive_count, low, high, "",
                             f"pass e.g. max_receive_count={defaults.MAX_RECEIVE_COUNT.value}")
        dlq = self.dead_letter_queue
        if dlq is not None and bool(getattr(dlq, "fifo", False)) != fifo:
            kind = "a FIFO queue" if fifo else "a standard queue"
            problems.add("dead_letter_queue", f"{kind}, like the source queue", dlq.node.path,
                         "SQS moves messages only between queues of the same type; pass a matching DLQ or let "
                         "AsyncWorker create one")
        self._check_batching(problems)
        if isinstance(self.function, FunctionOptions):
            reserved = self.function.reserved_concurrent_executions
            concurrency = self.max_concurrency
            if reserved is not None and concurrency is not None and not is_token(reserved) \
                    and not is_token(concurrency) and concurrency > reserved:
                problems.add("max_concurrency", f"at most reserved_concurrent_executions ({reserved})",
                             concurrency, "lower it: polling above the reserved concurrency only throttles, and "
                             "throttled messages use up max_receive_count")
        if not self.idempotency:
            for name, value in (("idempotency_window", given_window), ("idempotency_key", given_key)):
                if value is not None:
                    problems.add(name, "used only with idempotency=True", "set", f"pass idempotency=True, or drop {name}")
        elif given_key is not None and not given_key.strip():
            problems.add("idempotency_key", "a JMESPath expression", given_key,
                         "pass e.g. 'body.order_id', or leave it unset to key on the whole body")
        if self.dead_letter_alarm_threshold < 1:
            problems.add("dead_letter_alarm_threshold", "at least 1", self.dead_letter_alarm_threshold,
                         "an alarm at 0 would always fire")
        age = seconds(self.age_alarm_threshold)
        if age is not None and age < defaults.AGE_ALARM_MIN_SECONDS:
            problems.add("age_alarm_threshold", f"at least {defaults.AGE_ALARM_MIN_SECONDS} seconds", age,
                         "SQS publishes the metric every minute; pass e.g. Duration.minutes(15)")

    def _check_batching(self, problems: Problems) -> None:
        batch, window = self.batch_size, self.max_batching_window
        window_seconds = seconds(window)
        if self.fifo:
            low, high = defaults.BATCH_SIZE_RANGE_FIFO
            problems.check_range("batch_size", batch, low, high, "for a FIFO queue",
                                 "pass 1-10; FIFO event sources take at most 10 messages per batch")
            if window is not None:
                problems.add("max_batching_window", "unset for a FIFO queue", window.to_human_string(),
                             "Lambda does not support batching windows on FIFO queues; drop it")
        else:
            low, high = defaults.BATCH_SIZE_RANGE_STANDARD
            problems.check_range("batch_size", batch, low, high, "",
                                 "pass 1-10000 (the Lambda limit for standard queues)")
            if not is_token(batch) and batch > defaults.BATCH_SIZE_WITHOUT_WINDOW and not window_seconds \
                    and (window is None or not is_token(window.to_string())):
                problems.add("batch_size", f"at most {defaults.BATCH_SIZE_WITHOUT_WINDOW} without "
                             "max_batching_window", batch,
                             "Lambda needs a batching window to gather more than 10 messages; pass e.g. "
                             "max_batching_window=Duration.seconds(5), or batch_size=10")
        low, high = defaults.MAX_BATCHING_WINDOW_RANGE_SECONDS
        problems.check_range("max_batching_window", window_seconds, low, high, "seconds",
                             "pass between Duration.seconds(0) and Duration.minutes(5)")
        low, high = defaults.MAX_CONCURRENCY_RANGE
        problems.check_range("max_concurrency", self.max_concurrency, low, high, "",
                             "pass 2-1000 (the Lambda limits for SQS), or leave it unset")


def _worker_function(
    problems: Problems, id: str, path: str, function: lambda_.IFunction | FunctionOptions | None,
    process: str | None, code: lambda_.Code | None,
) -> lambda_.IFunction | FunctionOptions | None:
    """The function given, or the options of the worker function to create."""
    if function is None and process is None:
        problems.add("function", "a Lambda function or FunctionOptions, or process= must be set", None,
                     "pass process='my_service.jobs:process' to run the shipped worker runtime")
        return None
    if function is not None and not isinstance(function, FunctionOptions):
        if isinstance(function, dict):
            function_options(problems, "function", function)
            return None
        if not (hasattr(function, "function_arn") and hasattr(function, "add_event_source")):
            problems.add("function", "a Lambda function (any IFunction) or FunctionOptions(...)",
                         type(function).__name__, "pass function=FunctionOptions(handler='module.main', code=...)")
            return None
        if code is not None:
            problems.add("code", "unset when function is a Lambda function", "set",
                         "the function brings its own code; drop code=, or pass FunctionOptions")
        if process is not None:
            problems.add("process", "unset when function is a Lambda function", process,
                         f"set {ENV_PROCESS} on your function yourself, or pass FunctionOptions")
        return function
    options = function or FunctionOptions()
    if code is not None:
        options = options.with_defaults(code=code)
    if process is not None and options.handler is not None:
        problems.add("function", "FunctionOptions without a handler when process= is given", options.handler,
                     f"drop one: process= sets the handler to {WORKER_ENTRY}")
    if process is None and options.handler is None:
        problems.add("function", "FunctionOptions with a handler, or process= must be set", None,
                     "pass FunctionOptions(handler='module.main', ...) or process='module:function'")
    for name in _ASYNC_PROPS:
        if getattr(options, name) not in (None, False):
            problems.add(f"function.{name}", "unset: the event source mapping invokes the worker synchronously",
                         getattr(options, name), "drop it; failed messages go to the queue's dead-letter queue")
    environment = dict(options.environment or {})
    for name in environment:
        if name in RUNTIME_ENV and not (name == ENV_PROCESS and process is None):
            problems.add(f"function.environment[{name!r}]", "set by AsyncWorker, not by hand", name,
                         "use the matching AsyncWorker prop (process, fifo, raw_body, idempotency*)")
    if process is not None:
        if options.code is None:
            module = process.partition(":")[0]
            problems.add("code", f"the code that holds the process module {module!r}", None,
                         "pass code=lambda_.Code.from_asset('src') (or FunctionOptions(code=...)) with the folder "
                         f"that holds {module.replace('.', '/')}.py; the worker runtime arrives as a layer")
        else:
            # The module the worker runtime will import, checked in the worker's own code (read, not imported).
            _handlers.add_to(problems, _handlers.check_handler(
                process, options.code, prop="process", form="process",
                runtime_roots=[_handlers.LIBRARY_RUNTIME], opaque_layers=bool(options.layers)))
        options = dataclasses.replace(options, handler=WORKER_ENTRY,
                                      environment={**environment, ENV_PROCESS: process})
    return options.with_defaults(service_name=id, description=f"Worker of the queue {path}")


def _check_existing_queue(problems: Problems, queue: sqs.IQueue, **given: object) -> None:
    for name, value in given.items():
        if name == "dead_letter_queue" or value in (None, False):
            continue
        problems.add(name, "unset when queue= is given", value if isinstance(value, (bool, int, str)) else "set",
                     "configure it on your queue, or drop queue= to let AsyncWorker create the queue")
    has_redrive = isinstance(queue, sqs.Queue) and queue.dead_letter_queue is not None
    if given["dead_letter_queue"] is None and not has_redrive:
        problems.add("queue", "a queue with a dead-letter queue, or dead_letter_queue= must be given",
                     queue.node.path, "create it with sqs.Queue(..., dead_letter_queue=sqs.DeadLetterQueue(...)), "
                     "or pass dead_letter_queue= the queue its redrive policy names; a worker without one "
                     "retries a poison message until it expires")


def _visibility_of(queue: sqs.IQueue) -> cdk.Duration | None:
    """The visibility timeout of a queue defined in this app (SQS's default of 30 s when it sets none)."""
    resource = queue.node.default_child if isinstance(queue, sqs.Queue) else None
    if not isinstance(resource, sqs.CfnQueue):
        return None
    value = resource.visibility_timeout
    return cdk.Duration.seconds(30 if value is None else value)
