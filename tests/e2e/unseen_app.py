"""A small app the local runner has never seen: public constructs plus plain aws-cdk-lib, with handler code
written into temporary folders. Every function's module is ``handler.py``, so module isolation matters."""

from __future__ import annotations

import textwrap
from pathlib import Path

AUTH = '''
from aws_lambda_powertools import Logger

logger = Logger()


def main(event, context):
    token = event.get("headers", {}).get("authorization", "")
    logger.info("authorizing", extra={"route": event.get("routeKey")})
    if token == "Bearer letmein":
        return {"isAuthorized": True, "context": {"user": "alice"}}
    return {"isAuthorized": False, "context": {}}
'''

TOKEN_AUTH = '''
def main(event, context):
    token = event["authorizationToken"]
    if token not in ("allow", "deny"):
        raise Exception("Unauthorized")
    effect = "Allow" if token == "allow" else "Deny"
    return {
        "principalId": "partner-1",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
        "context": {"tier": "gold"},
    }
'''

API = '''
import base64
import json
import os

import boto3

VERSION = 1
COUNT = 0
_table = None


def table():
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    return _table


def reply(status, body, **extra):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body), **extra}


def main(event, context):
    global COUNT
    COUNT += 1
    route = event["routeKey"]
    if route == "POST /items":
        item = json.loads(event["body"])
        item["owner"] = event["requestContext"]["authorizer"]["lambda"]["user"]
        table().put_item(Item=item)
        return reply(201, item)
    if route == "GET /items/{id}":
        found = table().get_item(Key={"pk": event["pathParameters"]["id"]}).get("Item")
        return reply(200, found) if found else reply(404, {"message": "not found"})
    if route == "DELETE /items/{id}":
        table().delete_item(Key={"pk": event["pathParameters"]["id"]})
        return {"statusCode": 204}
    if route == "GET /echo/{proxy+}":
        return reply(200, {"event": event, "count": COUNT, "pid": os.getpid(), "version": VERSION,
                           "remaining": context.get_remaining_time_in_millis(), "fn": context.function_name},
                     cookies=["session=abc; HttpOnly", "theme=dark"])
    if route == "GET /plain":
        return {"hello": "world"}
    if route == "GET /bad":
        return {"statusCode": "abc", "body": {"not": "a string"}}
    if route == "GET /boom":
        raise RuntimeError("boom")
    if route == "GET /binary":
        return {"statusCode": 200, "headers": {"content-type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    if route == "GET /env":
        return reply(200, {"QUEUE_URL": os.environ["QUEUE_URL"], "TABLE_NAME": os.environ["TABLE_NAME"],
                           "SECRET_ARN": os.environ["SECRET_ARN"],
                           "secret": boto3.client("secretsmanager").get_secret_value(
                               SecretId=os.environ["SECRET_ARN"])["SecretString"]})
    return reply(418, {"route": route})
'''

SLOW = '''
import time


def main(event, context):
    time.sleep(30)
    return {"statusCode": 200, "body": "too late"}
'''

REST = '''
import json


def main(event, context):
    return {"statusCode": 200, "multiValueHeaders": {"x-multi": ["a", "b"]},
            "body": json.dumps({"event": event})}
'''

WORKER = '''
import json
import os

import boto3

_table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def main(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        receives = int(record["attributes"]["ApproximateReceiveCount"])
        if body.get("poison") or (body.get("flaky") and receives < 2):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        _table.put_item(Item={"pk": f"msg#{body['n']}", "receives": receives})
    return {"batchItemFailures": failures}
'''

SINK = '''
import json
import os

import boto3

_table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def main(event, context):
    if "Records" in event:
        source, key = "sns", event["Records"][0]["Sns"]["Message"]
    else:
        source, key = "events", str(event["detail"]["id"])
    if "fail" in key:
        raise RuntimeError(f"asked to fail: {key}")
    _table.put_item(Item={"pk": f"sink#{source}#{key}", "request": context.aws_request_id})
'''


def write_handlers(root: Path) -> dict[str, Path]:
    folders = {}
    for name, code in (("auth", AUTH), ("token_auth", TOKEN_AUTH), ("api", API), ("slow", SLOW), ("rest", REST),
                       ("worker", WORKER), ("sink", SINK)):
        folder = root / "handlers" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "handler.py").write_text(textwrap.dedent(code).lstrip())
        folders[name] = folder
    return folders


def synth_unseen_app(root: Path) -> Path:
    """Synthesize the app in-process into ``root/cdk.out``; returns the assembly folder."""
    import aws_cdk as cdk
    from aws_cdk import aws_apigateway as rest
    from aws_cdk import aws_apigatewayv2 as apigw
    from aws_cdk import aws_apigatewayv2_authorizers as authorizers
    from aws_cdk import aws_apigatewayv2_integrations as integrations
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_events as events
    from aws_cdk import aws_events_targets as targets
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_lambda_event_sources as sources
    from aws_cdk import aws_secretsmanager as secretsmanager
    from aws_cdk import aws_sns as sns
    from aws_cdk import aws_sns_subscriptions as subscriptions
    from aws_cdk import aws_sqs as sqs

    from lambda_manifest import ObservedFunction

    folders = write_handlers(root)
    (root / "cdk.json").write_text('{"app": "python app.py"}\n')
    out = root / "cdk.out"
    app = cdk.App(outdir=str(out))
    stack = cdk.Stack(app, "UnseenStack")

    table = dynamodb.Table(stack, "Items", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
                           billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST, time_to_live_attribute="expires_at",
                           removal_policy=cdk.RemovalPolicy.DESTROY)
    dlq = sqs.Queue(stack, "JobsDlq")
    queue = sqs.Queue(stack, "Jobs", visibility_timeout=cdk.Duration.seconds(2),
                      dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=2))
    secret = secretsmanager.Secret(stack, "ApiSecret")

    def code(name: str) -> lambda_.Code:
        return lambda_.Code.from_asset(str(folders[name]))

    auth = ObservedFunction(stack, "Auth", handler="handler.main", code=code("auth"))
    api_fn = ObservedFunction(stack, "Api", handler="handler.main", code=code("api"), powertools=False,
                              environment={"TABLE_NAME": table.table_name, "QUEUE_URL": queue.queue_url},
                              secrets={"SECRET_ARN": secret})
    table.grant_read_write_data(api_fn)
    slow = lambda_.Function(stack, "Slow", runtime=lambda_.Runtime.PYTHON_3_12, handler="handler.main",
                            code=code("slow"), timeout=cdk.Duration.seconds(2))
    worker = ObservedFunction(stack, "Worker", handler="handler.main", code=code("worker"), powertools=False,
                              timeout=cdk.Duration.seconds(2), environment={"TABLE_NAME": table.table_name})
    table.grant_read_write_data(worker)
    worker.add_event_source(sources.SqsEventSource(queue, batch_size=5, report_batch_item_failures=True))

    authorizer = authorizers.HttpLambdaAuthorizer(
        "Authorizer", auth, response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
        results_cache_ttl=cdk.Duration.seconds(0))
    http = apigw.HttpApi(stack, "Http", cors_preflight=apigw.CorsPreflightOptions(
        allow_origins=["https://app.example.com"], allow_methods=[apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST],
        allow_headers=["authorization", "content-type"], max_age=cdk.Duration.minutes(10)))
    http.add_stage("Limited", stage_name="limited", auto_deploy=True,
                   throttle=apigw.ThrottleSettings(rate_limit=1, burst_limit=1))
    api_integration = integrations.HttpLambdaIntegration("ApiIntegration", api_fn)
    for method, path in ((apigw.HttpMethod.POST, "/items"), (apigw.HttpMethod.GET, "/items/{id}"),
                         (apigw.HttpMethod.DELETE, "/items/{id}"), (apigw.HttpMethod.GET, "/env")):
        http.add_routes(path=path, methods=[method], integration=api_integration, authorizer=authorizer)
    for path in ("/echo/{proxy+}",):
        http.add_routes(path=path, methods=[apigw.HttpMethod.GET], integration=api_integration, authorizer=authorizer)
    for path in ("/plain", "/bad", "/boom", "/binary"):
        http.add_routes(path=path, methods=[apigw.HttpMethod.GET], integration=api_integration)
    http.add_routes(path="/slow", methods=[apigw.HttpMethod.GET],
                    integration=integrations.HttpLambdaIntegration("SlowIntegration", slow))

    token_auth = lambda_.Function(stack, "TokenAuth", runtime=lambda_.Runtime.PYTHON_3_12, handler="handler.main",
                                  code=code("token_auth"))
    rest_fn = lambda_.Function(stack, "RestFn", runtime=lambda_.Runtime.PYTHON_3_12, handler="handler.main",
                               code=code("rest"))
    api = rest.RestApi(stack, "Partner", deploy_options=rest.StageOptions(stage_name="v1"),
                       default_cors_preflight_options=rest.CorsOptions(allow_origins=["*"]))
    things = api.root.add_resource("things").add_resource("{id}")
    things.add_method("GET", rest.LambdaIntegration(rest_fn), api_key_required=True,
                      authorizer=rest.TokenAuthorizer(stack, "PartnerAuth", handler=token_auth,
                                                      results_cache_ttl=cdk.Duration.seconds(0)))
    plan = api.add_usage_plan("Plan", throttle=rest.ThrottleSettings(rate_limit=1, burst_limit=2),
                              api_stages=[rest.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)])
    plan.add_api_key(api.add_api_key("Key", value="unseen-partner-key-0123456789"))
    # Asynchronous invocations: SNS -> Lambda and an EventBridge pattern rule -> Lambda, one retry, then the
    # on-failure queue that ObservedFunction creates.
    sink = ObservedFunction(stack, "Sink", handler="handler.main", code=code("sink"), powertools=False,
                            async_invocation=True, retry_attempts=1, environment={"TABLE_NAME": table.table_name})
    table.grant_read_write_data(sink)
    topic = sns.Topic(stack, "Things")
    topic.add_subscription(subscriptions.LambdaSubscription(sink))
    events.Rule(stack, "OnThing", event_pattern=events.EventPattern(source=["unseen.app"]),
                targets=[targets.LambdaFunction(sink)])
    app.synth()
    return out
