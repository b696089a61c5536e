"""Synth cost of an HttpServerlessApi with N routes against the same HTTP API written with plain aws-cdk-lib.

Both variants build the same API: an encrypted access-log group, an HTTP API with a throttled ``$default``
stage and JSON access logs, a JWT authorizer, N routes to one function (one Lambda proxy integration, one
scoped permission per route), two error-rate alarms and two latency alarms with an SNS action, and the same
dashboard row (a title, then requests and errors, error rates, latencies). The function is the same ``ObservedFunction`` in both, so the ratio measures what
``HttpServerlessApi`` adds (validation, route bookkeeping, acknowledgements), not what it builds.

The two sides are interleaved (see interleave.py: A B A B in every process, half the processes starting with
each) after an unmeasured warm-up of both at the same size, so jsii start-up, lazy module loading and V8
compilation are paid equally and excluded.

Run: ``.venv/bin/python bench/bench_api_synth.py [--processes 4] [--pairs 3] [--sizes 1,10,50]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from interleave import interleaved, ratio, spread

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = r"""
import json, sys, time
import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as v2, aws_apigatewayv2_integrations as i2, aws_apigatewayv2_authorizers as a2
from aws_cdk import aws_cloudwatch as cw, aws_cloudwatch_actions as cwa, aws_lambda as lambda_, aws_logs as logs
from lambda_manifest import Authorizer, ObservedFunction, HttpServerlessApi, StackResources

ISSUER, AUDIENCE = "https://issuer.example.com/", ["bench"]
FORMAT = json.dumps({"requestId": "$context.requestId", "routeKey": "$context.routeKey", "status": "$context.status",
                     "responseLatency": "$context.responseLatency"})


def routes(n):
    return [f"GET /r{i}/{{id}}" for i in range(n)]


def build(variant, n, outdir):
    app = cdk.App(outdir=outdir)
    stack = cdk.Stack(app, "Bench")
    fn = ObservedFunction(stack, "Fn", handler="index.main", powertools=False,
                          code=lambda_.Code.from_inline("def main(e, c):\n    return e\n"))
    if variant == "library":
        api = HttpServerlessApi(stack, "Api", authorizer=Authorizer.jwt(issuer=ISSUER, audience=AUDIENCE))
        for route in routes(n):
            api.add_route(route, fn)
    else:
        handwritten(stack, fn, n)
    app.synth()


def handwritten(stack, fn, n):
    shared = StackResources.of(stack)
    group = logs.LogGroup(stack, "AccessLogs", retention=logs.RetentionDays.ONE_YEAR, encryption_key=shared.key,
                          removal_policy=cdk.RemovalPolicy.RETAIN)
    api = v2.HttpApi(stack, "Api", create_default_stage=False)
    stage = v2.HttpStage(stack, "Stage", http_api=api, stage_name="$default", auto_deploy=True,
                         throttle=v2.ThrottleSettings(rate_limit=100, burst_limit=200))
    stage.node.default_child.access_log_settings = v2.CfnStage.AccessLogSettingsProperty(
        destination_arn=group.log_group_arn, format=FORMAT)
    authorizer = a2.HttpJwtAuthorizer("Jwt", ISSUER, jwt_audience=AUDIENCE)
    integration = i2.HttpLambdaIntegration("Integration", fn)
    for i, route in enumerate(routes(n)):
        method, path = route.split(" ")
        v2.HttpRoute(api, f"Route{i}", http_api=api, integration=integration, authorizer=authorizer,
                     route_key=v2.HttpRouteKey.with_(path, v2.HttpMethod(method)))
    five = cdk.Duration.minutes(5)
    count = api.metric_count(period=five, statistic="Sum")
    server_errors = api.metric_server_error(period=five)
    client_errors = api.metric_client_error(period=five)
    latency = api.metric_latency(period=five, statistic="p99")
    integration_latency = api.metric_integration_latency(period=five, statistic="p99")

    def rate(errors, kind, label, least):
        return cw.MathExpression(expression=f"IF({kind}Requests >= {least}, 100 * {kind}Errors / {kind}Requests, 0)",
                                 using_metrics={f"{kind}Errors": errors, f"{kind}Requests": count}, period=five,
                                 label=f"{label} rate (%)")

    action = cwa.SnsAction(shared.alarm_topic)
    for name, metric, threshold in (("ServerRate", rate(server_errors, "server", "5xx", 20), 1),
                                    ("ClientRate", rate(client_errors, "client", "4xx", 20), 10),
                                    ("Latency", latency, 3000), ("IntegrationLatency", integration_latency, 2500)):
        alarm = cw.Alarm(stack, name, metric=metric, threshold=threshold, evaluation_periods=1,
                         treat_missing_data=cw.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
    # The same dashboard row as the library's: a title, then requests, error rates and latencies.
    shared.dashboard.add_widgets(cw.TextWidget(markdown="### API Bench/Api (HTTP)", width=24, height=1))
    shared.dashboard.add_widgets(
        cw.GraphWidget(title="Requests and errors", left=[count], right=[client_errors, server_errors], width=8,
                       height=6),
        cw.GraphWidget(title="Error rates (%)", left=[rate(server_errors, "server", "5xx", 1),
                                                      rate(client_errors, "client", "4xx", 1)], width=8, height=6),
        cw.GraphWidget(title="Latency p50 / p99 / integration p99",
                       left=[api.metric_latency(period=five, statistic="p50"), latency, integration_latency], width=8,
                       height=6),
    )
    cdk.CfnOutput(stack, "Url", value=stage.url)


n, outdir, order = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
# Warm-up at the measured size: V8 compiles the per-route code paths only once they run often, so a
# one-route warm-up would leave the first variant measured at N paying for compilation the other does not.
build("library", n, outdir + "-warm-lib")
build("handwritten", n, outdir + "-warm-hand")
for index, variant in enumerate(order):
    t0 = time.perf_counter()
    build(variant, n, f"{outdir}-{index}-{variant}")
    print(variant, f"{time.perf_counter() - t0:.4f}")
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,50")
    args = parser.parse_args()
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-api-synth-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print("| routes | plain aws-cdk-lib (s) min / median / max | HttpServerlessApi (s) min / median / max "
          "| ratio of medians (per-pair min-max) | per route (ms) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in (int(s) for s in args.sizes.split(",")):
        samples = interleaved(PROGRAM, "handwritten", "library", n, args.processes, args.pairs, out)
        print(f"| {n} | {spread(samples['handwritten'])} | {spread(samples['library'])} | "
              f"{ratio(samples, 'handwritten', 'library')} | {statistics.median(samples['library']) / n * 1000:.0f} |")
    print(
        f"\n({args.processes} processes x {args.pairs} interleaved pairs per size; jsii start-up, imports and a "
        f"warm-up of both variants excluded; load average {os.getloadavg()[0]:.1f} at the end; total "
        f"{time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
