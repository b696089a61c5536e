"""Helpers for the worker tests: build Lambda's SQS event from real (moto) messages and play the event
source mapping's part - receive, invoke, delete what succeeded, let the failures come back."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Mapping[str, Any], Any], Mapping[str, Any]]


class FakeContext:
    """The slice of LambdaContext the runtime and Powertools idempotency read."""

    function_name = "test-worker"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-worker"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def make_queue_pair(
    sqs: Any, name: str, *, max_receive_count: int = 3, fifo: bool = False, visibility: int = 30
) -> tuple[str, str]:
    """``(source url, dlq url)`` with a RedrivePolicy, as the construct creates them."""
    suffix = ".fifo" if fifo else ""
    extra = {"FifoQueue": "true"} if fifo else {}
    dlq = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=extra)["QueueUrl"]
    policy = {"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": str(max_receive_count)}
    source = sqs.create_queue(
        QueueName=f"{name}{suffix}",
        Attributes={**extra, "VisibilityTimeout": str(visibility), "RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    return source, dlq


def lambda_record(message: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """One message from ReceiveMessage in the shape Lambda's SQS event source gives it."""
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "0",
        "SenderId": "AIDA",
        "ApproximateFirstReceiveTimestamp": "0",
        **(message.get("Attributes") or {}),
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": arn.split(":")[3],
    }


def lambda_event(messages: Sequence[Mapping[str, Any]], arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(m, arn) for m in messages]}


def synthetic_record(body: str, message_id: str = "m-1", **attributes: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", **attributes},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:synthetic",
        "awsRegion": "us-east-1",
    }


@dataclass
class DeliveryLog:
    batches: int = 0
    received: int = 0
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def run_mapping(
    sqs: Any,
    url: str,
    handler: Handler,
    *,
    batch_size: int = 10,
    max_batches: int = 10_000,
    context: Any = None,
) -> DeliveryLog:
    """Drive ``handler`` like an event source mapping with ReportBatchItemFailures until the queue is empty.

    Failed records are made visible again at once (as if their visibility timeout had passed), so they are
    retried, and moto moves them to the dead-letter queue after maxReceiveCount receives.
    """
    arn = queue_arn(sqs, url)
    log = DeliveryLog()
    context = context if context is not None else FakeContext()
    for _ in range(max_batches):
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=batch_size,
            VisibilityTimeout=30,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return log
        log.batches += 1
        log.received += len(messages)
        response = handler(lambda_event(messages, arn), context)
        failed_ids = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        ids = {m["MessageId"] for m in messages}
        assert failed_ids <= ids, "a reported failure is not in the batch"
        succeeded = [m for m in messages if m["MessageId"] not in failed_ids]
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        assert len(succeeded) + len(failed) == len(messages)
        log.succeeded += [m["MessageId"] for m in succeeded]
        log.failed += [m["MessageId"] for m in failed]
        for start in range(0, len(succeeded), 10):
            chunk = succeeded[start : start + 10]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        if failed:
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(failed)
                ],
            )
    raise AssertionError("the queue never drained")


def drain_bodies(sqs: Any, url: str) -> list[str]:
    """Every body left in ``url`` (received and deleted)."""
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return bodies
        bodies += [m["Body"] for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
