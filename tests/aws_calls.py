"""What code calls on AWS, as IAM actions, and what a synthesized function is granted; for the exact-grant tests.

``recording()`` hooks botocore's ``before-call`` event on boto3's default session and on every botocore session
created while it is active (Powertools' idempotency layer makes its own), so each API call made through any
client created inside is seen once, retries not counted, whether moto or a real endpoint answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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
