"""The metrics, alarms and dashboard row of an AiGatewayFunction: a mixin, so the construct module holds the
construction and this one what watches it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_manifest import monitoring
from lambda_manifest._validation import seconds
from lambda_manifest.runtime.gateway import contract

if TYPE_CHECKING:
    from lambda_manifest._gateway_options import Provider

class GatewayMonitoring(Construct):
    """Metrics of the gateway runtime's EMF output, the alarms on them and the dashboard row: the base of
    ``AiGatewayFunction``."""

    metrics_namespace: str
    providers: dict[str, Provider]
    alarms: dict[str, cloudwatch.Alarm]
    alarm_topic: sns.ITopic

    def metric(self, metric_name: str, *, provider: str | None = None, tenant: str | None = None,
               model: str | None = None, **options: Any) -> cloudwatch.Metric:
        """One of the runtime's EMF metrics. With ``provider=``, ``tenant=``, ``model=`` or ``tenant=`` and
        ``model=``: ``Requests``, ``PromptTokens``, ``CompletionTokens``, ``CostUSD``, ``LatencyMs``, ``Fallbacks``,
        ``CacheHits``, ``QuotaRejections``, ``Errors``, ``UpstreamFailures`` (and ``ProviderFailures`` by
        ``provider=``). With no dimension, gateway-wide: ``Requests``, ``Served``, ``Errors``,
        ``UpstreamFailures``, ``ProviderFailures``, ``Fallbacks``, ``QuotaRejections``, ``CacheHits``. Default:
        sum over 5 minutes."""
        dimensions = {k: v for k, v in (("Provider", provider), ("Tenant", tenant), ("Model", model)) if v}
        if set(dimensions) not in (set(), {"Provider"}, {"Tenant"}, {"Model"}, {"Tenant", "Model"}):
            raise ValueError("metric() needs provider=, tenant=, model=, tenant= with model=, or no dimension (the "
                             f"runtime's dimension sets), got {sorted(dimensions)}")
        if not dimensions and metric_name not in contract.GATEWAY_WIDE_METRICS:
            raise ValueError(f"the runtime publishes {metric_name!r} only by dimension; gateway-wide metrics are "
                             f"{', '.join(contract.GATEWAY_WIDE_METRICS)}")
        return cloudwatch.Metric(
            namespace=self.metrics_namespace, metric_name=metric_name, dimensions_map=dimensions,
            **{"period": monitoring.period(), "statistic": "Sum", **options},
        )

    def metric_upstream_failures(self, **options: Any) -> cloudwatch.Metric:
        """Requests on which no provider answered (502/504), gateway-wide. Default: sum."""
        return self.metric("UpstreamFailures", **options)

    def metric_provider_failures(self, provider: str | None = None, **options: Any) -> cloudwatch.Metric:
        """Failed provider attempts (timeouts, connection errors, 429s, 5xx, malformed answers, 401/403/404),
        including those a retry or fallback made good: of one ``provider``, or gateway-wide. Default: sum."""
        return self.metric("ProviderFailures", provider=provider, **options)

    def metric_served_requests(self, **options: Any) -> cloudwatch.Metric:
        """Requests answered by a provider (not the cache, not refused), gateway-wide. Default: sum."""
        return self.metric("Served", **options)

    def metric_provider_error_rate(self, min_requests: int = 1) -> cloudwatch.MathExpression:
        """Percentage of routed requests (served or failed at every provider) on which every provider failed."""
        using: dict[str, cloudwatch.IMetric] = {"served": self.metric_served_requests(),
                                                "failed": self.metric_upstream_failures()}
        routed = f"({_fill_sum(using)})"
        return cloudwatch.MathExpression(
            expression=f"IF({routed} >= {min_requests}, 100 * FILL(failed, 0) / {routed}, 0)",
            using_metrics=using, period=monitoring.period(), label="Provider error rate (%)",
        )

    def metric_fallback_rate(self, min_requests: int = 1) -> cloudwatch.MathExpression:
        """Fallbacks per 100 requests served by a provider."""
        using: dict[str, cloudwatch.IMetric] = {"served": self.metric_served_requests(),
                                                "fallbacks": self.metric("Fallbacks")}
        return cloudwatch.MathExpression(
            expression=f"IF(FILL(served, 0) >= {min_requests}, 100 * FILL(fallbacks, 0) / FILL(served, 0), 0)",
            using_metrics=using, period=monitoring.period(), label="Fallback rate (%)",
        )

    def metric_quota_rejections(self, **options: Any) -> cloudwatch.Metric:
        """Requests refused by a quota, gateway-wide. Default: sum."""
        return self.metric("QuotaRejections", **options)

    def metric_latency_p99(self) -> cloudwatch.MathExpression:
        """p99 gateway latency of the slowest provider (ms)."""
        using = {f"l{i}": self.metric("LatencyMs", provider=p, statistic="p99")
                 for i, p in enumerate(sorted(self.providers))}
        return cloudwatch.MathExpression(expression=f"MAX([{', '.join(using)}])", using_metrics=using,
                                         period=monitoring.period(), label="Latency p99, slowest provider (ms)")

    def _create_alarms(self, *, provider_error_rate: float | None, fallback_rate: float | None,
                       quota_rejections: int | None, latency: cdk.Duration, min_requests: int) -> None:
        path = self.node.path
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        if provider_error_rate is not None:
            self.alarms["ProviderErrorRate"] = monitoring.create_alarm(
                self, "ProviderErrorRateAlarm", metric=self.metric_provider_error_rate(min_requests),
                threshold=provider_error_rate, comparison=above, action_topic=self.alarm_topic,
                description=f"{path}: every provider failed (502/504) on more than {provider_error_rate:g}% of "
                            "routed requests in 5 minutes. See ProviderFailures by provider and fallback_path in the "
                            "gateway's audit lines: an outage, a revoked provider key or an exhausted provider quota.",
            )
        if fallback_rate is not None:
            self.alarms["FallbackRate"] = monitoring.create_alarm(
                self, "FallbackRateAlarm", metric=self.metric_fallback_rate(min_requests),
                threshold=fallback_rate, comparison=above, action_topic=self.alarm_topic,
                description=f"{path}: more than {fallback_rate:g} fallbacks per 100 served requests in 5 "
                            "minutes: a primary target is failing or slow; answers cost more and take longer. See "
                            "ProviderFailures by provider and fallback_path in the audit lines.",
            )
        if quota_rejections is not None:
            self.alarms["QuotaRejections"] = monitoring.create_alarm(
                self, "QuotaRejectionsAlarm", metric=self.metric_quota_rejections(), threshold=quota_rejections,
                action_topic=self.alarm_topic,
                description=f"{path}: {quota_rejections}+ requests refused by a quota (429) in 5 minutes. Find the "
                            "tenant in the metrics by tenant; raise its limit or talk to it.",
            )
        latency_ms = round((seconds(latency) or 0) * 1000)
        self.alarms["LatencyP99"] = monitoring.create_alarm(
            self, "LatencyAlarm", metric=self.metric_latency_p99(), threshold=latency_ms,
            action_topic=self.alarm_topic,
            description=f"{path}: p99 gateway latency above {latency_ms} ms at the slowest provider. Compare "
                        "LatencyMs by provider; lower that target's timeout or move it down the fallback order.",
        )

    def _add_dashboard_row(self, dashboard: cloudwatch.Dashboard) -> None:
        ns = self.metrics_namespace

        def search(dimensions: str, metric: str, label: str, stat: str = "Sum") -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=f"SEARCH('{{\"{ns}\",{dimensions}}} MetricName=\"{metric}\"', '{stat}', 300)",
                using_metrics={}, label=label, period=monitoring.period(),
            )

        dashboard.add_widgets(monitoring.header(
            f"AI gateway {self.node.path}", f"Namespace `{ns}`; providers {', '.join(sorted(self.providers))}"))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Tokens by tenant", width=6, height=6, left=[
                search("Tenant", "PromptTokens", "prompt"), search("Tenant", "CompletionTokens", "completion")]),
            cloudwatch.GraphWidget(title="Cost (USD) by tenant", width=6, height=6,
                                   left=[search("Tenant", "CostUSD", "cost")]),
            cloudwatch.GraphWidget(title="Tokens by model", width=6, height=6, left=[
                search("Model", "PromptTokens", "prompt"), search("Model", "CompletionTokens", "completion")]),
            cloudwatch.GraphWidget(title="Cost (USD) by model", width=6, height=6,
                                   left=[search("Model", "CostUSD", "cost")]),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Requests (cache, none = refused or failed) and failed attempts by provider",
                                   width=8, height=6, left=[search("Provider", "Requests", "requests")],
                                   right=[search("Provider", "ProviderFailures", "failed attempts")]),
            cloudwatch.GraphWidget(title="Provider errors and fallbacks (%), quota rejections", width=8, height=6,
                                   left=[self.metric_provider_error_rate(), self.metric_fallback_rate()],
                                   right=[self.metric_quota_rejections(label="Quota rejections")]),
            cloudwatch.GraphWidget(title="Latency p99 by provider (ms)", width=8, height=6,
                                   left=[search("Provider", "LatencyMs", "p99", "p99")]),
        )


def _fill_sum(using: Mapping[str, Any]) -> str:
    return " + ".join(f"FILL({name}, 0)" for name in using)
