"""Synth cost of N ObservedFunctions against N hand-written aws_lambda.Functions with the same settings.

Both variants build the same resources (function with a KMS-encrypted environment, encrypted log group, role
with a customer-managed policy, three alarms with an SNS action, the same dashboard row, and a stack key whose
policy lets CloudWatch Logs and CloudWatch alarms use it: without that the hand-written stack's log group could
not be created and its alarms could not notify) and carry the same nine
cdk-nag acknowledgements and their Checkov skips a compliant function needs, so the ratio measures what the library adds, not what it builds. The two sides
are interleaved (see interleave.py): A B A B in every process, half the processes starting with each.

Run: ``.venv/bin/python bench/bench_synth.py [--processes 4] [--pairs 3] [--sizes 1,10,50]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from interleave import interleaved, ratio, spread

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = r"""
import sys, time
t0 = time.perf_counter()
import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_, aws_logs as logs, aws_iam as iam, aws_kms as kms, aws_sns as sns
from aws_cdk import aws_cloudwatch as cw, aws_cloudwatch_actions as cwa
from lambda_manifest import ObservedFunction
t_import = time.perf_counter()


def build(variant, n, outdir):
    app = cdk.App(outdir=outdir)
    stack = cdk.Stack(app, "Bench")
    code = lambda_.Code.from_inline("def main(e, c):\n    return e\n")
    _add(variant, n, stack, code)
    app.synth()


def _add(variant, n, stack, code):
    if variant == "library":
        for i in range(n):
            ObservedFunction(stack, f"Fn{i}", handler="index.main", code=code, powertools=False)
    elif variant == "handwritten":
        key = kms.Key(stack, "Key", enable_key_rotation=True)
        # What the key needs for this stack to work: CloudWatch Logs encrypts the log groups with it (without
        # this statement the log group cannot be created), and CloudWatch alarms publish to the encrypted topic.
        key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                    f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"}}))
        key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")], actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"], conditions={"StringEquals": {"aws:SourceAccount": stack.account}}))
        topic = sns.Topic(stack, "Alarms", master_key=key, enforce_ssl=True)
        dash = cw.Dashboard(stack, "Dash")
        for i in range(n):
            group = logs.LogGroup(stack, f"Logs{i}", retention=logs.RetentionDays.ONE_YEAR, encryption_key=key)
            role = iam.Role(stack, f"Role{i}", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
            policy = iam.ManagedPolicy(stack, f"Policy{i}", statements=[iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[group.log_group_arn]),
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn])])
            role.add_managed_policy(policy)
            fn = lambda_.Function(stack, f"Fn{i}", handler="index.main", code=code, runtime=lambda_.Runtime.PYTHON_3_14,
                architecture=lambda_.Architecture.ARM_64, memory_size=256, timeout=cdk.Duration.seconds(30),
                role=role, tracing=lambda_.Tracing.ACTIVE, logging_format=lambda_.LoggingFormat.JSON,
                environment_encryption=key,
                application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
                system_log_level_v2=lambda_.SystemLogLevel.WARN, log_group=group,
                environment={"POWERTOOLS_SERVICE_NAME": f"Fn{i}"})
            errors, throttles = fn.metric_errors(), fn.metric_throttles()
            duration = fn.metric_duration(statistic="p99")
            concurrency = fn.metric("ConcurrentExecutions", statistic="Maximum")
            for name, metric, threshold in (("Errors", errors, 1), ("Throttles", throttles, 1),
                                            ("Duration", duration, 24000)):
                alarm = cw.Alarm(stack, f"{name}{i}", metric=metric, threshold=threshold, evaluation_periods=1,
                                 treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                                 alarm_description=f"Fn{i} {name}")
                alarm.add_alarm_action(cwa.SnsAction(topic))
                alarm.add_ok_action(cwa.SnsAction(topic))
            dash.add_widgets(cw.TextWidget(markdown=f"### Function Fn{i}", width=24, height=1))
            dash.add_widgets(
                cw.GraphWidget(title="Invocations and errors", left=[fn.metric_invocations(), errors],
                               right=[throttles], width=8, height=6),
                cw.GraphWidget(title="Duration", left=[fn.metric_duration(statistic="p50"), duration],
                               width=8, height=6),
                cw.GraphWidget(title="Concurrency", left=[concurrency], width=8, height=6),
            )
            # The acknowledgements a compliant hand-written function needs too (same rules as the library's).
            reason = "The same acknowledgement text a hand-written compliant stack has to carry."
            cdk.Validations.of(fn.node.default_child).acknowledge(*[cdk.Acknowledgment(id=i, reason=reason) for i in (
                "Serverless::Serverless-LambdaDLQ", "HIPAA.Security::HIPAA.Security-LambdaDLQ",
                "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ")])
            cdk.Validations.of(fn.node.default_child).acknowledge(*[cdk.Acknowledgment(id=i, reason=reason) for i in (
                "HIPAA.Security::HIPAA.Security-LambdaConcurrency",
                "NIST.800.53.R5::NIST.800.53.R5-LambdaConcurrency")])
            cdk.Validations.of(fn.node.default_child).acknowledge(*[cdk.Acknowledgment(id=i, reason=reason) for i in (
                "HIPAA.Security::HIPAA.Security-LambdaInsideVPC", "NIST.800.53.R5::NIST.800.53.R5-LambdaInsideVPC",
                "PCI.DSS.321::PCI.DSS.321-LambdaInsideVPC")])
            cdk.Validations.of(policy).acknowledge(
                cdk.Acknowledgment(id="AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason=reason))
            # The Checkov counterparts of the function's acknowledgements, as the library writes them.
            fn.node.default_child.add_metadata("checkov", {"skip": [{"id": c, "comment": reason} for c in (
                "CKV_AWS_116", "CKV_AWS_115", "CKV_AWS_117")]})
n, outdir, order = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
# Warm-up: jsii loads aws-cdk-lib lazily on the first construct, and each L2 module on first use. Both
# variants are built once at the measured size, unmeasured, so neither pays a start-up cost the other does not.
build("library", n, outdir + "-warm-lib")
build("handwritten", n, outdir + "-warm-hand")
for index, variant in enumerate(order):
    started = time.perf_counter()
    build(variant, n, f"{outdir}-{index}-{variant}")
    print(variant, f"{time.perf_counter() - started:.4f}")
"""


def resources_per_function(out: Path) -> float:
    """CloudFormation resources one ObservedFunction adds (from two synthesized sizes)."""
    counts = []
    for n in (1, 11):
        subprocess.run([sys.executable, "-c", PROGRAM, str(n), str(out / f"count{n}"), "library"], check=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        template = json.loads(next((out / f"count{n}-0-library").glob("*.template.json")).read_text())
        counts.append(len(template["Resources"]))
    return (counts[1] - counts[0]) / 10


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,50")
    args = parser.parse_args()
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-synth-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print("| N | hand-written build+synth (s) min / median / max | ObservedFunction (s) min / median / max "
          "| ratio of medians (per-pair min-max) | per function (ms) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in (int(s) for s in args.sizes.split(",")):
        samples = interleaved(PROGRAM, "handwritten", "library", n, args.processes, args.pairs, out)
        per_function = statistics.median(samples["library"]) / n * 1000
        print(f"| {n} | {spread(samples['handwritten'])} | {spread(samples['library'])} | "
              f"{ratio(samples, 'handwritten', 'library')} | {per_function:.0f} |")
    per = resources_per_function(out)
    print(
        f"\n({args.processes} processes x {args.pairs} interleaved pairs per size; jsii start-up, imports and a "
        f"warm-up of both variants excluded; load average {os.getloadavg()[0]:.1f} at the end; total "
        f"{time.perf_counter() - started:.0f} s). One ObservedFunction is {per:.0f} CloudFormation resources, so "
        f"the 500-resource limit of a stack is reached at about {500 // per:.0f} functions (fewer with the "
        f"stack's other resources): the N=50 row is close to the largest stack that can deploy."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
