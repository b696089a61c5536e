"""Move messages from a dead-letter queue back to the queue they came from.

Usage::

    python -m lambda_manifest.redrive QUEUE [--dlq QUEUE] [--dry-run] [--sample N] [--max-per-second N]
                                             [--region R] [--use-move-task | --no-move-task]

``QUEUE`` (and ``--dlq``) may be a queue URL, a queue ARN, a queue name, or ``StackName/OutputName`` - a
CloudFormation stack output whose value is one of the former. Either queue of the pair may be named: given
the source queue, its ``RedrivePolicy`` names the dead-letter queue; given a dead-letter queue, the source
is the one queue that lists it as its dead-letter target.

``--dry-run`` reports the dead-letter queue's approximate size and prints up to ``--sample`` message ids
with truncated bodies. Sampled messages are received and immediately made visible again; nothing is
deleted (each sample does add one to the message's receive count).

A real run starts SQS's managed redrive (``StartMessageMoveTask``) and waits for it to finish. Where that
API is unavailable (or with ``--no-move-task``) it copies instead: receive from the dead-letter queue, send
to the source (body, message attributes, trace header; for FIFO queues the group id and a deduplication
id derived from the original message id), and delete from the dead-letter queue only the messages whose
send succeeded. A message is never deleted before its copy is stored, and a message whose delete failed
is not sent a second time if it is received again in the same run.

Exit codes:

* 0 - done (or dry run reported)
* 1 - incomplete: the move task failed or was cancelled, timed out, or some messages could not be copied
  or deleted (they are still in the dead-letter queue, or for failed deletes in both queues)
* 2 - bad arguments, or the queues could not be resolved
* 3 - an AWS call failed (credentials, permissions, throttling beyond the SDK's retries)
* 130 - interrupted; a started move task keeps running on the SQS side

Why this module is longer than 500 lines: it is one command. Resolving the queue pair, the move task and the
copy fallback share one ``Redriver`` (its clients, its output, its counts), and ``run`` chooses between them
from the arguments; its tests drive them through ``run`` as a user does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_AWS_ERROR = 3
EXIT_INTERRUPTED = 130

# SQS refuses more than this in one move task.
MOVE_TASK_MAX_RATE = 500
# Long enough that a batch is sent and deleted before anyone else can receive it again.
COPY_VISIBILITY_SECONDS = 120
SAMPLE_VISIBILITY_SECONDS = 30
BODY_PREVIEW_CHARS = 120
# SendMessageBatch caps the sum of its entries' sizes; staying at the classic 256 KiB works on every queue.
BATCH_PAYLOAD_LIMIT = 256 * 1024
_MESSAGE_ATTRIBUTE_FIELDS = ("DataType", "StringValue", "BinaryValue")
# Error codes meaning "this account/endpoint cannot run a move task"; the copy loop needs only
# Receive/Send/Delete, so it is still worth trying.
_MOVE_TASK_UNAVAILABLE = frozenset(
    {
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidAction",
        "NotImplemented",
        "UnknownOperationException",
        "AccessDenied",
        "AccessDeniedException",
    }
)
_QUEUE_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


class RedriveError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _MoveTaskUnavailable(Exception):
    pass


def _error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError``, read without depending on botocore's types."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict):
            code = error.get("Code")
            return code if isinstance(code, str) else None
    return None


def _is_client_error(exc: BaseException) -> bool:
    return _error_code(exc) is not None


@dataclass(frozen=True)
class QueueRef:
    url: str
    arn: str

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


@dataclass
class Outcome:
    method: str
    moved: int = 0
    failed: int = 0
    delete_failures: int = 0
    complete: bool = True
    detail: str = ""


def region_hint(identifier: str) -> str | None:
    """The region named inside a queue ARN or URL, so the client talks to the queue's own endpoint."""
    if identifier.startswith("arn:"):
        parts = identifier.split(":")
        return parts[3] if len(parts) >= 6 and parts[3] else None
    if identifier.startswith(("https://", "http://")):
        host = identifier.split("/")[2]
        labels = host.split(".")
        if len(labels) >= 4 and labels[0] == "sqs":
            return labels[1]
        if len(labels) >= 4 and labels[1] == "queue":
            return labels[0]
    return None


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _entry_size(entry: dict[str, Any]) -> int:
    size = len(str(entry["MessageBody"]).encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        size += len(str(value.get("StringValue", "")).encode()) + len(value.get("BinaryValue", b""))
    return size


def _size_batches(
    entries: Sequence[dict[str, Any]], limit: int = BATCH_PAYLOAD_LIMIT
) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    total = 0
    for entry in entries:
        size = _entry_size(entry)
        if batch and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append(entry)
        total += size
    if batch:
        yield batch


def dedup_id(message_id: str) -> str:
    """FIFO deduplication id of a redriven copy: stable per original message, so a resend is dropped by SQS."""
    return hashlib.sha256(f"redrive:{message_id}".encode()).hexdigest()


def _preview(body: str) -> str:
    flat = body.replace("\r", " ").replace("\n", " ")
    return flat if len(flat) <= BODY_PREVIEW_CHARS else flat[: BODY_PREVIEW_CHARS - 1] + "…"


class Redriver:
    """The redrive steps against injected clients (boto3's, or stubs in tests)."""

    def __init__(
        self,
        sqs: Any,
        cloudformation: Any = None,
        *,
        out: TextIO | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wait_seconds: int = 1,
        poll_seconds: float = 5.0,
    ) -> None:
        self.sqs = sqs
        self.cloudformation = cloudformation
        self.out = out if out is not None else sys.stdout
        self.sleep = sleep
        self.clock = clock
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._next_send_at = 0.0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- resolving -----------------------------------------------------------------------------------------

    def _stack_output(self, reference: str) -> str:
        stack, _, output = reference.partition("/")
        if self.cloudformation is None:
            raise RedriveError(f"{reference}: no CloudFormation client to resolve a stack output", EXIT_USAGE)
        try:
            stacks = self.cloudformation.describe_stacks(StackName=stack)["Stacks"]
        except Exception as exc:
            if _error_code(exc) == "ValidationError":
                raise RedriveError(f"stack {stack!r} not found", EXIT_USAGE) from exc
            raise
        outputs: list[dict[str, Any]] = stacks[0].get("Outputs", []) if stacks else []
        for item in outputs:
            if output in (item.get("OutputKey"), item.get("ExportName")):
                return str(item["OutputValue"])
        known = ", ".join(sorted(str(item.get("OutputKey")) for item in outputs)) or "none"
        raise RedriveError(f"stack {stack!r} has no output {output!r} (outputs: {known})", EXIT_USAGE)

    def _url_of(self, identifier: str) -> str:
        try:
            if identifier.startswith(("https://", "http://")):
                return identifier
            if identifier.startswith("arn:"):
                parts = identifier.split(":")
                if len(parts) != 6 or parts[2] != "sqs":
                    raise RedriveError(f"{identifier!r} is not an SQS queue ARN", EXIT_USAGE)
                url: str = self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                    "QueueUrl"
                ]
                return url
            url = self.sqs.get_queue_url(QueueName=identifier)["QueueUrl"]
            return url
        except RedriveError:
            raise
        except Exception as exc:
            if _error_code(exc) in _QUEUE_MISSING:
                raise RedriveError(f"queue {identifier!r} does not exist", EXIT_USAGE) from exc
            raise

    def resolve(self, identifier: str, *, allow_stack_output: bool = True) -> QueueRef:
        identifier = identifier.strip()
        if not identifier:
            raise RedriveError("empty queue identifier", EXIT_USAGE)
        is_url_or_arn = identifier.startswith(("https://", "http://", "arn:"))
        if "/" in identifier and not is_url_or_arn:
            if not allow_stack_output:
                raise RedriveError(
                    f"stack output resolved to another stack output: {identifier!r}", EXIT_USAGE
                )
            return self.resolve(self._stack_output(identifier), allow_stack_output=False)
        url = self._url_of(identifier)
        try:
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]
        except Exception as exc:
            if _error_code(exc) in _QUEUE_MISSING:
                raise RedriveError(f"queue {identifier!r} does not exist", EXIT_USAGE) from exc
            raise
        return QueueRef(url=url, arn=str(attributes["QueueArn"]))

    def _redrive_target(self, queue: QueueRef) -> str | None:
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["RedrivePolicy"])
        policy_text = attributes.get("Attributes", {}).get("RedrivePolicy")
        if not policy_text:
            return None
        target = json.loads(policy_text).get("deadLetterTargetArn")
        return str(target) if target else None

    def _dead_letter_sources(self, dlq: QueueRef) -> list[str]:
        urls: list[str] = []
        request: dict[str, Any] = {"QueueUrl": dlq.url, "MaxResults": 1000}
        while True:
            page = self.sqs.list_dead_letter_source_queues(**request)
            urls.extend(page.get("queueUrls", []))
            token = page.get("NextToken")
            if not token:
                return urls
            request["NextToken"] = token

    def resolve_pair(self, queue: str, dlq: str | None = None) -> tuple[QueueRef, QueueRef]:
        """``(source, dead-letter queue)`` from either of the two, or from both."""
        named = self.resolve(queue)
        if dlq is not None:
            dead = self.resolve(dlq)
            if dead.arn == named.arn:
                raise RedriveError("the queue and --dlq are the same queue", EXIT_USAGE)
            return named, dead
        target = self._redrive_target(named)
        if target is not None:
            return named, self.resolve(target)
        sources = self._dead_letter_sources(named)
        if len(sources) == 1:
            return self.resolve(sources[0]), named
        if not sources:
            raise RedriveError(
                f"{named.name} has no RedrivePolicy and is no queue's dead-letter queue; pass --dlq",
                EXIT_USAGE,
            )
        # Copying to the wrong one of several sources would deliver messages to a consumer that never sent them.
        listed = ", ".join(url.rsplit("/", 1)[-1] for url in sources)
        raise RedriveError(
            f"{named.name} is the dead-letter queue of {len(sources)} queues ({listed}); name the source queue",
            EXIT_USAGE,
        )

    # -- inspecting ----------------------------------------------------------------------------------------

    def counts(self, queue: QueueRef) -> tuple[int, int]:
        """``(visible, in flight)``, both approximate as SQS reports them."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0)), int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    def _release(self, queue: QueueRef, messages: Sequence[dict[str, Any]]) -> None:
        """Make received messages visible again right away."""
        for chunk in _chunks(messages, 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=queue.url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for index, message in enumerate(chunk)
                ],
            )

    def sample(self, queue: QueueRef, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(message id, body preview)`` pairs, leaving every message in the queue."""
        held: list[dict[str, Any]] = []
        seen: set[str] = set()
        try:
            while len(held) < limit:
                # A visibility timeout (not 0) is what makes the next receive return different messages.
                messages = self.sqs.receive_message(
                    QueueUrl=queue.url,
                    MaxNumberOfMessages=min(10, limit - len(held)),
                    VisibilityTimeout=SAMPLE_VISIBILITY_SECONDS,
                    WaitTimeSeconds=self.wait_seconds,
                ).get("Messages", [])
                fresh = [m for m in messages if m["MessageId"] not in seen]
                held.extend(messages)
                if not fresh:
                    break
                seen.update(m["MessageId"] for m in fresh)
        finally:
            self._release(queue, held)
        unique: dict[str, str] = {}
        for message in held:
            unique.setdefault(message["MessageId"], _preview(str(message.get("Body", ""))))
        return list(unique.items())[:limit]

    # -- moving ----------------------------------------------------------------------------------------------

    def move_with_task(
        self, source: QueueRef, dlq: QueueRef, *, max_per_second: int | None, timeout: float | None
    ) -> Outcome:
        request: dict[str, Any] = {"SourceArn": dlq.arn, "DestinationArn": source.arn}
        if max_per_second:
            request["MaxNumberOfMessagesPerSecond"] = min(max_per_second, MOVE_TASK_MAX_RATE)
        try:
            handle = str(self.sqs.start_message_move_task(**request)["TaskHandle"])
        except NotImplementedError as exc:
            raise _MoveTaskUnavailable(str(exc)) from exc
        except Exception as exc:
            if _error_code(exc) in _MOVE_TASK_UNAVAILABLE:
                raise _MoveTaskUnavailable(f"{_error_code(exc)}: {exc}") from exc
            raise
        self.say(f"started move task {handle}")
        started = self.clock()
        last_progress = ""
        while True:
            self.sleep(self.poll_seconds)
            results: list[dict[str, Any]] = self.sqs.list_message_move_tasks(
                SourceArn=dlq.arn, MaxResults=10
            ).get("Results", [])
            # Only a running task reports its handle; once finished, the newest task (listed first) is ours.
            task = next(
                (r for r in results if r.get("TaskHandle") == handle), results[0] if results else None
            )
            if task is None:
                return Outcome(
                    "move-task", complete=False, detail="the move task disappeared from the task list"
                )
            status = str(task.get("Status"))
            moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
            progress = (
                f"move task {status}: {moved}/{task.get('ApproximateNumberOfMessagesToMove', '?')} moved"
            )
            if progress != last_progress:
                self.say(progress)
                last_progress = progress
            if status == "COMPLETED":
                return Outcome("move-task", moved=moved)
            if status in ("FAILED", "CANCELLED"):
                return Outcome(
                    "move-task", moved=moved, complete=False, detail=str(task.get("FailureReason", status))
                )
            if timeout is not None and self.clock() - started > timeout:
                return Outcome(
                    "move-task",
                    moved=moved,
                    complete=False,
                    detail=f"still {status} after {timeout:g}s; task {handle} keeps running",
                )

    def _throttle(self, count: int, max_per_second: int | None) -> None:
        if not max_per_second or count == 0:
            return
        now = self.clock()
        if self._next_send_at > now:
            self.sleep(self._next_send_at - now)
            now = self._next_send_at
        self._next_send_at = now + count / max_per_second

    def _copy_entry(self, index: int, message: dict[str, Any], fifo: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
        attributes = {
            name: {key: value[key] for key in _MESSAGE_ATTRIBUTE_FIELDS if key in value}
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
        if attributes:
            entry["MessageAttributes"] = attributes
        system = message.get("Attributes") or {}
        if system.get("AWSTraceHeader"):
            entry["MessageSystemAttributes"] = {
                "AWSTraceHeader": {"DataType": "String", "StringValue": system["AWSTraceHeader"]}
            }
        if fifo:
            entry["MessageGroupId"] = system.get("MessageGroupId") or "redrive"
            entry["MessageDeduplicationId"] = dedup_id(message["MessageId"])
        return entry

    def _delete(self, queue: QueueRef, messages: Sequence[dict[str, Any]]) -> int:
        """Delete ``messages``; returns how many could not be deleted (after one retry each)."""
        failures = 0
        for chunk in _chunks(messages, 10):
            response = self.sqs.delete_message_batch(
                QueueUrl=queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failed in response.get("Failed", []):
                message = chunk[int(failed["Id"])]
                try:
                    self.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
                except Exception as exc:
                    if not _is_client_error(exc):
                        raise
                    failures += 1
                    self.say(f"could not delete {message['MessageId']} after copying it: {_error_code(exc)}")
        return failures

    def move_by_copy(
        self, source: QueueRef, dlq: QueueRef, *, max_per_second: int | None, max_messages: int | None
    ) -> Outcome:
        outcome = Outcome("copy")
        copied: set[str] = set()
        empty_receives = 0
        while max_messages is None or outcome.moved < max_messages:
            want = 10 if max_messages is None else min(10, max_messages - outcome.moved)
            messages: list[dict[str, Any]] = self.sqs.receive_message(
                QueueUrl=dlq.url,
                MaxNumberOfMessages=want,
                VisibilityTimeout=COPY_VISIBILITY_SECONDS,
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                # Short polls may miss messages on some SQS hosts; two empty answers in a row mean drained.
                empty_receives += 1
                if empty_receives >= 2:
                    break
                continue
            empty_receives = 0
            # Already copied earlier in this run, whose delete failed: delete now, do not send again.
            to_delete = [m for m in messages if m["MessageId"] in copied]
            to_send = [m for m in messages if m["MessageId"] not in copied]
            sent_ok: list[dict[str, Any]] = []
            try:
                entries = [self._copy_entry(i, m, source.fifo) for i, m in enumerate(to_send)]
                for batch in _size_batches(entries):
                    self._throttle(len(batch), max_per_second)
                    response = self.sqs.send_message_batch(QueueUrl=source.url, Entries=batch)
                    for ok in response.get("Successful", []):
                        sent_ok.append(to_send[int(ok["Id"])])
                    for failed in response.get("Failed", []):
                        outcome.failed += 1
                        message_id = to_send[int(failed["Id"])]["MessageId"]
                        self.say(
                            f"could not copy {message_id}: {failed.get('Code')} {failed.get('Message', '')}"
                        )
            except BaseException:
                # Whatever was not sent goes back to the dead-letter queue at once; what was sent is deleted
                # below so it is not copied again by the next run.
                sent_ids = {m["MessageId"] for m in sent_ok}
                unsent = [m for m in to_send if m["MessageId"] not in sent_ids]
                try:
                    self._release(dlq, unsent)
                finally:
                    self._delete(dlq, sent_ok + to_delete)
                raise
            # Failed sends stay invisible until the visibility timeout ends, so this run does not retry them
            # in a loop; they are still in the dead-letter queue afterwards.
            copied.update(m["MessageId"] for m in sent_ok)
            outcome.moved += len(sent_ok)
            outcome.delete_failures += self._delete(dlq, sent_ok + to_delete)
            self.say(f"copied {outcome.moved} message(s)")
        outcome.complete = outcome.failed == 0 and outcome.delete_failures == 0
        if not outcome.complete:
            outcome.detail = f"{outcome.failed} not copied, {outcome.delete_failures} copied but not deleted"
        return outcome


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lambda_manifest.redrive",
        description="Move messages from a dead-letter queue back to its source queue.",
        epilog="Exit codes: 0 done, 1 incomplete, 2 bad arguments or unresolvable queues, 3 AWS error, "
        "130 interrupted.",
    )
    parser.add_argument(
        "queue", help="source queue or dead-letter queue: URL, ARN, name, or StackName/OutputName"
    )
    parser.add_argument("--dlq", help="the dead-letter queue, when it cannot be found from QUEUE")
    parser.add_argument("--dry-run", action="store_true", help="count and sample; move nothing")
    parser.add_argument(
        "--sample", type=_non_negative_int, default=5, metavar="N", help="messages to show in a dry run (5)"
    )
    parser.add_argument(
        "--max-per-second", type=_positive_int, metavar="N", help="rate limit (a move task allows up to 500)"
    )
    parser.add_argument(
        "--region",
        help="AWS region (default: from a queue ARN/URL, then AWS_REGION, AWS_DEFAULT_REGION, the SDK's default)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--use-move-task",
        dest="use_move_task",
        action="store_true",
        default=True,
        help="use SQS's managed redrive, falling back to copying where it is unavailable (default)",
    )
    mode.add_argument(
        "--no-move-task", dest="use_move_task", action="store_false", help="copy message by message"
    )
    parser.add_argument(
        "--max-messages", type=_positive_int, metavar="N", help="copy at most N messages (copy mode only)"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="stop waiting for a move task after this long"
    )
    parser.add_argument(
        "--wait-seconds",
        type=_non_negative_int,
        default=1,
        metavar="S",
        help="long-poll time of each receive (1)",
    )
    return parser


def default_region() -> str | None:
    """``AWS_REGION``, then ``AWS_DEFAULT_REGION``: boto3 reads only the second, but Lambda, CodeBuild and
    most CI set the first, and the AWS CLI prefers it too."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _clients(region: str | None) -> tuple[Any, Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    return session.client("sqs"), session.client("cloudformation")


def run(args: argparse.Namespace, redriver: Redriver) -> int:
    source, dlq = redriver.resolve_pair(args.queue, args.dlq)
    visible, in_flight = redriver.counts(dlq)
    redriver.say(f"dead-letter queue {dlq.name} -> source queue {source.name}")
    redriver.say(f"{visible} message(s) waiting, {in_flight} in flight (approximate)")
    if args.dry_run:
        if args.sample:
            for message_id, preview in redriver.sample(dlq, args.sample):
                redriver.say(f"  {message_id}  {preview}")
        redriver.say("dry run: nothing moved")
        return EXIT_OK
    outcome: Outcome | None = None
    if args.use_move_task:
        try:
            outcome = redriver.move_with_task(
                source, dlq, max_per_second=args.max_per_second, timeout=args.timeout
            )
        except _MoveTaskUnavailable as exc:
            redriver.say(f"move task unavailable ({exc}); copying message by message")
    if outcome is None:
        outcome = redriver.move_by_copy(
            source, dlq, max_per_second=args.max_per_second, max_messages=args.max_messages
        )
    redriver.say(f"moved {outcome.moved} message(s) to {source.name} ({outcome.method})")
    if not outcome.complete:
        redriver.say(f"incomplete: {outcome.detail}")
        return EXIT_INCOMPLETE
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A region named in a queue ARN/URL is where that queue lives, so it beats the environment's default.
    region = (
        args.region
        or region_hint(args.queue)
        or (region_hint(args.dlq) if args.dlq else None)
        or default_region()
    )
    try:
        sqs, cloudformation = _clients(region)
        redriver = Redriver(sqs, cloudformation, wait_seconds=args.wait_seconds)
        return run(args, redriver)
    except RedriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if _is_client_error(exc) or type(exc).__module__.startswith("botocore"):
            print(f"error: AWS call failed: {exc}", file=sys.stderr)
            return EXIT_AWS_ERROR
        raise


if __name__ == "__main__":
    raise SystemExit(main())
