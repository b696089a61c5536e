"""What code calls on AWS, as IAM actions, and what a synthesized function is granted; for the exact-grant tests.

``recording()`` hooks botocore's ``before-call`` event on boto3's default session and on every botocore session
created while it is active (Powertools' idempotency layer makes its own), so each API call made through any
client created inside is seen once, retries not counted, whether moto or a real endpoint answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from aws_cdk.assertions import Template

from lambda_manifest.runtime import aws

# Services whose IAM actions are named exactly like their API operations (S3, for one, is not: ListObjectsV2 is
# authorized by s3:ListBucket). A call to any other service is reported as unmapped and fails the test.
ONE_TO_ONE = frozenset({"dynamodb", "secretsmanager", "sns", "sqs"})


@dataclass
class Calls:
    actions: set[str] = field(default_factory=set)
    unmapped: set[str] = field(default_factory=set)

    def record(self, model: Any, **_: Any) -> None:
        prefix = model.service_model.signing_name
        if prefix in ONE_TO_ONE:
            self.actions.add(f"{prefix}:{model.name}")
        else:
            self.unmapped.add(f"{prefix}.{model.name}")


@contextlib.contextmanager
def recording() -> Iterator[Calls]:
    """Record the calls of every boto3 client created inside the block (the runtimes' cached clients are
    dropped on entry and exit, so none made earlier, and so unhooked, is reused)."""
    calls = Calls()
    original_init = botocore.session.Session.__init__

    def init(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.register("before-call", calls.record)

    default = boto3.DEFAULT_SESSION._session if boto3.DEFAULT_SESSION is not None else None
    if default is not None:
        default.register("before-call", calls.record)
    botocore.session.Session.__init__ = init  # type: ignore[method-assign]
    aws.reset_clients()
    try:
        yield calls
    finally:
        botocore.session.Session.__init__ = original_init  # type: ignore[method-assign]
        if default is not None:
            default.unregister("before-call", calls.record)
        aws.reset_clients()


# A transaction is authorized by the actions of its items.
TRANSACT_ITEM_ACTIONS = {"Update": "dynamodb:UpdateItem", "Put": "dynamodb:PutItem", "Delete": "dynamodb:DeleteItem",
                         "ConditionCheck": "dynamodb:ConditionCheckItem"}


class OperationRecorder:
    """Records the operations of the clients passed to :meth:`hook` (a botocore ``before-parameter-build``
    handler on each) as the IAM actions ``operations`` maps them to, by (service id, operation name);
    ``TransactWriteItems`` by its items' actions. An operation with no mapping lands in ``unknown``."""

    def __init__(self, operations: Mapping[tuple[str, str], str]) -> None:
        self.operations = operations
        self.actions: set[str] = set()
        self.unknown: set[str] = set()
        self._hooked: set[int] = set()

    def hook(self, client: Any) -> Any:
        if id(client) not in self._hooked:
            self._hooked.add(id(client))
            client.meta.events.register("before-parameter-build.*.*", self.before_call)
        return client

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        op = (model.service_model.service_id, model.name)
        if op == ("DynamoDB", "TransactWriteItems"):
            for item in params["TransactItems"]:
                self.actions.update(TRANSACT_ITEM_ACTIONS[kind] for kind in item)
        elif op in self.operations:
            self.actions.add(self.operations[op])
        else:
            self.unknown.add(f"{op[0]}.{op[1]}")


def granted_actions(template: Template, handler: str) -> set[str]:
    """Every action in the policies attached to the role of the one function whose ``Handler`` is ``handler``."""
    functions = [f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                 if f["Properties"].get("Handler") == handler]
    assert len(functions) == 1, f"expected one function with handler {handler}, found {len(functions)}"
    role_id = functions[0]["Role"]["Fn::GetAtt"][0]
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    managed = {ref["Ref"] for ref in role.get("ManagedPolicyArns", []) if isinstance(ref, dict) and "Ref" in ref}
    actions: set[str] = set()
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for policy_id, policy in template.find_resources(kind).items():
            if policy_id not in managed and {"Ref": role_id} not in policy["Properties"].get("Roles", []):
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                action = statement["Action"]
                actions.update([action] if isinstance(action, str) else action)
    assert actions, f"no policy is attached to the role of {handler}"
    return actions
