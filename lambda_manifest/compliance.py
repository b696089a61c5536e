"""The compliance gate: the only module that knows cdk-nag's API.

``apply_compliance_packs(app)`` registers the cdk-nag 3.x packs as CDK validation plugins. Synthesis then
fails (``ValidationFailed``) on any finding that no construct acknowledged, and ``cdk.out/validation-report.json``
lists what failed.

Constructs acknowledge their own findings with :func:`acknowledge`, on the narrowest construct that causes
them, naming the exact rule and a reason specific to that resource.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

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
    ``"HIPAA.Security-LambdaInsideVPC"``.
    """
    acknowledge_all(scope, [(pack, rule)], reason)


def acknowledge_all(scope: IConstruct, rules: Iterable[tuple[Pack, str]], reason: str) -> None:
    """Acknowledge the same finding reported by several packs (e.g. LambdaInsideVPC) with one reason."""
    acknowledge_groups(scope, [(rules, reason)])


def acknowledge_groups(scope: IConstruct, groups: Iterable[tuple[Iterable[tuple[Pack, str]], str]]) -> None:
    """Several ``acknowledge_all`` calls on one construct (each group: rules and their reason) at once."""
    acknowledgments = []
    for rules, reason in groups:
        rules = list(rules)
        if len(reason.strip()) < 20:
            raise ValueError(f"reason for {[rule for _, rule in rules]} must explain why the finding is safe, "
                             f"got {reason!r}")
        for pack, rule in rules:
            if not rule.startswith(pack.value + "-"):
                raise ValueError(f"rule must start with '{pack.value}-' for pack {pack.name}, got {rule!r}")
            acknowledgments.append(cdk.Acknowledgment(id=f"{pack.value}::{rule}", reason=reason))
    # One call across the jsii bridge for all of them: each crossing costs about half a millisecond.
    cdk.Validations.of(scope).acknowledge(*acknowledgments)
