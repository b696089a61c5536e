"""The execution role every ObservedFunction gets: all grants in one customer-managed policy."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from lambda_manifest.compliance import Pack, acknowledge


class ManagedPolicyRole(iam.Role):
    """A role whose grants land in one customer-managed policy instead of an inline policy.

    HIPAA, NIST 800-53 and PCI packs forbid inline policies (IAMNoInlinePolicy); routing every
    ``grant_*`` through ``add_to_principal_policy`` into a managed policy satisfies them for grants made
    later by any construct, without acknowledging anything.

    CDK's grants use action families (``kms:GenerateDataKey*``, ``s3:GetObject*``) and sub-resource
    wildcards (``<bucket ARN>/*``). AwsSolutions-IAM5 reports those; they are acknowledged here, one exact
    finding per grant, and only when the statement names specific resources. A statement on ``Resource: *``
    is never acknowledged by this role.
    """

    def __init__(self, scope: Construct, id: str, *, description: str) -> None:
        super().__init__(
            scope, id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.policy = iam.ManagedPolicy(self, "Policy", description=description)
        self.add_managed_policy(self.policy)
        self._acknowledged: set[str] = set()

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        self.policy.add_statements(statement)
        self._acknowledge_scoped_wildcards(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self.policy)

    def _acknowledge_scoped_wildcards(self, statement: iam.PolicyStatement) -> None:
        resources = statement.resources
        if "*" in resources:  # never acknowledged; also skips two jsii round trips (X-Ray's statement)
            return
        stack = cdk.Stack.of(self)
        rendered = [_render_for_nag(stack.resolve(resource)) for resource in resources]
        if not rendered or "*" in rendered or statement.effect != iam.Effect.ALLOW:
            return
        targets = ", ".join(rendered)
        for action in statement.actions:
            if "*" in action and action != "*":
                self._ack(f"Action::{action}", f"The action family {action} comes from a CDK grant scoped to "
                                                 f"{targets}; it names no other resource.")
        for resource in rendered:
            base = resource[:-2] if resource.endswith(("/*", ":*")) else None
            if base and "*" not in base:
                self._ack(f"Resource::{resource}", f"The wildcard covers only the objects or sub-resources "
                                                   f"of {base}, granted by a CDK grant for this function.")

    def _ack(self, finding: str, reason: str) -> None:
        if finding not in self._acknowledged:
            self._acknowledged.add(finding)
            acknowledge(self.policy, Pack.AWS_SOLUTIONS, f"AwsSolutions-IAM5[{finding}]", reason)


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
