"""The gateway function may call exactly what the gateway runtime calls.

The runtime is driven through every feature that touches AWS (keys, quotas with reservation and settlement,
the cache, conversations, Responses storage, usage, provider secrets, Bedrock Converse and ConverseStream,
InvokeModel embeddings, Claude on Bedrock through InvokeModel and InvokeModelWithResponseStream) against moto and loopback fakes, while a botocore ``before-parameter-build`` hook on each of the
runtime's clients records the operation. Each operation is mapped to the IAM action that authorizes it
(transactions by their items' actions), and that set must equal the actions the synthesized template grants
the gateway function on its table, its secrets and its Bedrock models: nothing missing, nothing extra."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from aws_cdk import aws_secretsmanager as sm
from aws_cdk.assertions import Template
from gateway_fakes import GatewayEnv, bedrock_client, serve_handler

from lambda_manifest import AiGatewayFunction, ModelAlias, Provider, Target
from lambda_manifest.runtime.gateway import aws
from tests.aws_calls import OperationRecorder
from tests.support import new_stack

# botocore's operation names -> IAM actions (Converse and InvokeModel share bedrock:InvokeModel; ConverseStream
# is bedrock:InvokeModelWithResponseStream).
OPERATION_ACTIONS = {
    ("DynamoDB", "GetItem"): "dynamodb:GetItem", ("DynamoDB", "PutItem"): "dynamodb:PutItem",
    ("DynamoDB", "UpdateItem"): "dynamodb:UpdateItem", ("DynamoDB", "DeleteItem"): "dynamodb:DeleteItem",
    ("Secrets Manager", "GetSecretValue"): "secretsmanager:GetSecretValue",
    ("Bedrock Runtime", "Converse"): "bedrock:InvokeModel",
    ("Bedrock Runtime", "InvokeModel"): "bedrock:InvokeModel",
    ("Bedrock Runtime", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
    ("Bedrock Runtime", "InvokeModelWithResponseStream"): "bedrock:InvokeModelWithResponseStream",
}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[OperationRecorder]:
    recorder = OperationRecorder(OPERATION_ACTIONS)
    real = aws.client
    monkeypatch.setattr(aws, "client", lambda *a, **kw: recorder.hook(real(*a, **kw)))
    yield recorder


def with_everything(c: dict[str, Any]) -> None:
    c["models"]["titan"] = {"targets": [{"provider": "br", "model": "amazon.titan-embed-text-v2:0"}]}
    c["tenants"]["acme"] = {"rpm": 100, "tpd": 1_000_000}


def exercise_the_runtime(env: GatewayEnv) -> None:
    key = env.create_key(rpm=50, tpd=100_000, budget_usd=5)
    with bedrock_client(), serve_handler() as base_url:
        client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=10)
        user: Any = [{"role": "user", "content": "hi"}]
        for _ in range(2):  # a miss that fills the cache, then a hit
            client.chat.completions.create(model="fast", messages=user, temperature=0)
        for model in ("claude", "bedrock"):
            client.chat.completions.create(model=model, messages=user)
            list(client.chat.completions.create(model=model, messages=user, stream=True))
        client.chat.completions.create(model="fast", messages=user, extra_body={"conversation_id": "c1"})
        first = client.responses.create(model="fast", input="hi")
        client.responses.create(model="fast", input="again", previous_response_id=first.id)
        client.embeddings.create(model="titan", input="hi")
        claude = anthropic.Anthropic(api_key=key, base_url=base_url.removesuffix("/v1"), max_retries=0, timeout=10)
        claude.messages.create(model="bedrock", max_tokens=20, messages=user)  # Claude on Bedrock: InvokeModel
        with claude.messages.stream(model="bedrock", max_tokens=20, messages=user) as stream:
            stream.get_final_message()
        client.get("/usage", cast_to=object)
        client.get("/conversations/c1", cast_to=object)
        client.delete("/conversations/c1", cast_to=object)


def synthesized_actions() -> set[str]:
    """The actions the gateway function's policy grants on its table, secrets and Bedrock models."""
    stack = new_stack()
    AiGatewayFunction(
        stack, "Gw", streaming=True,
        providers={
            "oa": Provider.openai_compatible(base_url="https://api.openai.com/v1", secret=sm.Secret.from_secret_complete_arn(
                stack, "Oa", "arn:aws:secretsmanager:us-east-1:111122223333:secret:oa-AbCdEf")),
            "an": Provider.anthropic(secret=sm.Secret.from_secret_complete_arn(
                stack, "An", "arn:aws:secretsmanager:us-east-1:111122223333:secret:an-AbCdEf")),
            "br": Provider.bedrock(),
        },
        models={"fast": ModelAlias(targets=[Target(provider="oa", model="gpt-4o-mini")]),
                "claude": ModelAlias(targets=[Target(provider="an", model="claude-haiku")]),
                "bedrock": ModelAlias(targets=[Target(provider="br", model="anthropic.claude-3-haiku")]),
                "titan": ModelAlias(targets=[Target(provider="br", model="amazon.titan-embed-text-v2:0")])},
        track_cost=False,
    )
    template = Template.from_stack(stack)
    granted: set[str] = set()
    for name, policy in template.find_resources("AWS::IAM::ManagedPolicy").items():
        if not name.startswith("GwFunctionServiceRolePolicy"):  # the gateway function's own policy
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            granted.update(a for a in actions if a.split(":")[0] in ("dynamodb", "secretsmanager", "bedrock"))
    assert granted, "no statement of the gateway function's role found"
    return granted


def test_the_function_is_granted_exactly_the_actions_the_runtime_calls(recorder: OperationRecorder) -> None:
    with GatewayEnv(with_everything) as env:
        exercise_the_runtime(env)
    assert not recorder.unknown, f"calls with no IAM mapping here: {recorder.unknown}"
    assert recorder.actions == synthesized_actions()
    # What the run covered, so a feature that stops calling AWS cannot shrink the test silently.
    assert recorder.actions >= {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                "dynamodb:DeleteItem", "secretsmanager:GetSecretValue", "bedrock:InvokeModel",
                                "bedrock:InvokeModelWithResponseStream"}
