"""The execution role every ObservedFunction gets: all grants in one customer-managed policy, exact actions."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from lambda_manifest.compliance import Pack, acknowledge

# The action families aws-cdk-lib's grants write, and the exact actions a function's code needs from each. A
# family not listed here is kept as written and is not acknowledged, so AwsSolutions-IAM5 fails synth on it.
ACTION_FAMILIES: dict[str, tuple[tuple[str, ...], str]] = {
    "kms:GenerateDataKey*": (("kms:GenerateDataKey",),
                             "S3, SQS, SNS and DynamoDB encrypt with a plaintext data key; the WithoutPlaintext and "
                             "key-pair variants serve client-side envelope encryption, which no grant here does"),
    "kms:ReEncrypt*": ((),
                       "ReEncryptFrom/ReEncryptTo move a ciphertext between keys; none of the services a grant "
                       "names calls them for the caller (S3 copies with Decrypt + GenerateDataKey)"),
    "s3:GetObject*": (("s3:GetObject",),
                      "reading an object; its ACL, tags, retention and torrent are not read by function code"),
    "s3:GetBucket*": ((),
                      "object reads and listings need no bucket-configuration reads (policy, ACL, CORS, ...)"),
    "s3:List*": (("s3:ListBucket",), "ListObjectsV2 is authorized by s3:ListBucket"),
    "s3:DeleteObject*": (("s3:DeleteObject",),
                         "deleting the current object; deleting versions or tags is not a data-path operation"),
    "s3:Abort*": (("s3:AbortMultipartUpload",), "the only S3 action the family holds"),
}


class ManagedPolicyRole(iam.Role):
    """A role whose grants land in one customer-managed policy instead of an inline policy, with exact actions.

    HIPAA, NIST 800-53 and PCI packs forbid inline policies (IAMNoInlinePolicy); routing every
    ``grant_*`` through ``add_to_principal_policy`` into a managed policy satisfies them for grants made
    later by any construct, without acknowledging anything.

    CDK's grants use action families (``kms:GenerateDataKey*``, ``s3:GetObject*``): each known family is
    replaced by the exact actions in :data:`ACTION_FAMILIES` before the statement is added, so no statement
    this role holds grants a wildcard action. Sub-resource wildcards (``<bucket ARN>/*``) remain; they are
    acknowledged here, one exact finding per grant, and only when the base resource is named.
    """

    def __init__(self, scope: Construct, id: str, *, description: str,
                 assumed_by: iam.IPrincipal | None = None) -> None:
        super().__init__(
            scope, id, assumed_by=assumed_by or iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.policy = iam.ManagedPolicy(self, "Policy", description=description)
        self.add_managed_policy(self.policy)
        self._acknowledged: set[str] = set()

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        exact = exact_actions(statement)
        if exact is not None:
            self.policy.add_statements(exact)
            self._acknowledge_scoped_wildcards(exact)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self.policy)

    def _acknowledge_scoped_wildcards(self, statement: iam.PolicyStatement) -> None:
        resources = statement.resources
        if "*" in resources:  # never acknowledged; also skips two jsii round trips (X-Ray's statement)
            return
        stack = cdk.Stack.of(self)
        rendered = [_render_for_nag(stack.resolve(resource)) for resource in resources]
        if not rendered or "*" in rendered or statement.effect != iam.Effect.ALLOW:
            return
        for resource in rendered:
            base = resource[:-2] if resource.endswith(("/*", ":*")) else None
            if base and "*" not in base:
                self._ack(f"Resource::{resource}", f"The wildcard covers only the objects or sub-resources "
                                                   f"of {base}, granted by a CDK grant for this function.")

    def _ack(self, finding: str, reason: str) -> None:
        if finding not in self._acknowledged:
            self._acknowledged.add(finding)
            acknowledge(self.policy, Pack.AWS_SOLUTIONS, f"AwsSolutions-IAM5[{finding}]", reason)


def exact_actions(statement: iam.PolicyStatement) -> iam.PolicyStatement | None:
    """``statement`` with each known action family replaced by its exact actions.

    Returns the statement itself when it holds no known family, a copy otherwise, and ``None`` when nothing
    is left (a grant of ``kms:ReEncrypt*`` alone).
    """
    actions = list(statement.actions)
    if not any(action in ACTION_FAMILIES for action in actions) or statement.not_actions:
        return statement
    expanded: list[str] = []
    for action in actions:
        for exact in ACTION_FAMILIES[action][0] if action in ACTION_FAMILIES else (action,):
            if exact not in expanded:
                expanded.append(exact)
    if not expanded:
        return None
    conditions = statement.conditions
    return iam.PolicyStatement(
        sid=statement.sid,
        effect=statement.effect,
        actions=expanded,
        resources=list(statement.resources) or None,
        not_resources=list(statement.not_resources) or None,
        conditions=conditions if conditions else None,
    )


def _render_for_nag(value: Any) -> str:
    """Render a resolved policy resource the way cdk-nag prints it in IAM5 finding ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::Join" and arg[0] == "":
            return "".join(_render_for_nag(part) for part in arg[1])
    return "*"  # anything we cannot render is treated as unscoped, so it is never acknowledged
