"""``python -m lambda_manifest.redrive`` against moto's SQS and CloudFormation (copy path) and a botocore
Stubber (move-task path, which moto does not implement)."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from worker_sqs import drain_bodies, make_queue_pair, queue_arn

from lambda_manifest import redrive
from lambda_manifest.redrive import (
    EXIT_AWS_ERROR,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
    QueueRef,
    Redriver,
    build_parser,
    dedup_id,
    main,
    region_hint,
)

NO_WAIT = ["--wait-seconds", "0"]


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs")


def fill(sqs: Any, url: str, bodies: list[str], *, fifo: bool = False) -> list[str]:
    """Send ``bodies`` (with a message attribute each); returns the message ids."""
    ids = []
    for n, body in enumerate(bodies):
        extra: dict[str, Any] = {}
        if fifo:
            extra = {"MessageGroupId": f"g{n % 3}", "MessageDeduplicationId": f"d{n}"}
        response = sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={
                "n": {"DataType": "Number", "StringValue": str(n)},
                "kind": {"DataType": "String", "StringValue": "order"},
            },
            **extra,
        )
        ids.append(response["MessageId"])
    return ids


def counts(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def bodies_of(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    # Duplicate bodies on purpose: the check is on the multiset, so a lost copy of one cannot hide.
    return [json.dumps({"order": rng.randint(0, count // 2), "note": "ünïcødé"}) for _ in range(count)]


# -- dry run -----------------------------------------------------------------------------------------------


def test_dry_run_counts_samples_and_consumes_nothing(sqs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    source, dlq = make_queue_pair(sqs, "orders")
    bodies = bodies_of(25)
    ids = fill(sqs, dlq, bodies)
    assert main(["orders", "--dry-run", "--sample", "4", *NO_WAIT]) == EXIT_OK
    out = capsys.readouterr().out
    assert "dead-letter queue orders-dlq -> source queue orders" in out
    assert "25 message(s) waiting" in out
    sampled = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert len(sampled) == 4 and set(sampled) <= set(ids)
    assert "dry run: nothing moved" in out
    assert counts(sqs, dlq) == (25, 0)  # sampled messages are visible again at once
    assert Counter(drain_bodies(sqs, dlq)) == Counter(bodies)
    assert drain_bodies(sqs, source) == []


def test_dry_run_truncates_long_bodies(sqs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, dlq = make_queue_pair(sqs, "big")
    fill(sqs, dlq, ["x" * 5000 + "\nsecond line"])
    assert main(["big-dlq", "--dry-run", *NO_WAIT]) == EXIT_OK
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert len(line) < 200 and line.endswith("…")


# -- real runs (copy path: moto has no move task) ---------------------------------------------------------


def received_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def test_redrive_falls_back_to_copy_and_moves_everything_once(
    sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    source, dlq = make_queue_pair(sqs, "orders")
    bodies = bodies_of(57)
    fill(sqs, dlq, bodies)
    assert main(["orders", *NO_WAIT]) == EXIT_OK
    out = capsys.readouterr().out
    assert "move task unavailable" in out and "moved 57 message(s) to orders (copy)" in out
    assert counts(sqs, dlq) == (0, 0)
    moved = received_all(sqs, source)
    assert Counter(m["Body"] for m in moved) == Counter(bodies)
    # Message attributes travel with the body.
    assert sorted(int(m["MessageAttributes"]["n"]["StringValue"]) for m in moved) == list(range(57))
    assert all(
        m["MessageAttributes"]["kind"] == {"StringValue": "order", "DataType": "String"} for m in moved
    )


@pytest.mark.parametrize("form", ["dlq-name", "dlq-url", "dlq-arn", "source-arn", "source-url", "explicit"])
def test_every_way_of_naming_the_queues(sqs: Any, form: str) -> None:
    source, dlq = make_queue_pair(sqs, "pay")
    bodies = bodies_of(12)
    fill(sqs, dlq, bodies)
    argv = {
        "dlq-name": ["pay-dlq"],
        "dlq-url": [dlq],
        "dlq-arn": [queue_arn(sqs, dlq)],
        "source-arn": [queue_arn(sqs, source)],
        "source-url": [source],
        "explicit": ["pay", "--dlq", "pay-dlq"],
    }[form]
    assert main([*argv, "--no-move-task", *NO_WAIT]) == EXIT_OK
    assert Counter(drain_bodies(sqs, source)) == Counter(bodies)
    assert drain_bodies(sqs, dlq) == []


def test_fifo_redrive_keeps_groups_order_and_derives_dedup_ids(sqs: Any) -> None:
    source, dlq = make_queue_pair(sqs, "ledger", fifo=True)
    bodies = [json.dumps({"seq": n}) for n in range(20)]
    ids = fill(sqs, dlq, bodies, fifo=True)
    assert main(["ledger.fifo", "--no-move-task", *NO_WAIT]) == EXIT_OK
    moved = received_all(sqs, source)
    assert Counter(m["Body"] for m in moved) == Counter(bodies)
    by_group: dict[str, list[int]] = {}
    for message in moved:
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(
            json.loads(message["Body"])["seq"]
        )
    assert by_group == {f"g{g}": [n for n in range(20) if n % 3 == g] for g in range(3)}
    assert {m["Attributes"]["MessageDeduplicationId"] for m in moved} == {dedup_id(i) for i in ids}


def test_large_messages_are_split_into_batches_under_the_size_limit(sqs: Any) -> None:
    source, dlq = make_queue_pair(sqs, "bulky")
    bodies = [str(n) * 90_000 for n in range(6)]  # 540 KB received in one batch of 10
    fill(sqs, dlq, bodies)
    sizes: list[int] = []
    real = sqs.send_message_batch

    def spy(**request: Any) -> Any:
        sizes.append(sum(len(e["MessageBody"]) for e in request["Entries"]))
        return real(**request)

    redriver = Redriver(Proxy(sqs, send_message_batch=spy), wait_seconds=0)
    args = build_parser().parse_args(["bulky", "--no-move-task"])
    assert redrive.run(args, redriver) == EXIT_OK
    assert max(sizes) <= redrive.BATCH_PAYLOAD_LIMIT and len(sizes) >= 3
    assert Counter(drain_bodies(sqs, source)) == Counter(bodies)


def test_stack_output_resolution(sqs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    template = {
        "Resources": {
            "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "stack-dlq"}},
            "Work": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": "stack-work",
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                        "maxReceiveCount": 3,
                    },
                },
            },
        },
        "Outputs": {
            "WorkQueueUrl": {"Value": {"Ref": "Work"}},
            "DeadLetterQueueArn": {
                "Value": {"Fn::GetAtt": ["Dlq", "Arn"]},
                "Export": {"Name": "OrdersDlqArn"},
            },
        },
    }
    boto3.client("cloudformation").create_stack(StackName="OrdersStack", TemplateBody=json.dumps(template))
    dlq = sqs.get_queue_url(QueueName="stack-dlq")["QueueUrl"]
    bodies = bodies_of(8)
    fill(sqs, dlq, bodies)
    assert main(["OrdersStack/WorkQueueUrl", "--dry-run", *NO_WAIT]) == EXIT_OK
    assert "stack-dlq -> source queue stack-work" in capsys.readouterr().out
    # An export name works too, and the DLQ's single source is found from it.
    assert main(["OrdersStack/OrdersDlqArn", "--no-move-task", *NO_WAIT]) == EXIT_OK
    assert Counter(drain_bodies(sqs, sqs.get_queue_url(QueueName="stack-work")["QueueUrl"])) == Counter(
        bodies
    )
    assert main(["OrdersStack/Nope", "--dry-run"]) == EXIT_USAGE
    assert main(["MissingStack/Out", "--dry-run"]) == EXIT_USAGE
    assert "has no output 'Nope'" in capsys.readouterr().err


# -- refusing to guess -------------------------------------------------------------------------------------


def test_unresolvable_queues_exit_2(sqs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["does-not-exist", "--dry-run"]) == EXIT_USAGE
    sqs.create_queue(QueueName="loner")
    assert main(["loner", "--dry-run"]) == EXIT_USAGE
    assert main(["loner", "--dlq", "loner", "--dry-run"]) == EXIT_USAGE
    shared = sqs.create_queue(QueueName="shared-dlq")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": queue_arn(sqs, shared), "maxReceiveCount": "2"})
    for name in ("first", "second"):
        sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})
    assert main(["shared-dlq", "--dry-run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "does not exist" in err and "no RedrivePolicy" in err and "dead-letter queue of 2 queues" in err
    # Naming the source settles it.
    assert main(["second", "--dry-run", *NO_WAIT]) == EXIT_OK


def test_argument_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["q", "--use-move-task", "--no-move-task"])
    assert exc.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as exc:
        main(["q", "--max-per-second", "0"])
    assert exc.value.code == EXIT_USAGE


def test_region_hint() -> None:
    assert region_hint("arn:aws:sqs:eu-west-1:123456789012:q") == "eu-west-1"
    assert region_hint("https://sqs.ap-south-1.amazonaws.com/123456789012/q") == "ap-south-1"
    assert region_hint("https://eu-central-1.queue.amazonaws.com/123456789012/q") == "eu-central-1"
    assert region_hint("q") is None and region_hint("Stack/Output") is None


# -- failures during the copy never lose or duplicate a message -------------------------------------------


class Proxy:
    """The real (moto) client with some operations replaced."""

    def __init__(self, client: Any, **overrides: Any) -> None:
        self._client = client
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides.get(name) or getattr(self._client, name)


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def run_with(client: Any, argv: list[str]) -> int:
    return redrive.run(build_parser().parse_args(argv), Redriver(client, wait_seconds=0))


def test_failed_send_leaves_the_message_in_the_dlq(sqs: Any) -> None:
    source, dlq = make_queue_pair(sqs, "flaky")
    bodies = bodies_of(15)
    fill(sqs, dlq, bodies)
    refused: list[str] = []

    def send_all_but_one(**request: Any) -> Any:
        entries = request["Entries"]
        if refused:
            return sqs.send_message_batch(**request)
        refused.append(entries[0]["MessageBody"])
        response = sqs.send_message_batch(**{**request, "Entries": entries[1:]})
        response["Failed"] = [{"Id": entries[0]["Id"], "Code": "InternalError", "SenderFault": False}]
        return response

    assert (
        run_with(Proxy(sqs, send_message_batch=send_all_but_one), ["flaky", "--no-move-task"])
        == EXIT_INCOMPLETE
    )
    assert counts(sqs, dlq) == (0, 1)  # the refused one, still in flight in the DLQ, not deleted
    moved = drain_bodies(sqs, source)
    assert Counter(moved) + Counter(refused) == Counter(bodies)


def test_failed_delete_is_not_sent_twice(sqs: Any) -> None:
    source, dlq = make_queue_pair(sqs, "sticky")
    bodies = bodies_of(13)
    fill(sqs, dlq, bodies)
    failed_once: list[str] = []

    def delete_batch(**request: Any) -> Any:
        if failed_once:
            return sqs.delete_message_batch(**request)
        first, *rest = request["Entries"]
        failed_once.append(first["ReceiptHandle"])
        response = sqs.delete_message_batch(QueueUrl=request["QueueUrl"], Entries=rest) if rest else {}
        # As if the visibility timeout ran out: the copied message shows up again in this run.
        sqs.change_message_visibility(
            QueueUrl=request["QueueUrl"], ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
        )
        return {**response, "Failed": [{"Id": first["Id"], "Code": "InternalError", "SenderFault": False}]}

    def delete_one(**request: Any) -> Any:
        raise client_error("InternalError", "DeleteMessage")

    client = Proxy(sqs, delete_message_batch=delete_batch, delete_message=delete_one)
    assert run_with(client, ["sticky", "--no-move-task"]) == EXIT_INCOMPLETE  # one delete did fail
    assert Counter(drain_bodies(sqs, source)) == Counter(bodies)  # ...but nothing was sent twice
    assert drain_bodies(sqs, dlq) == []  # and the re-received copy was deleted


def test_send_error_releases_the_batch_and_exits_3(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    source, dlq = make_queue_pair(sqs, "down")
    bodies = bodies_of(9)
    fill(sqs, dlq, bodies)

    def throttled(**request: Any) -> Any:
        raise client_error("ThrottlingException", "SendMessageBatch")

    monkeypatch.setattr(redrive, "_clients", lambda region: (Proxy(sqs, send_message_batch=throttled), None))
    assert main(["down", "--no-move-task", *NO_WAIT]) == EXIT_AWS_ERROR
    assert counts(sqs, dlq) == (9, 0)  # released at once, not held for the visibility timeout
    assert Counter(drain_bodies(sqs, dlq)) == Counter(bodies)
    assert drain_bodies(sqs, source) == []


def test_copy_rate_limit(sqs: Any) -> None:
    source, dlq = make_queue_pair(sqs, "slow")
    fill(sqs, dlq, bodies_of(30))
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    redriver = Redriver(sqs, wait_seconds=0, sleep=sleep, clock=lambda: now[0])
    args = build_parser().parse_args(["slow", "--no-move-task", "--max-per-second", "10"])
    assert redrive.run(args, redriver) == EXIT_OK
    # 30 messages at 10/s: the last batch may start no earlier than 2 s after the first.
    assert sum(slept) == pytest.approx(2.0)
    assert len(drain_bodies(sqs, source)) == 30


def test_max_messages_stops_early(sqs: Any) -> None:
    source, dlq = make_queue_pair(sqs, "partial")
    fill(sqs, dlq, bodies_of(25))
    assert main(["partial", "--no-move-task", "--max-messages", "12", *NO_WAIT]) == EXIT_OK
    assert len(drain_bodies(sqs, source)) == 12
    assert len(drain_bodies(sqs, dlq)) == 13


# -- the move-task path (botocore Stubber) -----------------------------------------------------------------

SOURCE = QueueRef(
    "https://sqs.us-east-1.amazonaws.com/123456789012/work", "arn:aws:sqs:us-east-1:123456789012:work"
)
DLQ = QueueRef(
    "https://sqs.us-east-1.amazonaws.com/123456789012/work-dlq", "arn:aws:sqs:us-east-1:123456789012:work-dlq"
)


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sqs", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def task(status: str, moved: int, handle: str | None = None, **extra: Any) -> dict[str, Any]:
    result = {
        "Status": status,
        "SourceArn": DLQ.arn,
        "DestinationArn": SOURCE.arn,
        "ApproximateNumberOfMessagesMoved": moved,
        "ApproximateNumberOfMessagesToMove": 40,
        "StartedTimestamp": 1,
        **extra,
    }
    if handle:
        result["TaskHandle"] = handle
    return result


def test_move_task_polled_until_complete(
    stubbed: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "h-1"},
        {"SourceArn": DLQ.arn, "DestinationArn": SOURCE.arn, "MaxNumberOfMessagesPerSecond": 500},
    )
    listing = {"SourceArn": DLQ.arn, "MaxResults": 10}
    stubber.add_response("list_message_move_tasks", {"Results": [task("RUNNING", 10, "h-1")]}, listing)
    stubber.add_response("list_message_move_tasks", {"Results": [task("RUNNING", 30, "h-1")]}, listing)
    stubber.add_response(
        "list_message_move_tasks", {"Results": [task("COMPLETED", 40), task("COMPLETED", 3)]}, listing
    )
    sleeps: list[float] = []
    redriver = Redriver(client, sleep=sleeps.append, poll_seconds=2)
    outcome = redriver.move_with_task(SOURCE, DLQ, max_per_second=9000, timeout=None)
    assert (outcome.method, outcome.moved, outcome.complete) == ("move-task", 40, True)
    assert sleeps == [2, 2, 2]
    assert "move task RUNNING: 30/40 moved" in capsys.readouterr().out


def test_move_task_failure_is_incomplete(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("start_message_move_task", {"TaskHandle": "h-2"})
    stubber.add_response(
        "list_message_move_tasks",
        {"Results": [task("FAILED", 5, FailureReason="AWS.SimpleQueueService.KmsAccessDenied")]},
    )
    outcome = Redriver(client, sleep=lambda s: None).move_with_task(
        SOURCE, DLQ, max_per_second=None, timeout=None
    )
    assert not outcome.complete and outcome.moved == 5 and "KmsAccessDenied" in outcome.detail


def test_move_task_timeout_is_incomplete(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("start_message_move_task", {"TaskHandle": "h-3"})
    stubber.add_response("list_message_move_tasks", {"Results": [task("RUNNING", 1, "h-3")]})
    stubber.add_response("list_message_move_tasks", {"Results": [task("RUNNING", 2, "h-3")]})
    ticks = iter([0.0, 5.0, 11.0])
    redriver = Redriver(client, sleep=lambda s: None, clock=lambda: next(ticks))
    outcome = redriver.move_with_task(SOURCE, DLQ, max_per_second=None, timeout=10)
    assert not outcome.complete and "keeps running" in outcome.detail


@pytest.mark.parametrize(
    "code", ["UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "AccessDenied"]
)
def test_move_task_unavailable_codes_fall_back(stubbed: tuple[Any, Stubber], code: str) -> None:
    client, stubber = stubbed
    stubber.add_client_error("start_message_move_task", service_error_code=code, http_status_code=400)
    with pytest.raises(redrive._MoveTaskUnavailable):
        Redriver(client).move_with_task(SOURCE, DLQ, max_per_second=None, timeout=None)


def test_move_task_other_errors_are_not_hidden(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "start_message_move_task", service_error_code="InvalidParameterValue", http_status_code=400
    )
    with pytest.raises(ClientError):
        Redriver(client).move_with_task(SOURCE, DLQ, max_per_second=None, timeout=None)


def test_run_uses_the_move_task_when_available(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolution against moto, the move itself through a fake that records the request."""
    source, dlq = make_queue_pair(sqs, "managed")
    fill(sqs, dlq, bodies_of(3))
    started: list[dict[str, Any]] = []

    def start(**request: Any) -> Any:
        started.append(request)
        return {"TaskHandle": "h"}

    def listing(**request: Any) -> Any:
        return {"Results": [task("COMPLETED", 3)]}

    client = Proxy(sqs, start_message_move_task=start, list_message_move_tasks=listing)
    redriver = Redriver(client, wait_seconds=0, sleep=lambda s: None)
    args = build_parser().parse_args(["managed", "--max-per-second", "50"])
    assert redrive.run(args, redriver) == EXIT_OK
    assert started == [
        {
            "SourceArn": queue_arn(sqs, dlq),
            "DestinationArn": queue_arn(sqs, source),
            "MaxNumberOfMessagesPerSecond": 50,
        }
    ]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, "eu-west-1"),
    ],
)
def test_region_comes_from_aws_region_then_aws_default_region(
    variables: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")  # no profile region to fall back on
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        regional = boto3.client("sqs", region_name=expected)
        source, dlq = make_queue_pair(regional, "regional")  # only in the expected region
        fill(regional, dlq, ["a", "b"])
        # Plain names carry no region: the environment decides where the queues are looked up.
        assert main(["regional", "--no-move-task", *NO_WAIT]) == EXIT_OK
        assert sorted(drain_bodies(regional, source)) == ["a", "b"]


def test_queue_arn_region_and_flag_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    def clients(region: str | None) -> tuple[Any, Any]:
        seen.append(region)
        raise KeyboardInterrupt  # stop right after the clients would be made

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setattr(redrive, "_clients", clients)
    main(["arn:aws:sqs:ap-south-1:123456789012:q", "--dry-run"])
    main(["q", "--region", "us-west-2", "--dry-run"])
    main(["q", "--dry-run"])
    assert seen == ["ap-south-1", "us-west-2", "eu-west-1"]
