"""The metrics, alarms and dashboard row of an McpToolGateway: a mixin, so the construct module holds the
construction and this one what watches it. Metric names and the dimension are the MCP runtime's contract."""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_manifest import monitoring
from lambda_manifest.runtime.mcp import contract


class McpMonitoring(Construct):
    """Per-tool metrics of the MCP runtime's EMF output, the alarms on them and the dashboard row: the base of
    ``McpToolGateway``."""

    metrics_namespace: str
    alarm_topic: sns.ITopic

    def metric(self, metric_name: str, tool: str | None = None, **options: Any) -> cloudwatch.Metric:
        """One of the runtime's metrics (``ToolCalls``, ``ToolErrors``, ``ToolLatencyMs``, ``ToolCallsRejected``)
        of one tool, or gateway-wide. Default: sum over 5 minutes (p99 for ``ToolLatencyMs``)."""
        props: dict[str, Any] = {
            "namespace": self.metrics_namespace, "metric_name": metric_name, "period": monitoring.period(),
            "statistic": "p99" if metric_name == contract.METRIC_LATENCY else "Sum",
            **({"dimensions_map": {contract.TOOL_DIMENSION: tool}} if tool is not None else {}), **options}
        return cloudwatch.Metric(**props)

    def metric_error_rate(self, tool: str | None = None, min_calls: int = 1) -> cloudwatch.MathExpression:
        """Tool errors as a percentage of calls (0 in periods with fewer than ``min_calls`` calls)."""
        return cloudwatch.MathExpression(
            expression=f"IF(calls >= {min_calls}, 100 * errors / calls, 0)",
            using_metrics={"calls": self.metric(contract.METRIC_CALLS, tool),
                           "errors": self.metric(contract.METRIC_ERRORS, tool)},
            period=monitoring.period(), label=f"{tool or 'all tools'}: tool errors (%)")

    def _tool_alarms(self, name: str, timeout_s: float, *, error_rate: float | None, fraction: float | None,
                     min_calls: int) -> dict[str, cloudwatch.Alarm]:
        """The tool's alarms: its error rate, and its p99 latency against its function's timeout."""
        alarms: dict[str, cloudwatch.Alarm] = {}
        safe = re.sub(r"[^A-Za-z0-9]", "", name.title()) or "Tool"
        if error_rate is not None:
            alarms["ErrorRate"] = monitoring.create_alarm(
                self, f"{safe}ErrorRateAlarm", metric=self.metric_error_rate(name, min_calls), threshold=error_rate,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, action_topic=self.alarm_topic,
                description=f"{self.node.path}: more than {error_rate:g}% of calls to MCP tool '{name}' ended in a "
                            "tool error in 5 minutes. The audit lines (type mcp_tool_call) name each error_type; "
                            "the tool function's own logs and alarms say why.")
        if fraction is not None:
            threshold_ms = round(timeout_s * 1000 * fraction)
            alarms["LatencyP99"] = monitoring.create_alarm(
                self, f"{safe}LatencyAlarm", metric=self.metric(contract.METRIC_LATENCY, name),
                threshold=threshold_ms, comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                action_topic=self.alarm_topic,
                description=f"{self.node.path}: p99 latency of MCP tool '{name}' above {threshold_ms} ms, "
                            f"{fraction:g} of its {timeout_s:g} s timeout: calls will start timing out. See the "
                            "tool function's duration and its dependencies.")
        return alarms

    def _add_dashboard_row(self, dashboard: cloudwatch.Dashboard) -> None:
        ns = self.metrics_namespace

        def search(metric: str, stat: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=f"SEARCH('{{\"{ns}\",{contract.TOOL_DIMENSION}}} MetricName=\"{metric}\"', '{stat}', 300)",
                using_metrics={}, label=metric, period=monitoring.period())

        dashboard.add_widgets(monitoring.header(f"MCP tools {self.node.path}", f"Namespace `{ns}`"))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Calls by tool", width=8, height=6, left=[search(contract.METRIC_CALLS, "Sum")]),
            cloudwatch.GraphWidget(title="Tool errors by tool", width=8, height=6,
                                   left=[search(contract.METRIC_ERRORS, "Sum")],
                                   right=[self.metric(contract.METRIC_REJECTED, label="rejected calls")]),
            cloudwatch.GraphWidget(title="Latency p99 by tool (ms)", width=8, height=6,
                                   left=[search(contract.METRIC_LATENCY, "p99")]),
        )
