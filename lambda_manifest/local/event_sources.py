"""Everything that invokes functions without an HTTP request.

- SQS event source mappings: batch size, batching window, partial batch responses (only succeeded records
  are deleted), filter criteria; failed messages become visible again after the queue's visibility timeout,
  and moto moves them to the dead-letter queue once ``maxReceiveCount`` is exceeded.
- Asynchronous invocation (EventBridge, SNS, ``InvocationType=Event``): retries per the function's
  EventInvokeConfig (after 1 s and 2 s here, 1 and 2 minutes on AWS), then on-success / on-failure
  destinations and the function's dead-letter queue.
- SNS -> Lambda subscriptions and EventBridge pattern rules -> Lambda or SNS targets: moto cannot call
  Lambda, so a hidden queue receives the deliveries and a poller invokes the function with the right shape.
- Schedules: never fired on their own clock; ``--fire`` or ``POST /_local/fire/<rule>`` fires one by hand.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambda_manifest.local.cfn import ACCOUNT_ID, REGION
from lambda_manifest.local.functions import FunctionHost, Invocation
from lambda_manifest.local.functions_registry import FunctionRegistry
from lambda_manifest.local.logs import Console

ClientFactory = Callable[[str], Any]
RETRY_DELAYS_SECONDS = (1.0, 2.0)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 5 else ""


@dataclass
class AsyncConfig:
    retries: int = 2
    on_success: str | None = None
    on_failure: str | None = None
    dead_letter: str | None = None


@dataclass
class AsyncOutcome:
    invocation: Invocation
    attempts: int
    delivered_to: str | None = None


class AsyncInvoker:
    """Lambda's asynchronous invocation: an internal queue, retries, destinations."""

    def __init__(self, functions: FunctionRegistry, clients: ClientFactory, console: Console,
                 configs: dict[str, AsyncConfig]) -> None:
        self.functions = functions
        self.clients = clients
        self.console = console
        self.configs = configs
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="async-invoke")
        self._stop = threading.Event()

    def invoke(self, host: FunctionHost, event: Any) -> Future[AsyncOutcome]:
        return self._pool.submit(self._run, host, event)

    def _run(self, host: FunctionHost, event: Any) -> AsyncOutcome:
        config = self.configs.get(host.spec.arn, AsyncConfig())
        request_id = str(uuid.uuid4())
        attempts = 0
        while True:
            attempts += 1
            result = host.invoke(event, request_id=request_id)
            if result.ok or attempts > config.retries or self._stop.is_set():
                break
            delay = RETRY_DELAYS_SECONDS[min(attempts - 1, len(RETRY_DELAYS_SECONDS) - 1)]
            self.console.info(host.spec.label, f"{request_id[:8]} async attempt {attempts} failed; retrying in {delay:.0f} s")
            if self._stop.wait(delay):
                break
        target = config.on_success if result.ok else (config.on_failure or config.dead_letter)
        outcome = AsyncOutcome(result, attempts)
        if target:
            try:
                if not result.ok and not config.on_failure and config.dead_letter:
                    self._dead_letter(config.dead_letter, event, result)
                else:
                    self._destination(target, host, event, result, attempts)
                outcome.delivered_to = target
                where = target.split(":")[-1]
                self.console.line(host.spec.label, f"{request_id[:8]} {'succeeded' if result.ok else 'failed'} after "
                                                   f"{attempts} attempt(s); record sent to {where}")
            except Exception as exc:
                self.console.line(host.spec.label, f"could not deliver to {target}: {exc}")
        return outcome

    def _record(self, host: FunctionHost, event: Any, result: Invocation, attempts: int) -> dict[str, Any]:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not result.ok:
            response["functionError"] = "Unhandled"
        return {
            "version": "1.0",
            "timestamp": _now_iso(),
            "requestContext": {
                "requestId": result.request_id,
                "functionArn": f"{host.spec.arn}:$LATEST",
                "condition": "Success" if result.ok else "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": response,
            "responsePayload": result.payload if result.ok else result.error,
        }

    def _destination(self, target: str, host: FunctionHost, event: Any, result: Invocation, attempts: int) -> None:
        record = self._record(host, event, result, attempts)
        service = _service(target)
        if service == "sqs":
            url = self.clients("sqs").get_queue_url(QueueName=target.split(":")[-1])["QueueUrl"]
            self.clients("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(record))
        elif service == "sns":
            self.clients("sns").publish(TopicArn=target, Message=json.dumps(record))
        elif service == "lambda":
            other = self.functions.lookup(target)
            if other is not None:
                self.invoke(other, record)
        elif service == "events":
            kind = "Success" if result.ok else "Failure"
            self.clients("events").put_events(Entries=[{
                "Source": "lambda", "DetailType": f"Lambda Function Invocation Result - {kind}",
                "Detail": json.dumps(record), "EventBusName": target, "Resources": [host.spec.arn]}])

    def _dead_letter(self, target: str, event: Any, result: Invocation) -> None:
        error = result.error or {}
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": result.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": str(error.get("errorMessage", ""))[:1024] or "error"},
        }
        if _service(target) == "sqs":
            url = self.clients("sqs").get_queue_url(QueueName=target.split(":")[-1])["QueueUrl"]
            self.clients("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(event), MessageAttributes=attributes)
        elif _service(target) == "sns":
            self.clients("sns").publish(TopicArn=target, Message=json.dumps(event), MessageAttributes=attributes)

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- filters ------------------------------------------------------------------------------------------------
def pattern_matches(pattern: Any, value: Any) -> bool:
    """The subset of event filtering patterns Lambda supports for SQS: exact values, ``prefix``,
    ``suffix``, ``exists``, ``anything-but``, ``numeric``; nested objects."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(pattern_matches(sub, value.get(key, _MISSING)) for key, sub in pattern.items())
    if isinstance(pattern, list):
        candidates = value if isinstance(value, list) else [value]
        return any(_rule_matches(rule, candidate) for rule in pattern for candidate in candidates)
    return False


class _Missing:
    pass


_MISSING = _Missing()


def _rule_matches(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return value is not _MISSING and rule == value
    if "exists" in rule:
        return bool(rule["exists"]) == (value is not _MISSING)
    if value is _MISSING:
        return False
    if "prefix" in rule:
        return isinstance(value, str) and value.startswith(str(rule["prefix"]))
    if "suffix" in rule:
        return isinstance(value, str) and value.endswith(str(rule["suffix"]))
    if "anything-but" in rule:
        excluded = rule["anything-but"]
        excluded = excluded if isinstance(excluded, list) else [excluded]
        return value not in excluded
    if "numeric" in rule and isinstance(value, (int, float)):
        ops = rule["numeric"]
        checks = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, "=": lambda a, b: a == b,
                  ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
        return all(checks[ops[i]](value, ops[i + 1]) for i in range(0, len(ops) - 1, 2) if ops[i] in checks)
    return False


def _filter_view(record: dict[str, Any]) -> dict[str, Any]:
    view = dict(record)
    with contextlib.suppress(json.JSONDecodeError, TypeError):
        view["body"] = json.loads(record["body"])
    return view


# -- SQS polling --------------------------------------------------------------------------------------------
@dataclass
class SqsMapping:
    label: str
    queue_arn: str
    host: FunctionHost | None
    batch_size: int = 10
    window: float = 0.0
    report_failures: bool = False
    filters: list[Any] = field(default_factory=list)
    enabled: bool = True
    convert: Callable[[list[dict[str, Any]]], None] | None = None  # shims handle their own messages
    queue_url: str = ""


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = dict(message.get("Attributes", {}))
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            import base64

            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        record["messageAttributes"][name] = entry
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class SqsPoller:
    """Lambda's SQS poller for one event source mapping (one poller: batches run one at a time)."""

    def __init__(self, mapping: SqsMapping, clients: ClientFactory, console: Console) -> None:
        self.mapping = mapping
        self.console = console
        self.sqs = clients("sqs")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs-{mapping.label}", daemon=True)
        self.batches = 0

    def start(self) -> None:
        if not self.mapping.queue_url:
            name = self.mapping.queue_arn.split(":")[-1]
            self.mapping.queue_url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        self._thread.start()

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.mapping.queue_url, MaxNumberOfMessages=max(1, min(10, count)), WaitTimeSeconds=wait,
            AttributeNames=["All"], MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._collect()
                if batch and not self._stop.is_set():
                    self.batches += 1
                    if self.mapping.convert is not None:
                        self.mapping.convert(batch)
                    else:
                        self._process(batch)
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.console.line(self.mapping.label, f"poller error: {type(exc).__name__}: {exc}")
                self._stop.wait(1.0)

    def _collect(self) -> list[dict[str, Any]]:
        mapping = self.mapping
        batch = self._receive(mapping.batch_size, 1)
        if not batch or mapping.window <= 0:
            return batch
        deadline = time.monotonic() + mapping.window
        while len(batch) < mapping.batch_size and time.monotonic() < deadline and not self._stop.is_set():
            more = self._receive(mapping.batch_size - len(batch), 1 if deadline - time.monotonic() >= 1 else 0)
            if not more and deadline - time.monotonic() < 1:
                time.sleep(max(0.0, min(0.2, deadline - time.monotonic())))
            batch.extend(more)
        return batch

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            self.sqs.delete_message_batch(QueueUrl=self.mapping.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])

    def _process(self, batch: list[dict[str, Any]]) -> None:
        mapping = self.mapping
        assert mapping.host is not None
        records = [sqs_record(m, mapping.queue_arn) for m in batch]
        if mapping.filters:
            kept = [r for r in records if any(pattern_matches(f, _filter_view(r)) for f in mapping.filters)]
            dropped = [m for m, r in zip(batch, records, strict=True) if r not in kept]
            if dropped:  # Lambda deletes messages that match no filter
                self._delete(dropped)
            batch = [m for m, r in zip(batch, records, strict=True) if r in kept]
            records = kept
            if not records:
                return
        result = mapping.host.invoke({"Records": records})
        if not result.ok:
            self.console.info(mapping.label, f"batch of {len(records)} failed: all {len(records)} messages return "
                                             "to the queue after the visibility timeout")
            return
        failed: set[str] = set()
        payload = result.payload
        if mapping.report_failures and isinstance(payload, dict) and payload.get("batchItemFailures"):
            ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in payload["batchItemFailures"]]
            known = {r["messageId"] for r in records}
            if any(not i or i not in known for i in ids):
                self.console.line(mapping.label, "invalid batchItemFailures (unknown or empty itemIdentifier): the "
                                                 "whole batch is treated as failed")
                return
            failed = {str(i) for i in ids}
        done = [m for m in batch if m["MessageId"] not in failed]
        self._delete(done)
        note = f", {len(failed)} reported failed (retried after the visibility timeout)" if failed else ""
        self.console.info(mapping.label, f"batch of {len(records)}: {len(done)} deleted{note}")

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=5)


# -- schedules and shims ------------------------------------------------------------------------------------
@dataclass
class Schedule:
    stack: str
    logical_id: str
    label: str
    name: str
    arn: str
    expression: str
    targets: list[dict[str, Any]]
    enabled: bool = True

    def names(self) -> set[str]:
        return {self.logical_id, self.name, self.label, f"{self.stack}/{self.label}", f"{self.stack}/{self.logical_id}",
                self.label.split("/")[-1]}


def scheduled_event(schedule: Schedule) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [schedule.arn],
        "detail": {},
    }


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What EventBridge sends a target: ``Input``, ``InputPath`` (simple ``$.a.b`` paths) or the event."""
    if "Input" in target:
        text = target["Input"]
        try:
            return json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError:
            return text
    path = target.get("InputPath")
    if isinstance(path, str) and path.startswith("$"):
        value: Any = event
        for part in [p for p in path[1:].split(".") if p]:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    transformer = target.get("InputTransformer")
    if isinstance(transformer, dict):
        template = str(transformer.get("InputTemplate", ""))
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            value = event
            for part in [p for p in str(path)[1:].split(".") if p]:
                value = value.get(part) if isinstance(value, dict) else None
            template = template.replace(f"<{name}>", value if isinstance(value, str) else json.dumps(value))
        try:
            return json.loads(template)
        except json.JSONDecodeError:
            return template
    return event


class Dispatcher:
    """Fires schedules and relays the hidden shim queues to functions and topics."""

    def __init__(self, functions: FunctionRegistry, invoker: AsyncInvoker, clients: ClientFactory,
                 console: Console) -> None:
        self.functions = functions
        self.invoker = invoker
        self.clients = clients
        self.console = console

    def fire(self, schedule: Schedule) -> list[tuple[str, Future[AsyncOutcome] | None]]:
        event = scheduled_event(schedule)
        started: list[tuple[str, Future[AsyncOutcome] | None]] = []
        for target in schedule.targets:
            target_arn = str(target.get("Arn", ""))
            payload = target_input(target, event)
            service = _service(target_arn)
            if service == "lambda":
                host = self.functions.lookup(target_arn)
                if host is None:
                    self.console.line("local", f"{schedule.label}: no local function {target_arn}")
                    continue
                started.append((host.spec.label, self.invoker.invoke(host, payload)))
            elif service == "sqs":
                sqs = self.clients("sqs")
                url = sqs.get_queue_url(QueueName=target_arn.split(":")[-1])["QueueUrl"]
                args: dict[str, Any] = {"QueueUrl": url, "MessageBody": json.dumps(payload)}
                group = (target.get("SqsParameters") or {}).get("MessageGroupId")
                if group:
                    args["MessageGroupId"] = group
                    args["MessageDeduplicationId"] = str(uuid.uuid4())
                sqs.send_message(**args)
                started.append((target_arn.split(":")[-1], None))
            elif service == "sns":
                self.clients("sns").publish(TopicArn=target_arn, Message=json.dumps(payload))
                started.append((target_arn.split(":")[-1], None))
            else:
                self.console.line("local", f"{schedule.label}: target {target_arn} is not emulated")
        self.console.line("local", f"fired {schedule.label} ({schedule.expression}) -> "
                                   f"{', '.join(name for name, _ in started) or 'no target'}")
        return started

    def sns_shim(self, shim: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
        host = self.functions.lookup(str(shim["function_arn"]))

        def relay(messages: list[dict[str, Any]]) -> None:
            sqs = self.clients("sqs")
            for message in messages:
                envelope = json.loads(message["Body"])
                event = {"Records": [{
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": shim.get("subscription_arn", ""),
                    "Sns": {
                        "Type": envelope.get("Type", "Notification"),
                        "MessageId": envelope.get("MessageId"),
                        "TopicArn": envelope.get("TopicArn"),
                        "Subject": envelope.get("Subject"),
                        "Message": envelope.get("Message"),
                        "Timestamp": envelope.get("Timestamp"),
                        "SignatureVersion": envelope.get("SignatureVersion", "1"),
                        "Signature": envelope.get("Signature", "local"),
                        "SigningCertUrl": envelope.get("SigningCertURL", ""),
                        "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
                        "MessageAttributes": envelope.get("MessageAttributes", {}),
                    },
                }]}
                if host is not None:
                    self.invoker.invoke(host, event)
                sqs.delete_message(QueueUrl=shim["queue_url"], ReceiptHandle=message["ReceiptHandle"])

        return relay

    def rule_shim(self, shim: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
        target = dict(shim["target"])
        target_arn = str(target.get("Arn", ""))

        def relay(messages: list[dict[str, Any]]) -> None:
            sqs = self.clients("sqs")
            for message in messages:
                try:
                    event = json.loads(message["Body"])
                except json.JSONDecodeError:
                    event = message["Body"]
                payload = target_input(target, event) if isinstance(event, dict) else event
                if _service(target_arn) == "lambda":
                    host = self.functions.lookup(target_arn)
                    if host is not None:
                        self.invoker.invoke(host, payload)
                elif _service(target_arn) == "sns":
                    self.clients("sns").publish(TopicArn=target_arn, Message=json.dumps(payload))
                sqs.delete_message(QueueUrl=shim["queue_url"], ReceiptHandle=message["ReceiptHandle"])

        return relay
