"""observe(): the alarms and the dashboard row of an ObservedFunction, for any Lambda function.

``ObservedFunction`` calls this for itself; an app calls it for a function it built another way (a plain
``aws_lambda.Function``, a ``PythonFunction``, one from another library) to watch it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest import monitoring
from lambda_manifest._validation import Problems, is_token, seconds
from lambda_manifest.shared import StackResources


@dataclass
class Observation:
    """What :func:`observe` created: the alarms by name, and the dashboard it added a row to."""

    alarms: dict[str, cloudwatch.Alarm] = field(default_factory=dict)
    dashboard: cloudwatch.Dashboard | None = None


def observe(
    function: lambda_.IFunction,
    *,
    timeout: cdk.Duration | None = None,
    reserved_concurrent_executions: int | None = None,
    on_failure_queue: sqs.IQueue | None = None,
    alarm_topic: sns.ITopic | None = None,
    errors_alarm_threshold: int = defaults.ERRORS_ALARM_THRESHOLD.value,
    throttles_alarm_threshold: int = defaults.THROTTLES_ALARM_THRESHOLD.value,
    duration_alarm_fraction: float = defaults.DURATION_ALARM_FRACTION.value,
    concurrency_alarm_fraction: float = defaults.CONCURRENCY_ALARM_FRACTION.value,
    dashboard: bool = True,
    resources: StackResources | None = None,
    path: str | None = None,
) -> Observation:
    """Give ``function`` the alarms and dashboard row of an ``ObservedFunction``.

    Alarms (each notifying ``alarm_topic``, default the stack's alarm topic): ``Errors`` and ``Throttles``
    (sum over 5 minutes at the thresholds), ``DurationP99`` (p99 above ``duration_alarm_fraction`` of
    ``timeout``; default timeout: the function's own when it is a ``Function``), ``ConcurrencyNearReserved``
    (with reserved concurrency) and ``OnFailureQueueNotEmpty`` (with an on-failure queue). They are created as
    children of ``function``, so their ids follow the function's path.

    ``resources`` (the stack's ``StackResources``) and ``path`` (the function's construct path) save the
    look-ups when the caller already has them, as ``ObservedFunction`` does.
    """
    found: list[tuple[str, str, float, str]] = []
    for prop, value in (("errors_alarm_threshold", errors_alarm_threshold),
                        ("throttles_alarm_threshold", throttles_alarm_threshold)):
        if value < 1:
            found.append((prop, "at least 1", value, "an alarm at 0 would always fire; pass 1 or more"))
    for prop, fraction in (("duration_alarm_fraction", duration_alarm_fraction),
                           ("concurrency_alarm_fraction", concurrency_alarm_fraction)):
        if not 0 < fraction <= 1:
            found.append((prop, "a fraction in (0, 1]", fraction, "pass e.g. 0.8"))
    if found:  # the construct id is read only for the message (a jsii round trip)
        problems = Problems("observe", function.node.id)
        for problem in found:
            problems.add(*problem)
        problems.raise_if_any()

    if timeout is None and isinstance(function, lambda_.Function):
        timeout = function.timeout
    shared = resources or StackResources.of(function)
    topic = alarm_topic or shared.alarm_topic
    path = path or function.node.path
    scope = cast(Construct, function)  # every IFunction is a construct; the alarms become its children
    # Each metric is built once and shared by its alarm and the dashboard: every one is a jsii round trip.
    errors = function.metric_errors(period=monitoring.period())
    throttles = function.metric_throttles(period=monitoring.period())
    duration = function.metric_duration(period=monitoring.period(), statistic="p99")
    concurrency = function.metric("ConcurrentExecutions", period=monitoring.period(), statistic="Maximum")

    result = Observation()
    alarms = result.alarms
    alarms["Errors"] = monitoring.create_alarm(
        scope, "ErrorsAlarm", metric=errors, threshold=errors_alarm_threshold, action_topic=topic,
        description=f"{path}: {errors_alarm_threshold}+ invocation errors in 5 minutes. Check the function's "
                    "log group for ERROR lines and the X-Ray traces of the failing requests.",
    )
    alarms["Throttles"] = monitoring.create_alarm(
        scope, "ThrottlesAlarm", metric=throttles, threshold=throttles_alarm_threshold, action_topic=topic,
        description=f"{path}: {throttles_alarm_threshold}+ throttled invocations in 5 minutes. Raise reserved "
                    "concurrency or the account limit, or slow the producer.",
    )
    timeout_seconds = seconds(timeout)
    if timeout_seconds is not None:
        threshold_ms = round(timeout_seconds * 1000 * duration_alarm_fraction)
        alarms["DurationP99"] = monitoring.create_alarm(
            scope, "DurationAlarm", metric=duration, threshold=threshold_ms, action_topic=topic,
            description=f"{path}: p99 duration above {threshold_ms} ms ({duration_alarm_fraction:.0%} of the "
                        "timeout); requests will start timing out. X-Ray shows where a slow invocation spent its "
                        "time (init or invocation; with trace_aws_sdk=True each AWS call too).",
        )
    reserved = reserved_concurrent_executions
    if reserved and not is_token(reserved):
        limit = max(1, int(reserved * concurrency_alarm_fraction))
        alarms["ConcurrencyNearReserved"] = monitoring.create_alarm(
            scope, "ConcurrencyAlarm", metric=concurrency, threshold=limit, action_topic=topic,
            description=f"{path}: concurrency reached {limit} of {reserved} reserved; throttling is next.",
        )
    if on_failure_queue is not None:
        alarms["OnFailureQueueNotEmpty"] = monitoring.create_alarm(
            scope, "OnFailureQueueAlarm",
            metric=on_failure_queue.metric_approximate_number_of_messages_visible(
                period=monitoring.period(), statistic="Maximum"),
            threshold=1, action_topic=topic,
            description=f"{path}: failed asynchronous events are waiting in {on_failure_queue.node.path}. "
                        "Read them, fix the cause, then re-drive them.",
        )
    if dashboard:
        board = shared.dashboard
        board.add_widgets(monitoring.header(f"Function {path}"))
        board.add_widgets(
            monitoring.graph("Invocations and errors",
                             [function.metric_invocations(period=monitoring.period()), errors], [throttles]),
            monitoring.graph("Duration p50 / p99", [
                function.metric_duration(period=monitoring.period(), statistic="p50"), duration]),
            monitoring.graph("Concurrency", [concurrency]),
        )
        result.dashboard = board
    return result
