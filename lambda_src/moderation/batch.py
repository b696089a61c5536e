"""``POST /moderation/batch`` worker: ``moderation.batch:process`` under the ``lambda_manifest.runtime.worker`` runtime.

The API puts the request body on the queue unchanged: ``{"submission_id": "s-1", "items": [{"id": "a",
"text": "...", "language": "en"}, ...]}`` (1-50 items, unique ids). Each item is moderated through the gateway
and its verdict stored in DynamoDB (``VERDICTS_TABLE``) under ``pk = SUB#<submission_id>``,
``sk = ITEM#<id>``. Processing is idempotent: a redelivered message (or a client re-sending the same submission)
skips items that already have a verdict, and a flagged item's review is published exactly until it is marked
``review = "published"``, so a crash between storing and publishing re-publishes instead of losing it.

A malformed submission raises ``InvalidSubmission``: the runtime fails the record, and after the queue's
``maxReceiveCount`` it waits in the dead-letter queue with the reason in the log. If some items fail (the
gateway is down), the record fails after the others are stored; the retry only redoes the missing ones.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lambda_manifest.runtime import aws
from lambda_manifest.runtime.worker import WorkerRecord

from .gateway import GatewayClient, Verdict, default_client
from .review import REVIEW_TOPIC_ENV, publish_review, review_message

VERDICTS_TABLE_ENV = "VERDICTS_TABLE"
MAX_ITEMS = 50
MAX_TEXT_CHARS = 8000
PARALLELISM = 4
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")


class InvalidSubmission(ValueError):
    """The message is not a valid batch submission; retrying cannot fix it."""


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not set(value) <= _ID_CHARS:
        raise InvalidSubmission(f"{what} must be 1-128 characters of letters, digits and ._:-")
    return value


def parse_submission(body: Any) -> tuple[str, list[dict[str, str]]]:
    """Validate a batch body; returns the submission id and the items (``id``, ``text``, ``language``)."""
    if not isinstance(body, Mapping):
        raise InvalidSubmission("the body must be a JSON object")
    unknown = sorted(set(body) - {"submission_id", "items"})
    if unknown:
        raise InvalidSubmission(f"unknown field(s): {', '.join(unknown)}")
    submission_id = _identifier(body.get("submission_id"), "submission_id")
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidSubmission(f"items must be a list of 1-{MAX_ITEMS} objects")
    parsed: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or set(item) - {"id", "text", "language"}:
            raise InvalidSubmission(f"items[{index}] must be an object with id, text and optional language")
        item_id = _identifier(item.get("id"), f"items[{index}].id")
        if item_id in seen:
            raise InvalidSubmission(f"items[{index}].id {item_id!r} is repeated")
        seen.add(item_id)
        text = item.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT_CHARS:
            raise InvalidSubmission(f"items[{index}].text must be a string of 1-{MAX_TEXT_CHARS} characters")
        language = item.get("language", "und")
        if not isinstance(language, str) or not 2 <= len(language) <= 3 or not language.isalpha() \
                or not language.islower():
            raise InvalidSubmission(f"items[{index}].language must be a 2-3 letter lower-case code")
        parsed.append({"id": item_id, "text": text, "language": language})
    return submission_id, parsed


def ddb() -> Any:
    return aws.client("dynamodb")


class VerdictStore:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    @staticmethod
    def key(submission_id: str, item_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"SUB#{submission_id}"}, "sk": {"S": f"ITEM#{item_id}"}}

    def get(self, submission_id: str, item_id: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self.key(submission_id, item_id),
                                    ConsistentRead=True).get("Item")
        return item if isinstance(item, dict) else None

    def put_if_absent(self, submission_id: str, item: Mapping[str, str], verdict: Verdict) -> bool:
        """Store the verdict unless one exists; True when this call stored it."""
        record: dict[str, Any] = {
            **self.key(submission_id, item["id"]),
            "submission_id": {"S": submission_id},
            "item_id": {"S": item["id"]},
            "flagged": {"BOOL": verdict.flagged},
            "severity": {"S": verdict.severity},
            "reason": {"S": verdict.reason},
            "needs_review": {"BOOL": verdict.needs_review},
            "model": {"S": verdict.model},
            # A fingerprint, not the text: the verdict table keeps no user content.
            "text_sha256": {"S": hashlib.sha256(item["text"].encode("utf-8")).hexdigest()},
            "moderated_at": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "review": {"S": "pending" if verdict.flagged else "none"},
        }
        if verdict.categories:
            record["categories"] = {"SS": sorted(verdict.categories)}
        try:
            self.client.put_item(TableName=self.table, Item=record, ConditionExpression="attribute_not_exists(pk)")
        except Exception as error:
            if aws.error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_published(self, submission_id: str, item_id: str, message_id: str) -> None:
        self.client.update_item(
            TableName=self.table, Key=self.key(submission_id, item_id),
            UpdateExpression="SET review = :published, review_message_id = :id",
            ExpressionAttributeValues={":published": {"S": "published"}, ":id": {"S": message_id}},
        )


def verdict_of(stored: Mapping[str, Any]) -> Verdict:
    return Verdict(
        flagged=bool(stored.get("flagged", {}).get("BOOL")),
        categories=tuple(sorted(stored.get("categories", {}).get("SS", []))),
        severity=str(stored.get("severity", {}).get("S", "unknown")),
        reason=str(stored.get("reason", {}).get("S", "")),
        needs_review=bool(stored.get("needs_review", {}).get("BOOL")),
        model=str(stored.get("model", {}).get("S", "")),
    )


def moderate_item(submission_id: str, item: Mapping[str, str], *, store: VerdictStore, client: GatewayClient,
                  topic_arn: str, sns: Any = None) -> str:
    """Moderate, store and (when flagged) send one item to review. Returns ``clean``, ``flagged``,
    ``duplicate`` (already done) or ``review_republished`` (stored earlier, review not yet published)."""
    stored = store.get(submission_id, item["id"])
    if stored is None:
        verdict = client.moderate(item["text"], item["language"])
        if store.put_if_absent(submission_id, item, verdict):
            if not verdict.flagged:
                return "clean"
            return _publish(submission_id, item, verdict, store, topic_arn, sns, "flagged")
        stored = store.get(submission_id, item["id"])  # a concurrent delivery stored it first
        if stored is None:
            raise RuntimeError(f"the verdict of {item['id']} vanished after a conditional write")
    if stored.get("review", {}).get("S") != "pending":
        return "duplicate"
    return _publish(submission_id, item, verdict_of(stored), store, topic_arn, sns, "review_republished")


def _publish(submission_id: str, item: Mapping[str, str], verdict: Verdict, store: VerdictStore, topic_arn: str,
             sns: Any, outcome: str) -> str:
    message_id = publish_review(topic_arn, review_message(
        content_id=item["id"], source="batch", text=item["text"], verdict=verdict, submission_id=submission_id),
        client=sns)
    store.mark_published(submission_id, item["id"], message_id)
    return outcome


def process(record: WorkerRecord, *, store: VerdictStore | None = None, client: GatewayClient | None = None,
            sns: Any = None) -> dict[str, int]:
    submission_id, items = parse_submission(record.body)
    store = store or VerdictStore(os.environ[VERDICTS_TABLE_ENV], ddb())
    client = client or default_client()
    topic_arn = os.environ[REVIEW_TOPIC_ENV]
    counts: dict[str, int] = {}
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=min(PARALLELISM, len(items))) as pool:
        futures = {item["id"]: pool.submit(moderate_item, submission_id, item, store=store, client=client,
                                           topic_arn=topic_arn, sns=sns) for item in items}
        for item_id, future in futures.items():
            try:
                outcome = future.result()
            except Exception as error:  # one item's failure must not lose the others' verdicts
                failures.append(f"{item_id}: {type(error).__name__}")
                continue
            counts[outcome] = counts.get(outcome, 0) + 1
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(items)} items of submission {submission_id} failed "
                           f"({'; '.join(failures[:5])}); the retry redoes only those")
    return counts
