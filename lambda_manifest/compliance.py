"""The compliance gate: the only module that knows cdk-nag's API and Checkov's metadata format.

``apply_compliance_packs(app)`` registers the cdk-nag 3.x packs as CDK validation plugins. Synthesis then
fails (``ValidationFailed``) on any finding that no construct acknowledged, and ``cdk.out/validation-report.json``
lists what failed.

Constructs acknowledge their own findings with :func:`acknowledge`, on the narrowest construct that causes
them, naming the exact rule and a reason specific to that resource. The same call writes the matching Checkov
skip (``Metadata.checkov.skip``) into every resource of that construct the Checkov check applies to, through
:data:`NAG_TO_CHECKOV`, so a platform team that runs Checkov over ``cdk.out`` sees the same decision with the
same reason. A Checkov finding that no nag rule reports is acknowledged with :func:`acknowledge_checkov`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
import cdk_nag
from constructs import IConstruct


class Pack(enum.Enum):
    """The cdk-nag rule packs the gate can apply. Values are the packs' own names."""

    AWS_SOLUTIONS = "AwsSolutions"
    SERVERLESS = "Serverless"
    HIPAA_SECURITY = "HIPAA.Security"
    NIST_800_53_R5 = "NIST.800.53.R5"
    PCI_DSS_321 = "PCI.DSS.321"


ALL_PACKS: tuple[Pack, ...] = tuple(Pack)

# The Checkov checks (framework cloudformation) that a nag acknowledgement can carry over to, with the resource
# types each one inspects: a skip is written only on resources of those types.
CHECKOV_CHECKS: dict[str, tuple[str, ...]] = {
    "CKV_AWS_7": ("AWS::KMS::Key",),
    "CKV_AWS_18": ("AWS::S3::Bucket",),
    "CKV_AWS_21": ("AWS::S3::Bucket",),
    "CKV_AWS_26": ("AWS::SNS::Topic",),
    "CKV_AWS_27": ("AWS::SQS::Queue",),
    "CKV_AWS_28": ("AWS::DynamoDB::Table",),
    "CKV_AWS_59": ("AWS::ApiGateway::Method",),
    "CKV_AWS_66": ("AWS::Logs::LogGroup",),
    "CKV_AWS_73": ("AWS::ApiGateway::Stage",),
    "CKV_AWS_76": ("AWS::ApiGateway::Stage",),
    "CKV_AWS_95": ("AWS::ApiGatewayV2::Stage",),
    "CKV_AWS_115": ("AWS::Lambda::Function",),
    "CKV_AWS_116": ("AWS::Lambda::Function",),
    "CKV_AWS_117": ("AWS::Lambda::Function",),
    "CKV_AWS_119": ("AWS::DynamoDB::Table",),
    "CKV_AWS_120": ("AWS::ApiGateway::Stage",),
    "CKV_AWS_149": ("AWS::SecretsManager::Secret",),
    "CKV_AWS_158": ("AWS::Logs::LogGroup",),
    "CKV_AWS_166": ("AWS::Backup::BackupVault",),
    "CKV_AWS_173": ("AWS::Lambda::Function",),
}

# cdk-nag rule (without its pack prefix and granular suffix) -> the Checkov checks that test the same property of
# the same resource. A rule that is absent has no Checkov counterpart for CloudFormation (DynamoDBInBackupPlan,
# SecretsManagerRotationEnabled, IAMNoInlinePolicy, CloudWatchAlarmAction, SQS3/SQSRedrivePolicy, APIG3/WAF,
# APIGWSSLEnabled, APIG6/execution logging, COG2/COG8, IAM4, IAM5, L1): acknowledging it writes no skip. IAM5
# is absent on purpose: Checkov's IAM checks (CKV_AWS_107-111) look for dangerous actions on Resource '*', a
# narrower property than IAM5's wildcards, so they keep running on every policy.
NAG_TO_CHECKOV: dict[str, tuple[str, ...]] = {
    "LambdaInsideVPC": ("CKV_AWS_117",),
    "LambdaConcurrency": ("CKV_AWS_115",),
    "LambdaDLQ": ("CKV_AWS_116",),
    "S1": ("CKV_AWS_18",),
    "S3BucketLoggingEnabled": ("CKV_AWS_18",),
    "S3BucketVersioningEnabled": ("CKV_AWS_21",),
    "DynamoDBPITREnabled": ("CKV_AWS_28",),
    "CloudWatchLogGroupEncrypted": ("CKV_AWS_158",),
    "CloudWatchLogGroupRetentionPeriod": ("CKV_AWS_66",),
    "APIG1": ("CKV_AWS_76", "CKV_AWS_95"),
    "APIGWAccessLogging": ("CKV_AWS_76", "CKV_AWS_95"),
    "APIGWXrayEnabled": ("CKV_AWS_73",),
    "APIGWCacheEnabledAndEncrypted": ("CKV_AWS_120",),
    "APIG4": ("CKV_AWS_59",),
    "COG4": ("CKV_AWS_59",),
    "SNSEncryptedKMS": ("CKV_AWS_26",),
    "SQSQueueEncrypted": ("CKV_AWS_27",),
    "KMSBackingKeyRotationEnabled": ("CKV_AWS_7",),
    "SecretsManagerUsingKMSKey": ("CKV_AWS_149",),
}

_CHECKOV_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
_MIN_REASON = 20


def _plugin(pack: Pack, scope: IConstruct, verbose: bool) -> cdk.IPolicyValidationPlugin:
    if pack is Pack.AWS_SOLUTIONS:
        return cdk_nag.AwsSolutionsChecks(scope, verbose=verbose)
    if pack is Pack.SERVERLESS:
        return cdk_nag.ServerlessChecks(scope, verbose=verbose)
    if pack is Pack.HIPAA_SECURITY:
        return cdk_nag.HIPAASecurityChecks(scope, verbose=verbose)
    if pack is Pack.NIST_800_53_R5:
        return cdk_nag.NIST80053R5Checks(scope, verbose=verbose)
    return cdk_nag.PCIDSS321Checks(scope, verbose=verbose)


def apply_compliance_packs(
    scope: IConstruct, *, packs: Iterable[Pack] = ALL_PACKS, verbose: bool = True
) -> list[Pack]:
    """Register cdk-nag packs as validation plugins on an app or stack.

    Parameters
    ----------
    scope:
        The ``App`` (every stack is checked) or one ``Stack``.
    packs:
        Which packs to apply. Default: all five (AwsSolutions, Serverless, HIPAA Security,
        NIST 800-53 R5, PCI DSS 3.2.1).
    verbose:
        Include each rule's explanation in the report. Default: ``True``.

    Returns
    -------
    The packs that were applied, in order.
    """
    applied = list(dict.fromkeys(packs))
    if not applied:
        raise ValueError("packs must name at least one Pack, got an empty list; pass e.g. packs=ALL_PACKS")
    plugins = [_plugin(pack, scope, verbose) for pack in applied]
    cdk.Validations.of(scope).add_plugins(*plugins)
    return applied


def acknowledge(scope: IConstruct, pack: Pack, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children) with a specific reason.

    ``rule`` is the rule name as the report prints it, e.g. ``"AwsSolutions-IAM5[Resource::*]"`` or
    ``"HIPAA.Security-LambdaInsideVPC"``. When the rule has a Checkov counterpart (:data:`NAG_TO_CHECKOV`),
    the same reason is written as a Checkov skip on each resource under ``scope`` that the check inspects.
    """
    acknowledge_all(scope, [(pack, rule)], reason)


def acknowledge_all(scope: IConstruct, rules: Iterable[tuple[Pack, str]], reason: str) -> None:
    """Acknowledge the same finding reported by several packs (e.g. LambdaInsideVPC) with one reason."""
    acknowledge_groups(scope, [(rules, reason)])


def acknowledge_groups(scope: IConstruct, groups: Iterable[tuple[Iterable[tuple[Pack, str]], str]]) -> None:
    """Several ``acknowledge_all`` calls on one construct (each group: rules and their reason) at once."""
    acknowledgments = []
    skips: list[tuple[list[str], str]] = []
    for group_rules, reason in groups:
        rules = list(group_rules)
        _check_reason(reason, [rule for _, rule in rules])
        checkov: list[str] = []
        for pack, rule in rules:
            if not rule.startswith(pack.value + "-"):
                raise ValueError(f"rule must start with '{pack.value}-' for pack {pack.name}, got {rule!r}")
            acknowledgments.append(cdk.Acknowledgment(id=f"{pack.value}::{rule}", reason=reason))
            checkov += checkov_ids(rule)
        if checkov:
            skips.append((list(dict.fromkeys(checkov)), reason))
    # One call across the jsii bridge for all of them: each crossing costs about half a millisecond.
    cdk.Validations.of(scope).acknowledge(*acknowledgments)
    if skips:
        # A nag rule may cover several resource types (APIG1: REST and HTTP stages); only those present get a skip.
        reasons: dict[str, str] = {}
        for ids, reason in skips:
            for check_id in ids:
                reasons.setdefault(check_id, reason)
        _skip_checkov_each(scope, reasons, strict=False)


def acknowledge_checkov(scope: IConstruct, check_id: str, reason: str) -> None:
    """Acknowledge a Checkov finding that no cdk-nag rule reports, on ``scope``'s resources.

    The skip (``Metadata.checkov.skip: [{id, comment}]``) goes on each CloudFormation resource under ``scope``
    of a type the check inspects; for a check this module does not list, on ``scope`` itself when it is a
    CloudFormation resource, else on its default child. Use the narrowest construct, as for cdk-nag.
    """
    if not _CHECKOV_ID.match(check_id):
        raise ValueError(f"check_id must be a Checkov id such as 'CKV_AWS_18', got {check_id!r}")
    _check_reason(reason, [check_id])
    _skip_checkov(scope, [check_id], reason, strict=True)


def checkov_ids(rule: str) -> tuple[str, ...]:
    """The Checkov checks that a cdk-nag rule (``"HIPAA.Security-LambdaDLQ"``, ``"AwsSolutions-S1"``) maps to."""
    name = rule.split("[", 1)[0]
    for pack in Pack:
        if name.startswith(pack.value + "-"):
            name = name[len(pack.value) + 1:]
            break
    return NAG_TO_CHECKOV.get(name, ())


def checkov_skips(resource: cdk.CfnResource) -> dict[str, str]:
    """The Checkov skips written on ``resource``: check id -> reason."""
    existing: Any = resource.get_metadata("checkov")
    skips = existing.get("skip", []) if isinstance(existing, dict) else []
    return {str(entry["id"]): str(entry["comment"]) for entry in skips}


def _check_reason(reason: str, rules: list[str]) -> None:
    if len(reason.strip()) < _MIN_REASON:
        raise ValueError(f"reason for {rules} must explain why the finding is safe, got {reason!r}")


def _skip_checkov(scope: IConstruct, check_ids: list[str], reason: str, *, strict: bool) -> None:
    _skip_checkov_each(scope, dict.fromkeys(check_ids, reason), strict=strict)


def _skip_checkov_each(scope: IConstruct, reasons: dict[str, str], *, strict: bool) -> None:
    """Checkov skips for several checks (each with its reason) on ``scope``, one metadata write per resource:
    every read and write of a resource is a jsii round trip."""
    if cdk.CfnResource.is_cfn_resource(scope):
        resources: list[cdk.CfnResource] = [scope]  # type: ignore[list-item]
        own: cdk.CfnResource | None = scope  # type: ignore[assignment]
    else:
        resources, own = _cfn_resources(scope), _own_resource(scope)
    typed = [(r, r.cfn_resource_type) for r in resources]  # each type read once, not once per check
    wanted: dict[int, tuple[cdk.CfnResource, dict[str, str]]] = {}
    for check_id, reason in reasons.items():
        types = CHECKOV_CHECKS.get(check_id)
        targets = [r for r, kind in typed if kind in types] if types else [own] if own else []
        if not targets and strict:
            raise ValueError(f"{scope.node.path} holds no resource that Checkov's {check_id} inspects; "
                             "acknowledge it on the construct that creates the resource")
        for resource in targets:
            wanted.setdefault(id(resource), (resource, {}))[1].setdefault(check_id, reason)
    for resource, new in wanted.values():
        skips = checkov_skips(resource)
        for check_id, reason in new.items():
            # The first reason wins: packs that report the same property share one skip per resource.
            skips.setdefault(check_id, reason)
        resource.add_metadata("checkov", {"skip": [{"id": k, "comment": v} for k, v in skips.items()]})


def _cfn_resources(scope: IConstruct) -> list[cdk.CfnResource]:
    if cdk.CfnResource.is_cfn_resource(scope):
        return [scope]  # type: ignore[list-item]
    return [c for c in scope.node.find_all() if cdk.CfnResource.is_cfn_resource(c)]  # type: ignore[misc]


def _own_resource(scope: IConstruct) -> cdk.CfnResource | None:
    if cdk.CfnResource.is_cfn_resource(scope):
        return scope  # type: ignore[return-value]
    child = scope.node.default_child
    return child if child is not None and cdk.CfnResource.is_cfn_resource(child) else None  # type: ignore[return-value]
