"""Idle monthly cost of ContentModerationStack, computed from its synthesized template, beside a server gateway.

"Idle" means deployed and receiving no requests. Every resource in the template is counted by type and priced
with the published us-east-1 list prices below (checked 2025-06; prices change, so each one is stated here).
Everything billed per request, per GB-second or per GB ingested costs nothing while idle and is listed at $0.
The reference is the issue's figure for one published AWS reference deployment of a server gateway
(LiteLLM-style proxy on containers with Postgres and Redis): about $378/month before a single token.

Run: ``.venv/bin/python bench/bench_gateway_cost.py [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PRICES_AS_OF = "2025-06 (us-east-1 list prices)"
KMS_KEY_MONTH = 1.00  # per customer-managed key per month (+$1 per rotation for the first two rotations, max $3)
SECRET_MONTH = 0.40  # Secrets Manager, per secret per month
ALARM_METRIC_MONTH = 0.10  # CloudWatch standard-resolution alarm, per metric the alarm evaluates
DASHBOARD_MONTH = 3.00  # CloudWatch dashboard, per month beyond the 3 free per account
SQS_PER_MILLION = 0.40  # SQS requests beyond the 1M free per month
SQS_IDLE_RECEIVES = 5 * 3 * 60 * 24 * 30  # Lambda's 5 pollers x one 20 s long poll each, per idle month
REFERENCE_SERVER_MONTH = 378.0  # the server gateway reference deployment cited in the issue

# Billed only per request, per GB-second, per GB stored or ingested: $0 while idle and empty.
ZERO_WHEN_IDLE = {
    "AWS::Lambda::Function": "per request + GB-second",
    "AWS::ApiGatewayV2::Api": "$1.00 per million requests",
    "AWS::DynamoDB::Table": "on-demand: per request; storage and PITR per GB (empty: ~0)",
    "AWS::SNS::Topic": "per publish / delivery",
    "AWS::Logs::LogGroup": "per GB ingested / stored (idle: ~0)",
    "AWS::Logs::MetricFilter": "custom metric billed only in hours it receives data",
    "AWS::Backup::BackupPlan": "backup storage per GB (empty tables: ~0)",
    "AWS::Backup::BackupVault": "free; storage per GB",
}


def template() -> dict[str, Any]:
    import aws_cdk as cdk

    from stacks.content_moderation import ContentModerationStack

    app = cdk.App()
    stack = ContentModerationStack(app, "ContentModerationStack")
    assembly = app.synth()
    return dict(assembly.get_stack_by_name(stack.stack_name).template)


def alarm_metrics(alarm: dict[str, Any]) -> int:
    """CloudWatch bills an alarm per metric it evaluates: 1, or each MetricStat of a metric-math alarm."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return 1
    return sum(1 for query in props.get("Metrics", []) if "MetricStat" in query)


def costs(tpl: dict[str, Any]) -> tuple[list[tuple[str, int, str, float]], Counter[str]]:
    resources = tpl["Resources"]
    types = Counter(r["Type"] for r in resources.values())
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    metrics = sum(alarm_metrics(a) for a in alarms)
    queues_polled = types["AWS::Lambda::EventSourceMapping"]
    sqs_requests = queues_polled * SQS_IDLE_RECEIVES
    rows: list[tuple[str, int, str, float]] = [
        ("KMS customer-managed key", types["AWS::KMS::Key"], f"${KMS_KEY_MONTH:.2f}/key (first year)",
         types["AWS::KMS::Key"] * KMS_KEY_MONTH),
        ("Secrets Manager secrets", types["AWS::SecretsManager::Secret"], f"${SECRET_MONTH:.2f}/secret",
         types["AWS::SecretsManager::Secret"] * SECRET_MONTH),
        (f"CloudWatch alarms ({metrics} alarm metrics)", len(alarms), f"${ALARM_METRIC_MONTH:.2f}/alarm metric",
         metrics * ALARM_METRIC_MONTH),
        ("CloudWatch dashboard", types["AWS::CloudWatch::Dashboard"], f"${DASHBOARD_MONTH:.2f} beyond 3 free",
         0.0),
        (f"SQS idle long polls (~{sqs_requests / 1e6:.2f}M requests)", queues_polled,
         f"first 1M free, then ${SQS_PER_MILLION:.2f}/M", max(0.0, sqs_requests - 1e6) / 1e6 * SQS_PER_MILLION),
    ]
    for type_, why in ZERO_WHEN_IDLE.items():
        if types[type_]:
            rows.append((type_.split("::", 1)[1], types[type_], why, 0.0))
    rows.append(("SQS queues, IAM, Lambda permissions, routes, stage", types["AWS::SQS::Queue"],
                 "no charge while idle", 0.0))
    return rows, types


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tpl = template()
    rows, types = costs(tpl)
    total = sum(row[3] for row in rows)
    dashboards = types["AWS::CloudWatch::Dashboard"] * DASHBOARD_MONTH
    if args.json:
        print(json.dumps({"rows": rows, "total": total, "total_with_dashboards": total + dashboards,
                          "reference": REFERENCE_SERVER_MONTH, "resources": sum(types.values())}))
        return 0
    print(f"Idle monthly cost of ContentModerationStack ({sum(types.values())} resources), prices {PRICES_AS_OF}\n")
    print("| item | count | price | USD/month |")
    print("| --- | ---: | --- | ---: |")
    for name, count, price, usd in rows:
        print(f"| {name} | {count} | {price} | {usd:.2f} |")
    print(f"| **ContentModerationStack, idle** | | | **{total:.2f}** (${total + dashboards:.2f} if the "
          "account already has 3 dashboards) |")
    print(f"| Server gateway reference deployment (issue) | | containers + Postgres + Redis | "
          f"**{REFERENCE_SERVER_MONTH:.2f}** |")
    print(f"\nThe server deployment costs {REFERENCE_SERVER_MONTH / (total + dashboards):.0f}x to "
          f"{REFERENCE_SERVER_MONTH / total:.0f}x more before its first request. No compute is billed while idle: "
          "the fixed charges are the KMS key, the secrets and the alarms. Alarms are counted per metric they "
          "evaluate (a metric-math rate alarm counts each of its metrics), without the account's 10 free alarm "
          "metrics, so the figure is an upper bound; billed per alarm it would be "
          f"${total - rows[2][3] + rows[2][1] * ALARM_METRIC_MONTH:.2f}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
