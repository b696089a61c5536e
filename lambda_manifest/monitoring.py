"""Alarm and widget factories shared by the constructs.

Every alarm the library creates goes through :func:`create_alarm`, so they all have an action, a
description that says what to do, and the same treatment of missing data.
"""

from __future__ import annotations

import functools
import weakref

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_manifest import _defaults as defaults

# One SnsAction per topic: an action only names its topic, so every alarm notifying the topic can share it,
# and each new one is a round trip to Node.
_ACTIONS: weakref.WeakKeyDictionary[sns.ITopic, cw_actions.SnsAction] = weakref.WeakKeyDictionary()


def _action(topic: sns.ITopic) -> cw_actions.SnsAction:
    action = _ACTIONS.get(topic)
    if action is None:
        action = _ACTIONS[topic] = cw_actions.SnsAction(topic)
    return action


def create_alarm(
    scope: Construct,
    id: str,
    *,
    metric: cloudwatch.IMetric,
    threshold: float,
    description: str,
    action_topic: sns.ITopic,
    comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation_periods: int = defaults.ALARM_EVALUATION_PERIODS,
) -> cloudwatch.Alarm:
    """An alarm that notifies ``action_topic`` when it fires and when it recovers.

    Missing data counts as not breaching: a function that is not invoked is healthy, not alarming.
    """
    alarm = cloudwatch.Alarm(
        scope,
        id,
        metric=metric,
        threshold=threshold,
        comparison_operator=comparison,
        evaluation_periods=evaluation_periods,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
    action = _action(action_topic)
    alarm.add_alarm_action(action)
    alarm.add_ok_action(action)
    return alarm


@functools.cache
def period() -> cdk.Duration:
    """The alarm and dashboard period. Durations are immutable, so one object serves every metric and saves a
    jsii round trip per metric."""
    return cdk.Duration.seconds(defaults.ALARM_PERIOD_SECONDS)


def header(title: str, body: str = "") -> cloudwatch.TextWidget:
    text = f"### {title}" + (f"\n{body}" if body else "")
    return cloudwatch.TextWidget(markdown=text, width=24, height=1 if not body else 2)


def graph(title: str, left: list[cloudwatch.IMetric], right: list[cloudwatch.IMetric] | None = None) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=left, right=right or [], width=8, height=6)
