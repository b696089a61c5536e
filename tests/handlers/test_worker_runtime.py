"""The queue worker runtime (lambda_manifest/runtime/worker): record view, envelopes, partial batch responses,
FIFO groups, idempotency, and delivery semantics against moto's SQS with a real RedrivePolicy."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from worker_sqs import (
    FakeContext,
    drain_bodies,
    lambda_event,
    make_queue_pair,
    queue_arn,
    run_mapping,
    synthetic_record,
)

from lambda_manifest.runtime.worker import (
    MalformedBodyError,
    Worker,
    WorkerRecord,
    WorkerSettings,
    runtime,
    worker,
)
from lambda_manifest.runtime.worker import handler as generic
from lambda_manifest.runtime.worker.record import Skip, from_sqs_record

WORKER_ENV = (
    "LM_WORKER_FIFO",
    "LM_WORKER_RAW_BODY",
    "LM_WORKER_IDEMPOTENCY_TABLE",
    "LM_WORKER_IDEMPOTENCY_KEY",
    "LM_WORKER_IDEMPOTENCY_TTL_SECONDS",
    "LM_WORKER_PROCESS",
)


@pytest.fixture(autouse=True)
def clean_worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in WORKER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def event_of(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


# -- the record view ---------------------------------------------------------------------------------------


def test_record_view_fields() -> None:
    seen: list[WorkerRecord] = []
    handler = worker(seen.append)
    record = synthetic_record('{"order_id": "o-1"}', "id-1", ApproximateReceiveCount="3")
    record["messageAttributes"] = {"kind": {"stringValue": "order", "dataType": "String"}}
    assert failures(handler(event_of(record), FakeContext())) == []
    (view,) = seen
    assert view.message_id == "id-1"
    assert view.body == {"order_id": "o-1"}
    assert view.raw_body == '{"order_id": "o-1"}'
    assert view.receive_count == 3
    assert view.group_id is None
    assert view.source == "sqs"
    assert view.envelope is None
    assert view.attributes["ApproximateReceiveCount"] == "3"
    assert view.message_attribute("kind") == "order"
    assert view.message_attribute("missing") is None
    assert view.queue_arn.endswith(":synthetic")


def test_empty_event_reports_nothing() -> None:
    assert worker(lambda r: None)({"Records": []}) == {"batchItemFailures": []}


def test_decorator_forms() -> None:
    @worker
    def plain(record: WorkerRecord) -> None:
        pass

    @worker(raw_body=True)
    def raw(record: WorkerRecord) -> None:
        pass

    assert isinstance(plain, Worker) and isinstance(raw, Worker)
    assert raw.settings().raw_body is True
    with pytest.raises(TypeError):
        Worker(lambda r: None, colour="blue")


# -- failures ---------------------------------------------------------------------------------------------


def test_malformed_json_is_a_reported_failure_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[WorkerRecord] = []
    handler = worker(calls.append)
    secret = "card=4111111111111111"
    response = handler(
        event_of(
            synthetic_record("{not json " + secret, "bad-1"), synthetic_record('{"ok": true}', "good-1")
        ),
        FakeContext(),
    )
    assert failures(response) == ["bad-1"]
    assert [r.message_id for r in calls] == ["good-1"]
    logged = [r for r in caplog.records if r.getMessage() == "record failed"]
    assert len(logged) == 1
    assert logged[0].message_id == "bad-1"  # type: ignore[attr-defined]
    assert "not valid JSON" in logged[0].reason  # type: ignore[attr-defined]
    # The body is never logged, not even in the reason.
    assert all(secret not in r.getMessage() and secret not in str(r.__dict__) for r in caplog.records)


def test_exception_reason_is_logged_with_message_id(caplog: pytest.LogCaptureFixture) -> None:
    def process(record: WorkerRecord) -> None:
        raise ValueError("quantity must be positive")

    response = worker(process)(event_of(synthetic_record("{}", "m-9")), FakeContext())
    assert failures(response) == ["m-9"]
    (line,) = [r for r in caplog.records if r.getMessage() == "record failed"]
    assert line.message_id == "m-9"  # type: ignore[attr-defined]
    assert line.reason == "ValueError: quantity must be positive"  # type: ignore[attr-defined]


def test_whole_batch_failing_is_reported_not_raised() -> None:
    def process(record: WorkerRecord) -> None:
        raise RuntimeError("down")

    records = [synthetic_record("{}", f"m-{i}") for i in range(4)]
    assert failures(worker(process)(event_of(*records))) == [f"m-{i}" for i in range(4)]


def test_raw_body_mode_accepts_text(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    handler = worker(lambda r: seen.append(r.body))
    monkeypatch.setenv("LM_WORKER_RAW_BODY", "true")
    assert (
        failures(handler(event_of(synthetic_record("plain text"), synthetic_record('{"a": 1}', "m-2")))) == []
    )
    assert seen == ["plain text", {"a": 1}]
    monkeypatch.setenv("LM_WORKER_RAW_BODY", "false")
    assert failures(handler(event_of(synthetic_record("plain text")))) == ["m-1"]


def test_settings_from_env_validate() -> None:
    assert WorkerSettings.from_env({}) == WorkerSettings(False, False, None, None, 3600)
    parsed = WorkerSettings.from_env(
        {
            "LM_WORKER_FIFO": "TRUE",
            "LM_WORKER_RAW_BODY": "0",
            "LM_WORKER_IDEMPOTENCY_TABLE": "idem",
            "LM_WORKER_IDEMPOTENCY_KEY": "body.order_id",
            "LM_WORKER_IDEMPOTENCY_TTL_SECONDS": "60",
        }
    )
    assert parsed == WorkerSettings(True, False, "idem", "body.order_id", 60)
    for bad in ({"LM_WORKER_FIFO": "maybe"}, {"LM_WORKER_IDEMPOTENCY_TTL_SECONDS": "soon"}):
        with pytest.raises(ValueError):
            WorkerSettings.from_env(bad)


# -- envelopes -----------------------------------------------------------------------------------------------


def test_envelopes_unwrapped_from_real_deliveries(aws: None) -> None:
    """SNS (raw delivery off), EventBridge and S3 each deliver into a queue in moto; the worker sees the
    inner payload and where it came from, and S3's test event is acknowledged without calling process."""
    sqs, sns, events, s3 = (boto3.client(name) for name in ("sqs", "sns", "events", "s3"))
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = queue_arn(sqs, url)
    topic = sns.create_topic(Name="orders")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"order_id": "o-1"}),
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "order_created"}},
    )
    events.put_rule(Name="app", EventPattern=json.dumps({"source": ["my.app"]}))
    events.put_targets(Rule="app", Targets=[{"Id": "q", "Arn": arn}])
    events.put_events(
        Entries=[{"Source": "my.app", "DetailType": "thing.happened", "Detail": '{"thing": 2}'}]
    )
    s3.create_bucket(Bucket="uploads-bucket")
    s3.put_bucket_notification_configuration(
        Bucket="uploads-bucket",
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket="uploads-bucket", Key="in/a.csv", Body=b"x")

    seen: dict[str, WorkerRecord] = {}
    log = run_mapping(sqs, url, worker(lambda r: seen.__setitem__(r.source, r)))
    assert log.received == 4 and log.failed == []  # the S3 test event is the fourth, acknowledged
    assert set(seen) == {"sns", "eventbridge", "s3"}
    assert seen["sns"].body == {"order_id": "o-1"}
    assert seen["sns"].message_attribute("event_type") == "order_created"
    assert seen["sns"].envelope is not None and seen["sns"].envelope["TopicArn"] == topic
    assert seen["eventbridge"].body == {"thing": 2}
    assert seen["eventbridge"].envelope is not None
    assert seen["eventbridge"].envelope["detail-type"] == "thing.happened"
    (s3_record,) = seen["s3"].body
    # S3 URL-encodes keys in notifications; the runtime hands them over untouched.
    assert unquote_plus(s3_record["s3"]["object"]["key"]) == "in/a.csv"
    assert s3_record["eventName"].startswith("ObjectCreated")


def test_sns_wrapped_s3_event_and_test_event() -> None:
    s3_event = {
        "Records": [
            {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"object": {"key": "k"}}}
        ]
    }
    sns = {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": json.dumps(s3_event)}
    view = from_sqs_record(synthetic_record(json.dumps(sns)))
    assert isinstance(view, WorkerRecord) and view.source == "s3" and view.body == s3_event["Records"]
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}
    assert isinstance(from_sqs_record(synthetic_record(json.dumps(test_event))), Skip)
    wrapped = {**sns, "Message": json.dumps(test_event)}
    assert isinstance(from_sqs_record(synthetic_record(json.dumps(wrapped))), Skip)


def test_lookalike_payloads_are_not_unwrapped() -> None:
    for payload in (
        {"Type": "Notification", "Message": "hi"},  # no TopicArn: a user's own object
        {"detail": {"x": 1}, "detail-type": "t"},  # no source
        {"Records": [{"s3": {}}]},  # not from aws:s3
        {"Records": []},
    ):
        view = from_sqs_record(synthetic_record(json.dumps(payload)))
        assert isinstance(view, WorkerRecord) and view.source == "sqs" and view.body == payload


def test_sns_message_that_is_not_json_fails_unless_raw() -> None:
    sns = {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "hello"}
    with pytest.raises(MalformedBodyError):
        from_sqs_record(synthetic_record(json.dumps(sns)))
    view = from_sqs_record(synthetic_record(json.dumps(sns)), raw_body=True)
    assert isinstance(view, WorkerRecord) and view.body == "hello" and view.source == "sns"


# -- FIFO ----------------------------------------------------------------------------------------------------


def fifo_record(message_id: str, group: str, body: dict[str, Any]) -> dict[str, Any]:
    record = synthetic_record(json.dumps(body), message_id, MessageGroupId=group)
    record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
    return record


def test_fifo_group_stops_at_first_failure_other_groups_continue() -> None:
    calls: list[str] = []

    def process(record: WorkerRecord) -> None:
        calls.append(record.message_id)
        if record.body.get("fail"):
            raise RuntimeError("no")

    batch = event_of(
        fifo_record("a1", "A", {}),
        fifo_record("b1", "B", {}),
        fifo_record("a2", "A", {"fail": True}),
        fifo_record("b2", "B", {}),
        fifo_record("a3", "A", {}),
        fifo_record("c1", "C", {"fail": True}),
        fifo_record("b3", "B", {}),
        fifo_record("c2", "C", {}),
    )
    response = worker(process)(batch, FakeContext())
    assert failures(response) == ["a2", "a3", "c1", "c2"]
    # a3 and c2 are never run: running them before their failed predecessor would break the group's order.
    assert calls == ["a1", "b1", "a2", "b2", "c1", "b3"]


def test_fifo_from_env_on_a_standard_arn() -> None:
    def process(record: WorkerRecord) -> None:
        if record.message_id == "a1":
            raise RuntimeError("no")

    records = [
        synthetic_record("{}", "a1", MessageGroupId="A"),
        synthetic_record("{}", "a2", MessageGroupId="A"),
    ]
    assert failures(worker(process)(event_of(*records))) == ["a1"]
    assert failures(worker(process, fifo=True)(event_of(*records))) == ["a1", "a2"]


def test_fifo_queue_end_to_end_keeps_group_order(aws: None) -> None:
    sqs = boto3.client("sqs")
    url, dlq = make_queue_pair(sqs, "fifo-orders", max_receive_count=5, fifo=True)
    for group in ("A", "B", "C"):
        for n in range(6):
            sqs.send_message(
                QueueUrl=url,
                MessageBody=json.dumps({"group": group, "n": n}),
                MessageGroupId=group,
                MessageDeduplicationId=f"{group}-{n}",
            )
    order: dict[str, list[int]] = defaultdict(list)
    attempts: Counter[tuple[str, int]] = Counter()
    wrong_groups: list[tuple[str, int]] = []

    def process(record: WorkerRecord) -> None:
        key = (record.body["group"], record.body["n"])
        attempts[key] += 1
        if record.group_id != key[0]:
            wrong_groups.append(key)
        if key in {("A", 2), ("B", 0)} and attempts[key] < 3:
            raise RuntimeError("transient")
        order[key[0]].append(key[1])

    log = run_mapping(sqs, url, worker(process), batch_size=10)
    assert {group: numbers for group, numbers in order.items()} == {g: list(range(6)) for g in "ABC"}
    assert drain_bodies(sqs, dlq) == [] and wrong_groups == []
    assert len(log.succeeded) == 18


# -- delivery semantics with a real RedrivePolicy ---------------------------------------------------------


def check_delivery(
    seed: int, messages: int, max_receive_count: int, failure_rate: float, batch_size: int
) -> None:
    rng = random.Random(seed)
    sqs = boto3.client("sqs")
    url, dlq = make_queue_pair(sqs, f"work-{seed}", max_receive_count=max_receive_count)
    bodies: dict[str, str] = {}
    for n in range(messages):
        body = "{oops" if rng.random() < 0.03 else json.dumps({"n": n, "pad": rng.random()})
        bodies[str(n)] = body
    for n, body in bodies.items():
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageAttributes={"n": {"DataType": "String", "StringValue": n}}
        )

    attempts: dict[str, list[bool]] = defaultdict(list)
    effects: Counter[str] = Counter()
    violations: list[tuple[str, int, int]] = []

    def process(record: WorkerRecord) -> None:
        n = record.message_attribute("n")
        assert n is not None
        # Recorded, not asserted: an AssertionError here would just become one more reported failure.
        if record.receive_count != len(attempts[n]) + 1:
            violations.append((n, record.receive_count, len(attempts[n])))
        ok = rng.random() >= failure_rate
        attempts[n].append(ok)
        if not ok:
            raise RuntimeError("random failure")
        effects[n] += 1

    log = run_mapping(sqs, url, worker(process), batch_size=batch_size)
    dead = Counter(drain_bodies(sqs, dlq))
    assert drain_bodies(sqs, url) == []
    assert violations == [], "ApproximateReceiveCount did not count the receives"

    succeeded = {n for n, count in effects.items() if count}
    assert all(count == 1 for count in effects.values()), "a message's side effect ran twice"
    dead_expected: Counter[str] = Counter()
    for n, body in bodies.items():
        if n in succeeded:
            # It succeeded on its last attempt, after at most maxReceiveCount - 1 failures.
            assert attempts[n][-1] is True and attempts[n].count(True) == 1
            assert len(attempts[n]) <= max_receive_count
        else:
            dead_expected[body] += 1
            # Malformed bodies never reach process; the others failed on every one of their receives.
            assert attempts[n] == ([] if body == "{oops" else [False] * max_receive_count)
    assert dead == dead_expected, "nothing lost: every message succeeded once or is in the DLQ"
    assert log.received == len(log.succeeded) + len(log.failed)
    assert len(log.succeeded) == len(succeeded)


@pytest.mark.parametrize("seed", range(6))
def test_random_failures_nothing_lost_nothing_doubled(aws: None, seed: int) -> None:
    rng = random.Random(1000 + seed)
    check_delivery(
        seed,
        messages=rng.randint(40, 120),
        max_receive_count=rng.randint(1, 4),
        failure_rate=rng.choice([0.0, 0.1, 0.3, 0.6]),
        batch_size=rng.randint(1, 10),
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    messages=st.integers(1, 40),
    max_receive_count=st.integers(1, 4),
    failure_rate=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
    batch_size=st.integers(1, 10),
)
def test_delivery_property(
    seed: int, messages: int, max_receive_count: int, failure_rate: float, batch_size: int
) -> None:
    with mock_aws():
        check_delivery(seed, messages, max_receive_count, failure_rate, batch_size)


def test_record_that_always_fails_ends_in_dlq(aws: None) -> None:
    sqs = boto3.client("sqs")
    url, dlq = make_queue_pair(sqs, "poison", max_receive_count=3)
    sqs.send_message(QueueUrl=url, MessageBody='{"poison": true}')
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    counts: list[int] = []

    def process(record: WorkerRecord) -> None:
        if record.body.get("poison"):
            counts.append(record.receive_count)
            raise ValueError("never works")

    log = run_mapping(sqs, url, worker(process))
    assert counts == [1, 2, 3]
    assert drain_bodies(sqs, dlq) == ['{"poison": true}']
    assert len(log.succeeded) == 5


# -- idempotency ------------------------------------------------------------------------------------------


def make_idempotency_table(name: str = "idempotency") -> str:
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_duplicate_delivery_runs_side_effect_once(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LM_WORKER_IDEMPOTENCY_TABLE", make_idempotency_table())
    sqs = boto3.client("sqs")
    url, dlq = make_queue_pair(sqs, "idem")
    effects: Counter[str] = Counter()
    failed_once: set[str] = set()

    def process(record: WorkerRecord) -> None:
        key = record.body["k"]
        if key == "flaky" and key not in failed_once:
            failed_once.add(key)
            raise RuntimeError("first try fails")
        effects[key] += 1

    for body in ['{"k": "a"}', '{"k": "a"}', '{"k": "b"}', '{"k": "a"}', '{"k": "flaky"}', '{"k": "flaky"}']:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    log = run_mapping(sqs, url, worker(process), batch_size=3)
    # A failure removes the idempotency record, so the retry runs; everything else ran once.
    assert effects == {"a": 1, "b": 1, "flaky": 1}
    assert len(log.succeeded) == 6 and drain_bodies(sqs, dlq) == []
    items = boto3.client("dynamodb").scan(TableName="idempotency")["Items"]
    assert len(items) == 3
    assert all(item["status"]["S"] == "COMPLETED" and "expiration" in item for item in items)


def test_idempotency_key_expression_and_group(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    table = make_idempotency_table()
    effects: list[Any] = []
    handler = worker(
        lambda r: effects.append(r.body), idempotency_table=table, idempotency_key="body.order_id"
    )
    first = synthetic_record('{"order_id": "o-1", "note": "first"}', "m-1")
    again = synthetic_record('{"order_id": "o-1", "note": "second"}', "m-2")
    other = synthetic_record('{"order_id": "o-2"}', "m-3")
    assert failures(handler(event_of(first, again, other), FakeContext())) == []
    assert [e["note"] if "note" in e else e["order_id"] for e in effects] == ["first", "o-2"]
    # A configured key that the message lacks is a failure, not an unguarded run.
    assert failures(handler(event_of(synthetic_record('{"x": 1}', "m-4")), FakeContext())) == ["m-4"]

    # Without a key expression the message group is part of the key: same body, other group, runs again.
    effects.clear()
    by_group = worker(lambda r: effects.append((r.group_id, r.body)), idempotency_table=table)
    records = [
        synthetic_record('{"v": 1}', "g-1", MessageGroupId="A"),
        synthetic_record('{"v": 1}', "g-2", MessageGroupId="B"),
        synthetic_record('{"v": 1}', "g-3", MessageGroupId="A"),
    ]
    assert failures(by_group(event_of(*records), FakeContext())) == []
    assert effects == [("A", {"v": 1}), ("B", {"v": 1})]


def test_idempotency_ttl_is_applied(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("LM_WORKER_IDEMPOTENCY_TABLE", make_idempotency_table())
    monkeypatch.setenv("LM_WORKER_IDEMPOTENCY_TTL_SECONDS", "120")
    before = int(time.time())
    worker(lambda r: None)(event_of(synthetic_record('{"a": 1}')), FakeContext())
    (item,) = boto3.client("dynamodb").scan(TableName="idempotency")["Items"]
    assert before + 110 <= int(item["expiration"]["N"]) <= int(time.time()) + 130


# -- the generic entry point -----------------------------------------------------------------------------


def test_generic_entry_point_loads_process_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker_sample_process as sample

    sample.SEEN.clear()
    monkeypatch.setenv("LM_WORKER_PROCESS", "worker_sample_process:process")
    response = generic.main(
        event_of(synthetic_record('{"n": 1}', "m-1"), synthetic_record("{}", "m-2")), FakeContext()
    )
    assert failures(response) == ["m-2"]
    first = generic._current()
    generic.main(event_of(synthetic_record('{"n": 2}', "m-3")), FakeContext())
    assert generic._current() is first
    assert sample.SEEN == [1, 2]

    # A module attribute that already is a Worker is used as is (its own settings included).
    monkeypatch.setenv("LM_WORKER_PROCESS", "worker_sample_process:handler")
    assert generic._current() is sample.handler


@pytest.mark.parametrize(
    "spec", ["", "no_colon", "worker_sample_process:", "worker_sample_process:NOT_CALLABLE"]
)
def test_generic_entry_point_rejects_bad_specs(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setenv("LM_WORKER_PROCESS", spec)
    with pytest.raises((RuntimeError, ValueError, TypeError)):
        generic.main(event_of(synthetic_record("{}")))


def test_lambda_event_helper_matches_runtime(aws: None) -> None:
    """The test harness's event shape carries group id and receive count the way Lambda does."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="shape.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="G", MessageDeduplicationId="d")
    messages = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    (record,) = lambda_event(messages, queue_arn(sqs, url))["Records"]
    view = from_sqs_record(record)
    assert isinstance(view, WorkerRecord) and view.group_id == "G" and view.receive_count == 1


def test_failure_logging_does_not_break_on_fifo_short_circuit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    def process(record: WorkerRecord) -> None:
        raise RuntimeError("first fails")

    response = worker(process)(event_of(fifo_record("a1", "A", {}), fifo_record("a2", "A", {})))
    assert failures(response) == ["a1", "a2"]
    reasons = [r.reason for r in caplog.records if r.getMessage() == "record failed"]  # type: ignore[attr-defined]
    assert reasons[0] == "RuntimeError: first fails"
    assert reasons[1] == "FifoGroupSkipped: an earlier message of group 'A' failed"


def test_one_traceback_per_raise_site_and_minute(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def process(record: WorkerRecord) -> None:
        if record.body.get("kind") == "a":
            raise ValueError(f"bad {record.message_id}")
        raise KeyError("other site")

    records = [synthetic_record(json.dumps({"kind": k}), f"m-{i}") for i, k in enumerate("aabab")]
    handler = worker(process)
    assert failures(handler(event_of(*records))) == [f"m-{i}" for i in range(5)]
    logged = [r for r in caplog.records if r.getMessage() == "record failed"]
    assert [r.message_id for r in logged] == [f"m-{i}" for i in range(5)]  # type: ignore[attr-defined]
    assert [r.exc_info is not None for r in logged] == [True, False, True, False, False]
    sites = [r.error_site for r in logged]  # type: ignore[attr-defined]
    assert sites[0] == sites[1] == sites[3] != sites[2] == sites[4]
    assert sites[0].rsplit(":", 1)[0] == __file__  # the user's raise, not the runtime's frames

    caplog.clear()
    handler(event_of(*records[:2]))  # the same sites within the minute: no traceback
    assert [r.exc_info is not None for r in caplog.records if r.getMessage() == "record failed"] == [
        False,
        False,
    ]
    caplog.clear()
    monkeypatch.setattr(runtime, "_TRACEBACK_EVERY_SECONDS", 0.0)
    handler(event_of(*records[:2]))
    assert [r.exc_info is not None for r in caplog.records if r.getMessage() == "record failed"] == [
        True,
        True,
    ]
