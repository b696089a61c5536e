"""The AWS services handlers talk to: a moto server on loopback, filled from the templates.

Created directly through the service APIs (not through moto's CloudFormation, which skips several types):
DynamoDB tables (keys, indexes, streams, TTL), SQS queues (attributes, redrive, FIFO), SNS topics and their
subscriptions, Secrets Manager secrets (placeholder values, overridable from a JSON file), S3 buckets,
KMS keys and aliases, SSM parameters, EventBridge buses and pattern rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lambda_manifest.local.cfn import ACCOUNT_ID, NO_VALUE, REGION, Physical, Resolver, Stack, arn
from lambda_manifest.local.logs import ChildStartError, Console, OutputTail

MOTO_MAIN = Path(__file__).with_name("_moto_main.py")


def fake_credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class MotoServer:
    """A moto server subprocess on 127.0.0.1 that stops when this process's handle on it closes.

    Its output (warnings, and request logs with ``verbose``) is always read, so the pipe never fills and
    blocks the server; it is shown only with ``verbose``, and its tail is part of the error when the server
    fails to start.
    """

    def __init__(self, port: int = 0, *, rehearsal: bool = False, console: Console | None = None,
                 verbose: bool = False) -> None:
        self.rehearsal = rehearsal
        self.requested_port = port
        self.port = 0
        self.process: subprocess.Popen[str] | None = None
        self.console = console
        self.verbose = verbose
        self.tail = OutputTail()
        self._reader: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, **fake_credentials()}
        flags = [*(["--rehearsal"] if self.rehearsal else []), *(["--verbose"] if self.verbose else [])]
        self.tail = OutputTail()
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(MOTO_MAIN), str(self.requested_port), *flags],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            encoding="utf-8", errors="replace", env=env, start_new_session=True,
        )
        stdout = self.process.stdout
        assert stdout is not None
        ready = threading.Event()
        ports: list[int] = []
        self._reader = threading.Thread(target=self._read, args=(stdout, ready, ports), name="moto-output",
                                        daemon=True)
        self._reader.start()
        ended = ready.wait(timeout)
        if not ports:
            status: int | None = None
            if ended:  # its output ended: it exited, or is about to
                with contextlib.suppress(subprocess.TimeoutExpired):
                    status = self.process.wait(timeout=5)
            if status is None:
                what = f"moto server did not start within {timeout:.0f} s"
            else:
                what = f"moto server exited with status {status} before it was ready"
            self.stop()
            raise ChildStartError(what, self.tail)
        self.port = ports[0]

    def _read(self, stream: IO[str], ready: threading.Event, ports: list[int]) -> None:
        for raw in iter(stream.readline, ""):
            line = raw.rstrip("\n")
            if not ports and line.startswith("READY "):
                ports.append(int(line.split()[1]))
                ready.set()
                continue
            self.tail.add(line)
            if self.verbose and self.console is not None:
                self.console.line("moto", line)
        ready.set()  # end of output: the server exited (before READY, start() reports it)
        with contextlib.suppress(OSError):
            stream.close()

    def client(self, service: str, *, host: str = "127.0.0.1") -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service, endpoint_url=f"http://{host}:{self.port}", region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=50),
        )

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        try:
            if process.stdin:
                process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)  # it closes the pipe at end of output


@dataclass
class Created:
    """What the runner created for one resource (for the start-up table)."""

    stack: str
    logical_id: str
    label: str
    kind: str
    name: str
    detail: str = ""


@dataclass
class Provisioned:
    created: list[Created] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # secret ARN -> value
    placeholders: set[str] = field(default_factory=set)  # ARNs of secrets holding a generated placeholder
    # Lambda targets that moto cannot call: (stack, rule or topic logical id, target spec, shim queue URL)
    shims: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def placeholder_secret(stack: str, logical: str, props: dict[str, Any]) -> str:
    """A deterministic, obviously-local value, shaped like what GenerateSecretString would produce."""
    seed = hashlib.sha256(f"lambda-manifest-local:{stack}:{logical}".encode()).hexdigest()
    generate = props.get("GenerateSecretString")
    if isinstance(generate, dict):
        length = int(generate.get("PasswordLength", 32))
        value = ("local" + seed * 4)[:max(length, 8)]
        template = generate.get("SecretStringTemplate")
        key = generate.get("GenerateStringKey")
        if template and key:
            data = json.loads(template)
            data[key] = value
            return json.dumps(data)
        return value
    return "local-" + seed


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


class Provisioner:
    """Creates the supported resources of every stack in moto and records their physical values."""

    ORDER = [
        "AWS::KMS::Key", "AWS::KMS::Alias", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable", "AWS::S3::Bucket", "AWS::SecretsManager::Secret", "AWS::SSM::Parameter",
        "AWS::Events::EventBus", "AWS::SNS::Subscription", "AWS::Events::Rule",
    ]

    def __init__(self, moto: MotoServer, resolver: Resolver, console: Console,
                 secret_overrides: dict[str, Any] | None = None, max_visibility_timeout: int | None = None) -> None:
        self.max_visibility_timeout = max_visibility_timeout
        self.moto = moto
        self.resolver = resolver
        self.console = console
        self.overrides = secret_overrides or {}
        self.result = Provisioned()
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.moto.client(service)
        return self._clients[service]

    def run(self, stacks: list[Stack]) -> Provisioned:
        handlers: dict[str, Callable[[Stack, str, dict[str, Any]], None]] = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::SQS::Queue": self._queue,
            "AWS::SNS::Topic": self._topic,
            "AWS::DynamoDB::Table": self._table,
            "AWS::DynamoDB::GlobalTable": self._table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::SSM::Parameter": self._parameter,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::Events::Rule": self._rule,
        }
        for kind in self.ORDER:
            for stack in stacks:
                items = list(self.resolver.resources(stack, kind))
                if kind == "AWS::SQS::Queue":
                    items = self._queues_in_order(stack, items)
                for logical, resource in items:
                    try:
                        handlers[kind](stack, logical, resource.get("Properties", {}) or {})
                    except Exception as exc:  # one bad resource must not stop the rest
                        self.result.warnings.append(f"{stack.name}/{logical} ({kind}) not created: {exc}")
        return self.result

    def _record(self, stack: Stack, logical: str, kind: str, name: str, detail: str = "") -> None:
        self.result.created.append(Created(stack.name, logical, stack.label(logical), kind, name, detail))

    def _props(self, stack: Stack, props: dict[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolver.resolve(stack, props)
        return resolved

    # -- KMS --------------------------------------------------------------------------------------------
    def _kms_key(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        metadata = self.client("kms").create_key(Description=f"{stack.name}/{logical} (local)")["KeyMetadata"]
        stack.physical[logical] = Physical(metadata["KeyId"], {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]})

    def _kms_alias(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        p = self._props(stack, props)
        target = str(p["TargetKeyId"]).split("/")[-1]
        self.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=target)
        stack.physical[logical] = Physical(str(p["AliasName"]))

    # -- SQS --------------------------------------------------------------------------------------------
    def _queues_in_order(self, stack: Stack, items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        """Dead-letter queues first: moto checks that a redrive target exists."""
        by_id = dict(items)
        ordered: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()

        def visit(logical: str) -> None:
            if logical in seen:
                return
            seen.add(logical)
            redrive = (by_id[logical].get("Properties") or {}).get("RedrivePolicy")
            text = json.dumps(redrive) if redrive else ""
            for other in by_id:
                if other != logical and f'"{other}"' in text:
                    visit(other)
            ordered.append((logical, by_id[logical]))

        for logical in by_id:
            visit(logical)
        return ordered

    def _queue(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        physical = self.resolver.physical(stack, logical)
        name = physical.attributes["QueueName"]
        p = self._props(stack, props)
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
                    "ReceiveMessageWaitTimeSeconds", "DeduplicationScope", "FifoThroughputLimit"):
            if key in p:
                attributes[key] = str(p[key])
        if self.max_visibility_timeout is not None:
            capped = min(int(attributes.get("VisibilityTimeout", "30")), self.max_visibility_timeout)
            attributes["VisibilityTimeout"] = str(capped)
        if _bool(p.get("FifoQueue")):
            attributes["FifoQueue"] = "true"
        if _bool(p.get("ContentBasedDeduplication")):
            attributes["ContentBasedDeduplication"] = "true"
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in p:
                attributes[key] = p[key] if isinstance(p[key], str) else json.dumps(p[key])
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        stack.physical[logical] = Physical(url, {"Arn": arn("sqs", name), "QueueName": name, "QueueUrl": url})
        detail = f"visibility {attributes.get('VisibilityTimeout', '30')} s"
        if "RedrivePolicy" in attributes:
            redrive = json.loads(attributes["RedrivePolicy"])
            detail += f", DLQ {str(redrive.get('deadLetterTargetArn', '')).split(':')[-1]} after {redrive.get('maxReceiveCount')} receives"
        self._record(stack, logical, "queue", name, detail)

    # -- SNS --------------------------------------------------------------------------------------------
    def _topic(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        physical = self.resolver.physical(stack, logical)
        p = self._props(stack, props)
        attributes = {}
        if _bool(p.get("FifoTopic")):
            attributes["FifoTopic"] = "true"
        if _bool(p.get("ContentBasedDeduplication")):
            attributes["ContentBasedDeduplication"] = "true"
        topic_arn = self.client("sns").create_topic(Name=physical.attributes["TopicName"],
                                                     Attributes=attributes)["TopicArn"]
        stack.physical[logical] = Physical(topic_arn, {"TopicArn": topic_arn,
                                                       "TopicName": physical.attributes["TopicName"]})
        self._record(stack, logical, "topic", physical.attributes["TopicName"])
        for index, subscription in enumerate(p.get("Subscription", []) or []):
            self._subscribe(stack, f"{logical}.Subscription{index}", topic_arn, dict(subscription))

    def _subscription(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        p = self._props(stack, props)
        stack.physical[logical] = Physical(self._subscribe(stack, logical, str(p["TopicArn"]), p))

    def _subscribe(self, stack: Stack, logical: str, topic_arn: str, p: dict[str, Any]) -> str:
        protocol = str(p.get("Protocol", "")).lower()
        attributes: dict[str, str] = {}
        if _bool(p.get("RawMessageDelivery")):
            attributes["RawMessageDelivery"] = "true"
        for key in ("FilterPolicy", "RedrivePolicy"):
            if key in p:
                attributes[key] = p[key] if isinstance(p[key], str) else json.dumps(p[key])
        if "FilterPolicyScope" in p:
            attributes["FilterPolicyScope"] = str(p["FilterPolicyScope"])
        endpoint = str(p.get("Endpoint", ""))
        topic = topic_arn.split(":")[-1]
        if protocol == "lambda":
            # moto cannot run Lambda code: a hidden queue receives the notifications and the runner invokes
            # the function with the SNS event shape.
            shim = self._shim_queue(f"sns-{topic}-{hashlib.sha1(endpoint.encode()).hexdigest()[:6]}")
            attributes.pop("RawMessageDelivery", None)
            sub = self.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=shim["arn"],
                                               Attributes=attributes, ReturnSubscriptionArn=True)
            self.result.shims.append({"kind": "sns", "function_arn": endpoint, "queue_url": shim["url"],
                                      "topic_arn": topic_arn, "subscription_arn": sub["SubscriptionArn"],
                                      "source": f"{stack.name}/{logical}"})
            self._record(stack, logical, "subscription", f"{topic} -> {endpoint.split(':')[-1]}", "lambda")
            return str(sub["SubscriptionArn"])
        if protocol not in ("sqs", "sns", "http", "https", "email", "email-json", "sms", "application", "firehose"):
            self.result.warnings.append(f"{stack.name}/{logical}: SNS protocol {protocol!r} is not emulated")
            return arn("sns", f"{topic}:local")
        sub = self.client("sns").subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint,
                                           Attributes=attributes, ReturnSubscriptionArn=True)
        detail = "raw" if attributes.get("RawMessageDelivery") else "envelope"
        self._record(stack, logical, "subscription", f"{topic} -> {endpoint.split(':')[-1]}", f"{protocol}, {detail}")
        return str(sub["SubscriptionArn"])

    def _shim_queue(self, name: str) -> dict[str, str]:
        queue_name = ("lm-local-" + name)[:80]
        url = self.client("sqs").create_queue(QueueName=queue_name)["QueueUrl"]
        return {"url": url, "arn": arn("sqs", queue_name)}

    # -- DynamoDB ---------------------------------------------------------------------------------------
    def _table(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        physical = self.resolver.physical(stack, logical)
        p = self._props(stack, props)
        name = physical.ref
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        indexes = [{k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection")}
                   for gsi in p.get("GlobalSecondaryIndexes", [])]
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        local_indexes = [{k: v for k, v in lsi.items() if k in ("IndexName", "KeySchema", "Projection")}
                         for lsi in p.get("LocalSecondaryIndexes", [])]
        if local_indexes:
            request["LocalSecondaryIndexes"] = local_indexes
        stream = p.get("StreamSpecification")
        if isinstance(stream, dict) and stream.get("StreamViewType"):
            request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        description = self.client("dynamodb").create_table(**request)["TableDescription"]
        attributes = {"Arn": description["TableArn"]}
        if description.get("LatestStreamArn"):
            attributes["StreamArn"] = description["LatestStreamArn"]
        stack.physical[logical] = Physical(name, attributes)
        ttl = p.get("TimeToLiveSpecification")
        detail = "keys " + ", ".join(f"{k['AttributeName']}({k['KeyType'][0]})" for k in p["KeySchema"])
        if indexes:
            detail += "; GSI " + ", ".join(i["IndexName"] for i in indexes)
        if isinstance(ttl, dict) and _bool(ttl.get("Enabled")):
            self.client("dynamodb").update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
            detail += f"; TTL {ttl['AttributeName']}"
        self._record(stack, logical, "table", name, detail)

    # -- S3 ---------------------------------------------------------------------------------------------
    def _bucket(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        name = self.resolver.physical(stack, logical).ref
        self.client("s3").create_bucket(Bucket=name)
        p = self._props(stack, props)
        versioning = p.get("VersioningConfiguration")
        if isinstance(versioning, dict) and versioning.get("Status") == "Enabled":
            self.client("s3").put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        self._record(stack, logical, "bucket", name)

    # -- Secrets Manager / SSM ----------------------------------------------------------------------------
    def _secret_override(self, stack: Stack, logical: str, name: str) -> Any:
        keys = [f"{stack.name}/{logical}", logical, name, stack.path_of(logical).removesuffix("/Resource"),
                f"{stack.name}/{stack.label(logical)}", stack.label(logical)]
        for key in keys:
            if key in self.overrides:
                return self.overrides[key]
        return None

    def _secret(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        name = self.resolver.physical(stack, logical).attributes["Id"]
        p = self._props(stack, props)
        override = self._secret_override(stack, logical, name)
        if override is not None:
            value = override if isinstance(override, str) else json.dumps(override)
            source = "from secrets file"
        elif isinstance(p.get("SecretString"), str):
            value, source = p["SecretString"], "template value"
        else:
            value, source = placeholder_secret(stack.name, logical, p), "placeholder"
        response = self.client("secretsmanager").create_secret(Name=name, SecretString=value)
        stack.physical[logical] = Physical(response["ARN"], {"Id": name})
        self.result.secrets[response["ARN"]] = value
        if source == "placeholder":
            self.result.placeholders.add(response["ARN"])
        self._record(stack, logical, "secret", name, source)

    def _parameter(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        physical = self.resolver.physical(stack, logical)
        p = self._props(stack, props)
        kind = str(p.get("Type", "String"))
        self.client("ssm").put_parameter(Name=physical.ref, Value=str(p.get("Value", "")),
                                         Type=kind if kind in ("String", "StringList") else "String", Overwrite=True)
        self._record(stack, logical, "parameter", physical.ref)

    # -- EventBridge ------------------------------------------------------------------------------------
    def _event_bus(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        physical = self.resolver.physical(stack, logical)
        self.client("events").create_event_bus(Name=physical.ref)
        self._record(stack, logical, "event bus", physical.ref)

    def _rule(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        """Pattern rules go to moto (which delivers to SQS targets); schedules are fired by the runner."""
        p = self._props(stack, props)
        name = self.resolver.physical(stack, logical).ref
        if "EventPattern" not in p or p.get("State", "ENABLED") != "ENABLED":
            return
        bus = str(p.get("EventBusName", "default"))
        pattern = p["EventPattern"] if isinstance(p["EventPattern"], str) else json.dumps(p["EventPattern"])
        self.client("events").put_rule(Name=name, EventBusName=bus, EventPattern=pattern, State="ENABLED")
        targets = []
        for target in p.get("Targets", []):
            target_arn = str(target.get("Arn", ""))
            service = target_arn.split(":")[2] if target_arn.count(":") >= 5 else ""
            if service == "sqs":
                entry = {k: v for k, v in target.items() if k in ("Id", "Arn", "InputTransformer", "SqsParameters")}
                targets.append(entry)
            elif service in ("lambda", "sns"):
                shim = self._shim_queue(f"rule-{name}-{target.get('Id', '0')}")
                targets.append({"Id": str(target.get("Id", "0")), "Arn": shim["arn"]})
                self.result.shims.append({"kind": f"rule-{service}", "target": target, "queue_url": shim["url"],
                                          "rule": name, "source": f"{stack.name}/{logical}"})
            else:
                self.result.warnings.append(f"{stack.name}/{logical}: rule target {target_arn} is not emulated")
        if targets:
            self.client("events").put_targets(Rule=name, EventBusName=bus, Targets=targets)
        self._record(stack, logical, "rule", name, "event pattern")


def resolve_environment(resolver: Resolver, stack: Stack, variables: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in variables.items():
        resolved = resolver.resolve(stack, value)
        if resolved is NO_VALUE:
            continue
        out[key] = resolver.resolve_str(stack, value)
    return out


__all__ = ["ACCOUNT_ID", "Created", "MotoServer", "Provisioned", "Provisioner", "fake_credentials",
           "placeholder_secret", "resolve_environment"]
