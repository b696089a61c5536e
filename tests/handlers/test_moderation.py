"""Content moderation handlers: the gateway client against a loopback fake of the gateway, the submission API
and the batch worker against moto (Secrets Manager, SNS, SQS, DynamoDB), and one end-to-end run through the real
gateway runtime with the ContentModerationStack's own prompt configuration."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from api_events import FakeLambdaContext, http_event
from gateway_fakes import GatewayEnv, serve_handler
from moderation import batch, gateway, handler
from moderation.gateway import (
    GatewayClient,
    GatewayRejected,
    GatewayUnavailable,
    SecretKey,
    Verdict,
    parse_verdict,
)
from moto import mock_aws
from worker_sqs import FakeContext, synthetic_record

from lambda_manifest.runtime.aws import reset_clients
from lambda_manifest.runtime.worker import worker

VIRTUAL_KEY = "lmg-test-virtual-key-0123456789"
CLEAN = {"flagged": False, "categories": [], "severity": "none", "reason": "harmless"}
FLAGGED = {"flagged": True, "categories": ["harassment"], "severity": "high", "reason": "targets a person"}
VERDICTS = "verdicts-test"


# ---------------------------------------------------------------------------------------------------
# A loopback fake of the gateway's prompt endpoint
# ---------------------------------------------------------------------------------------------------
@dataclass
class FakeGateway:
    """Answers ``POST /v1/prompts/moderate-text`` like the gateway: a chat completion whose content is the
    verdict for the text (``verdicts`` by substring, else clean), or a queued fault (status, body, headers)."""

    key: str = VIRTUAL_KEY
    verdicts: dict[str, Any] = field(default_factory=dict)
    faults: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, auth: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.requests.append({"path": path, "auth": auth, "body": body})
            if self.faults:
                return self.faults.pop(0)
        if path != "/v1/prompts/moderate-text":
            return 404, {"error": {"message": "no route", "code": "unknown_route"}}, {}
        if auth != f"Bearer {self.key}":
            return 401, {"error": {"message": "invalid API key", "code": "invalid_api_key"}}, {}
        text = body["variables"]["text"]
        content = next((v for k, v in self.verdicts.items() if k in text), CLEAN)
        return 200, {
            "object": "chat.completion", "model": "moderation",
            "choices": [{"index": 0, "message": {"role": "assistant",
                                                 "content": content if isinstance(content, str) else json.dumps(content)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140},
        }, {"x-lm-request-id": "gw-req-1"}


@contextmanager
def fake_gateway(**kwargs: Any) -> Iterator[FakeGateway]:
    fake = FakeGateway(**kwargs)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, doc, headers = fake.answer(self.path, self.headers.get("authorization", ""), json.loads(raw))
            payload = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


class StaticKey:
    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.refreshes = 0

    def __call__(self, *, refresh: bool = False) -> str:
        if refresh:
            self.refreshes += 1
            self.values.pop(0)
        return self.values[0]


# ---------------------------------------------------------------------------------------------------
# Verdict parsing
# ---------------------------------------------------------------------------------------------------
def test_verdict_from_json() -> None:
    verdict = parse_verdict(json.dumps(FLAGGED), model="moderation")
    assert verdict == Verdict(flagged=True, categories=("harassment",), severity="high", reason="targets a person",
                              model="moderation")


def test_verdict_inside_code_fences_and_prose() -> None:
    verdict = parse_verdict('Here you go:\n```json\n{"flagged": false, "severity": "none"}\n```')
    assert verdict.flagged is False and verdict.needs_review is False


@pytest.mark.parametrize("content", [None, "", "I cannot help with that.", '{"flagged": "yes"}', "[1, 2]",
                                     '{"flagged": true'])
def test_unusable_answers_fail_closed_to_human_review(content: str | None) -> None:
    verdict = parse_verdict(content)
    assert verdict.flagged is True and verdict.needs_review is True and verdict.severity == "unknown"


def test_unknown_categories_are_dropped_and_a_category_flags() -> None:
    verdict = parse_verdict('{"flagged": false, "categories": ["spam", "made-up", "spam"], "severity": "weird"}')
    assert verdict.flagged is True and verdict.categories == ("spam",) and verdict.severity == "none"


# ---------------------------------------------------------------------------------------------------
# Gateway client
# ---------------------------------------------------------------------------------------------------
def test_client_calls_the_prompt_endpoint_with_variables_and_bearer_key() -> None:
    with fake_gateway(verdicts={"idiot": FLAGGED}) as fake:
        verdict = GatewayClient(fake.url, StaticKey(VIRTUAL_KEY)).moderate("you idiot", "en")
    assert verdict.flagged and verdict.gateway_request_id == "gw-req-1"
    assert verdict.usage == {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140}
    request = fake.requests[0]
    assert request["path"] == "/v1/prompts/moderate-text"
    assert request["auth"] == f"Bearer {VIRTUAL_KEY}"
    assert request["body"] == {"variables": {"text": "you idiot", "language": "en"}}


def test_client_rereads_a_rotated_key_once() -> None:
    key = StaticKey("lmg-old-revoked", VIRTUAL_KEY)
    with fake_gateway() as fake:
        verdict = GatewayClient(fake.url, key).moderate("hello")
    assert not verdict.flagged and key.refreshes == 1 and len(fake.requests) == 2


def test_client_maps_gateway_errors() -> None:
    with fake_gateway() as fake:
        client = GatewayClient(fake.url, StaticKey(VIRTUAL_KEY), timeout_s=2)
        fake.faults.append((429, {"error": {"message": "quota", "code": "rate_limit_exceeded"}}, {"retry-after": "7"}))
        with pytest.raises(GatewayUnavailable) as busy:
            client.moderate("x")
        assert busy.value.status == 429 and busy.value.retry_after == 7
        fake.faults.append((502, {"error": {"message": "every provider failed", "code": "upstream_error"}}, {}))
        with pytest.raises(GatewayUnavailable, match="upstream_error"):
            client.moderate("x")
        fake.faults.append((400, {"error": {"message": "invalid variable(s)", "code": "invalid_variables"}}, {}))
        with pytest.raises(GatewayRejected) as rejected:
            client.moderate("x")
        assert rejected.value.code == "invalid_variables"
        url = fake.url
    with pytest.raises(GatewayUnavailable, match="did not answer"):
        GatewayClient(url, StaticKey(VIRTUAL_KEY), timeout_s=1).moderate("x")  # the server is gone


def test_client_requires_https() -> None:
    with pytest.raises(ValueError, match="https"):
        GatewayClient("http://gateway.example.com/v1", StaticKey(VIRTUAL_KEY))


def test_secret_key_reads_bare_and_json_secrets_and_caches() -> None:
    with mock_aws():
        sm = boto3.client("secretsmanager")
        bare = sm.create_secret(Name="bare", SecretString=VIRTUAL_KEY)["ARN"]
        wrapped = sm.create_secret(Name="json", SecretString=json.dumps({"api_key": VIRTUAL_KEY}))["ARN"]
        empty = sm.create_secret(Name="empty", SecretString="{}")["ARN"]
        reset_clients()
        key = SecretKey(bare)
        assert key() == VIRTUAL_KEY
        sm.put_secret_value(SecretId=bare, SecretString="lmg-rotated")
        assert key() == VIRTUAL_KEY  # cached
        assert key(refresh=True) == "lmg-rotated"
        assert SecretKey(wrapped)() == VIRTUAL_KEY
        with pytest.raises(GatewayRejected, match="holds no virtual key"):
            SecretKey(empty)()
        reset_clients()


# ---------------------------------------------------------------------------------------------------
# POST /moderation and the batch worker, against moto
# ---------------------------------------------------------------------------------------------------
@dataclass
class Env:
    fake: FakeGateway
    sqs: Any
    ddb: Any
    review_url: str


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with mock_aws(), fake_gateway(verdicts={"idiot": FLAGGED, "garbled": "not json at all"}) as fake:
        sm, sns, sqs, ddb = (boto3.client(s) for s in ("secretsmanager", "sns", "sqs", "dynamodb"))
        secret_arn = sm.create_secret(Name="gateway-key", SecretString=VIRTUAL_KEY)["ARN"]
        topic = sns.create_topic(Name="review")["TopicArn"]
        review_url = sqs.create_queue(QueueName="review")["QueueUrl"]
        review_arn = sqs.get_queue_attributes(QueueUrl=review_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=review_arn, Attributes={"RawMessageDelivery": "true"})
        ddb.create_table(
            TableName=VERDICTS, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )
        monkeypatch.setenv("GATEWAY_URL", fake.url)
        monkeypatch.setenv("GATEWAY_KEY_SECRET_ARN", secret_arn)
        monkeypatch.setenv("REVIEW_TOPIC_ARN", topic)
        monkeypatch.setenv("VERDICTS_TABLE", VERDICTS)
        gateway.reset()
        reset_clients()
        yield Env(fake, sqs, ddb, review_url)
        gateway.reset()
        reset_clients()


def reviews(env: Env) -> list[dict[str, Any]]:
    messages = env.sqs.receive_message(QueueUrl=env.review_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def post(body: Any, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    event = http_event("POST", "/moderation", body=body, authorizer={"jwt": {"claims": {"sub": "user-7"},
                                                                             "scopes": None}}, **kwargs)
    response = handler.main(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}


def test_clean_text_is_accepted_without_review(env: Env) -> None:
    status, body, _ = post({"text": "What a lovely day", "language": "en", "content_id": "post-1"})
    assert status == 200
    assert body["content_id"] == "post-1" and body["flagged"] is False and body["review_message_id"] is None
    assert reviews(env) == []
    assert env.fake.requests[0]["body"]["variables"] == {"text": "What a lovely day", "language": "en"}


def test_flagged_text_goes_to_human_review(env: Env) -> None:
    status, body, _ = post({"text": "you idiot"})
    assert status == 200 and body["flagged"] is True and body["categories"] == ["harassment"]
    assert body["review_message_id"] and body["content_id"].startswith("content-")
    [message] = reviews(env)
    assert message["type"] == "moderation_review" and message["source"] == "api"
    assert message["text"] == "you idiot" and message["submitted_by"] == "user-7"
    assert message["verdict"]["severity"] == "high"
    assert env.fake.requests[0]["body"]["variables"]["language"] == "und"


def test_unusable_model_answer_is_sent_to_review(env: Env) -> None:
    status, body, _ = post({"text": "garbled input"})
    assert status == 200 and body["flagged"] is True and body["needs_review"] is True
    assert len(reviews(env)) == 1


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "x" * 8001}, {"text": "hi", "language": "English"},
                                  {"text": "hi", "extra": 1}, {"text": "hi", "content_id": "has space"}])
def test_invalid_submissions_are_400_without_calling_the_gateway(env: Env, body: Any) -> None:
    status, response, _ = post(body)
    assert status == 400 and response["error"]["code"] == "VALIDATION_FAILED"
    assert env.fake.requests == []


def test_gateway_quota_is_a_429_with_retry_after(env: Env) -> None:
    env.fake.faults.append((429, {"error": {"message": "quota", "code": "rate_limit_exceeded"}}, {"retry-after": "12"}))
    status, body, headers = post({"text": "hello"})
    assert status == 429 and body["error"]["code"] == "MODERATION_BUSY"
    assert {k.lower(): v for k, v in headers.items()}["retry-after"] == "12"


def test_gateway_outage_and_misconfiguration(env: Env) -> None:
    env.fake.faults.append((504, {"error": {"message": "every provider timed out", "code": "upstream_timeout"}}, {}))
    status, body, _ = post({"text": "hello"})
    assert status == 503 and body["error"]["code"] == "MODERATION_UNAVAILABLE"
    env.fake.faults.append((404, {"error": {"message": "no prompt", "code": "prompt_not_found"}}, {}))
    status, body, _ = post({"text": "hello"})
    assert status == 502 and body["error"]["code"] == "MODERATION_MISCONFIGURED"


BATCH_HANDLER = worker(batch.process)


def run_batch(*bodies: Any) -> list[str]:
    records = [synthetic_record(b if isinstance(b, str) else json.dumps(b), f"m-{i}") for i, b in enumerate(bodies)]
    response = BATCH_HANDLER({"Records": records}, FakeContext())
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def submission(n: int = 3, flagged: tuple[int, ...] = (1,)) -> dict[str, Any]:
    return {"submission_id": "sub-1", "items": [
        {"id": f"i{i}", "text": ("you idiot " if i in flagged else "nice ") + str(i), "language": "en"}
        for i in range(n)]}


def stored(env: Env, item_id: str) -> dict[str, Any] | None:
    item = env.ddb.get_item(TableName=VERDICTS, Key={"pk": {"S": "SUB#sub-1"}, "sk": {"S": f"ITEM#{item_id}"}})
    return item.get("Item")


def test_batch_stores_each_verdict_and_reviews_the_flagged(env: Env) -> None:
    assert run_batch(submission()) == []
    clean, flagged = stored(env, "i0"), stored(env, "i1")
    assert clean is not None and clean["flagged"] == {"BOOL": False} and clean["review"] == {"S": "none"}
    assert flagged is not None and flagged["flagged"] == {"BOOL": True} and flagged["review"] == {"S": "published"}
    assert flagged["categories"] == {"SS": ["harassment"]} and "text" not in flagged
    [message] = reviews(env)
    assert message["source"] == "batch" and message["submission_id"] == "sub-1" and message["content_id"] == "i1"
    assert len(env.fake.requests) == 3


def test_redelivered_batch_does_not_moderate_twice(env: Env) -> None:
    assert run_batch(submission()) == []
    reviews(env)
    assert run_batch(submission()) == []
    assert len(env.fake.requests) == 3 and reviews(env) == []


def test_review_lost_after_the_write_is_published_by_the_retry(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    real = batch.publish_review
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("SNS hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "publish_review", flaky)
    assert run_batch(submission()) == ["m-0"]
    assert stored(env, "i1")["review"] == {"S": "pending"}  # type: ignore[index]
    assert run_batch(submission()) == []
    assert stored(env, "i1")["review"] == {"S": "published"}  # type: ignore[index]
    assert len(reviews(env)) == 1 and len(env.fake.requests) == 3


def test_partial_gateway_failure_retries_only_the_missing_items(env: Env) -> None:
    env.fake.faults.append((503, {"error": {"message": "down", "code": "upstream_error"}}, {}))
    assert run_batch(submission(n=4, flagged=())) == ["m-0"]
    assert sum(stored(env, f"i{i}") is not None for i in range(4)) == 3
    assert run_batch(submission(n=4, flagged=())) == []
    assert all(stored(env, f"i{i}") is not None for i in range(4))
    assert len(env.fake.requests) == 5


@pytest.mark.parametrize("body", [
    "not json", [], {"items": [{"id": "a", "text": "x"}]}, {"submission_id": "s", "items": []},
    {"submission_id": "s", "items": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]},
    {"submission_id": "s", "items": [{"id": "a", "text": "x", "language": "EN"}]},
    {"submission_id": "s", "items": [{"id": f"i{i}", "text": "x"} for i in range(51)]},
    {"submission_id": "bad id", "items": [{"id": "a", "text": "x"}]},
])
def test_malformed_batches_fail_without_calling_the_gateway(env: Env, body: Any) -> None:
    assert run_batch(body) == ["m-0"]
    assert env.fake.requests == []


# ---------------------------------------------------------------------------------------------------
# End to end: the example stack's prompt, served by the real gateway runtime
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def example_config() -> dict[str, Any]:
    import aws_cdk as cdk

    from stacks.content_moderation import ContentModerationStack

    stack = ContentModerationStack(cdk.App(), "ContentModerationStack")
    return json.loads(json.dumps(stack.gateway.config, default=str))


def test_moderation_through_the_real_gateway_with_the_example_prompt(
    example_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def use_example(config: dict[str, Any]) -> None:
        openai, anthropic = config["providers"]["oa"], config["providers"]["an"]
        config.clear()
        config.update(json.loads(json.dumps(example_config)))
        # The example's OpenAI provider points at the fake; its Bedrock fallback becomes the Anthropic fake.
        config["providers"] = {"openai": {**openai, "timeout_s": 2}, "bedrock": {**anthropic, "timeout_s": 2}}
        config["prices"] = {"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6},
                            "bedrock/amazon.nova-lite-v1:0": {"input": 0.06, "output": 0.24}}
        config["routing"] = {"retries": 0}

    with GatewayEnv(use_example) as gw, serve_handler() as url:
        gw.oa.reply = json.dumps(FLAGGED)
        gw.an.reply = json.dumps(CLEAN)
        key = gw.create_key(tenant="moderation", models=("moderation",))
        client = GatewayClient(url, StaticKey(key), timeout_s=10)
        verdict = client.moderate("you idiot", "en")
        assert verdict.flagged and verdict.categories == ("harassment",) and verdict.model == "moderation"
        sent = json.dumps(gw.oa.requests[-1])
        assert "content moderation classifier" in sent and "you idiot" in sent and "Language: en" in sent
        assert gw.an.calls == 0
        gw.oa.push(500)  # the primary fails: the fallback answers
        assert client.moderate("have a nice day", "en").flagged is False
        assert gw.an.calls == 1
        with pytest.raises(GatewayRejected) as invalid:
            client.moderate("x" * 8001, "en")  # the template's variables schema caps the text
        assert invalid.value.status == 400 and invalid.value.code == "invalid_variables"


@pytest.mark.parametrize("budget,expected", [(None, 27.0), (40.0, 27.0), (10.0, 10.0), (0.1, 0.5)])
def test_gateway_wait_is_capped_by_the_callers_remaining_time(budget: float | None, expected: float) -> None:
    seen: list[float] = []

    class Answer:
        status = 200
        headers: dict[str, str] = {}

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self) -> bytes:
            content = json.dumps({"flagged": False, "categories": [], "severity": "none", "reason": "ok"})
            return json.dumps({"model": "m", "choices": [{"message": {"content": content}}]}).encode()

    def opener(request: Any, timeout: float) -> Answer:
        seen.append(timeout)
        return Answer()

    client = gateway.GatewayClient("https://gw.example.com/v1", lambda refresh=False: "k", opener=opener)
    client.moderate("hello", "en", budget_s=budget)
    assert seen == [expected]
