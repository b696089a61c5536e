"""The record view a worker's ``process`` function receives, and the envelope unwrapping behind it.

Only the standard library is imported here so the parsing rules can be used (and tested) without Powertools.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

Source = Literal["sqs", "sns", "eventbridge", "s3"]

_EMPTY: Mapping[str, Any] = {}


class MalformedBodyError(ValueError):
    """The message payload is not valid JSON (and raw bodies are not allowed)."""


class WorkerRecord:
    """One SQS message as a worker sees it (read-only).

    ``body`` is the decoded inner payload: for a message that SNS, EventBridge or S3 put on the queue it is the
    notification's message, the event's ``detail`` or the list of S3 event records, and ``source`` says which.
    ``raw_body`` is always the SQS body exactly as received, and ``envelope`` the decoded wrapper (``None`` for
    a plain SQS message) for callers that need e.g. EventBridge's ``detail-type``.

    Only what decoding produced is stored; the other fields read Lambda's record when asked. Building the
    view is then a handful of assignments (it was the runtime's largest per-record cost as a frozen
    dataclass of ten fields), and there are no setters, so it stays read-only.
    """

    __slots__ = ("_body", "_envelope", "_record", "_source")

    def __init__(
        self,
        record: Mapping[str, Any],
        body: Any,
        source: Source = "sqs",
        envelope: Mapping[str, Any] | None = None,
    ) -> None:
        self._record = record
        self._body = body
        self._source: Source = source
        self._envelope = envelope

    @property
    def message_id(self) -> str:
        return str(self._record["messageId"])

    @property
    def body(self) -> Any:
        return self._body

    @property
    def raw_body(self) -> str:
        return str(self._record.get("body") or "")

    @property
    def attributes(self) -> Mapping[str, str]:
        return self._record.get("attributes") or _EMPTY

    @property
    def message_attributes(self) -> Mapping[str, Mapping[str, Any]]:
        return self._record.get("messageAttributes") or _EMPTY

    @property
    def group_id(self) -> str | None:
        return self.attributes.get("MessageGroupId")

    @property
    def receive_count(self) -> int:
        return int(self.attributes.get("ApproximateReceiveCount") or 1)

    @property
    def source(self) -> Source:
        return self._source

    @property
    def envelope(self) -> Mapping[str, Any] | None:
        return self._envelope

    @property
    def queue_arn(self) -> str:
        return str(self._record.get("eventSourceARN") or "")

    def __repr__(self) -> str:
        return f"WorkerRecord(message_id={self.message_id!r}, source={self._source!r}, body={self._body!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkerRecord):
            return NotImplemented
        return (self._record, self._body, self._source, self._envelope) == (
            other._record, other._body, other._source, other._envelope)

    __hash__ = None  # type: ignore[assignment]  # mutable mappings inside, as with the dataclass

    def message_attribute(self, name: str) -> str | None:
        """String value of a message attribute, looking through an SNS envelope when there is one.

        With SNS raw delivery off, the publisher's attributes travel inside the notification, not on the SQS
        message, so a consumer that reads both ways would otherwise need two code paths.
        """
        attribute = self.message_attributes.get(name)
        if attribute is not None:
            value = attribute.get("stringValue")
            return value if isinstance(value, str) else None
        if self.source == "sns" and self.envelope is not None:
            sns_attributes = self.envelope.get("MessageAttributes") or _EMPTY
            entry = sns_attributes.get(name)
            if isinstance(entry, Mapping) and isinstance(entry.get("Value"), str):
                return str(entry["Value"])
        return None


class Skip:
    """Marker returned for messages that are acknowledged without calling ``process`` (S3 test events)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _is_sns(value: Any) -> bool:
    # TopicArn is always present in a real notification; requiring it keeps a user payload that merely has a
    # "Type" field from being mistaken for an envelope.
    return (
        isinstance(value, dict)
        and value.get("Type") == "Notification"
        and isinstance(value.get("Message"), str)
        and "TopicArn" in value
    )


def _is_eventbridge(value: Any) -> bool:
    return isinstance(value, dict) and "detail-type" in value and "detail" in value and "source" in value


def _is_s3_test_event(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("Event") == "s3:TestEvent"
        and value.get("Service") == "Amazon S3"
    )


def _is_s3_event(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    records = value.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and "s3" in r and r.get("eventSource") == "aws:s3" for r in records)
    )


def _decode(text: str, raw_body: bool) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        if raw_body:
            return text
        # The decoder's message names the position only, never the content, so it is safe to log.
        detail = (
            f"{exc.msg} at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else "invalid"
        )
        raise MalformedBodyError(f"body is not valid JSON: {detail}") from None


def unwrap(payload: Any, raw_body: bool = False) -> tuple[Any, Source, Mapping[str, Any] | None] | Skip:
    """Peel the envelope AWS services put around a message: ``(inner payload, source, envelope)``.

    One SNS layer is unwrapped first, then S3 or EventBridge inside it, because S3 and EventBridge can both fan
    out through a topic before reaching the queue; the innermost producer is what the worker cares about.
    """
    source: Source = "sqs"
    envelope: Mapping[str, Any] | None = None
    if type(payload) is not dict or _ENVELOPE_KEYS.isdisjoint(payload):
        return payload, source, envelope  # the common case: a plain message, no envelope to look into
    if _is_sns(payload):
        envelope = payload
        source = "sns"
        payload = _decode(payload["Message"], raw_body)
    if _is_s3_test_event(payload):
        return Skip("s3:TestEvent")
    if _is_s3_event(payload):
        return payload["Records"], "s3", payload
    if _is_eventbridge(payload):
        return payload["detail"], "eventbridge", payload
    return payload, source, envelope


def from_sqs_record(record: Mapping[str, Any], raw_body: bool = False) -> WorkerRecord | Skip:
    """Build the view of one record of Lambda's SQS event; raises :class:`MalformedBodyError`."""
    text = record.get("body") or ""
    try:
        payload = json.loads(text)
    except ValueError:
        payload = _decode(text, raw_body)  # raw text, or MalformedBodyError
    if type(payload) is not dict or _ENVELOPE_KEYS.isdisjoint(payload):
        return WorkerRecord(record, payload)  # a plain message: the per-record fast path
    unwrapped = unwrap(payload, raw_body)
    if isinstance(unwrapped, Skip):
        return unwrapped
    body, source, envelope = unwrapped
    return WorkerRecord(record, body, source, envelope)


# Every envelope test needs one of these keys; a payload with none of them is a plain SQS message.
_ENVELOPE_KEYS = frozenset({"Type", "Event", "Records", "detail-type"})
