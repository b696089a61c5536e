"""The compliance gate: every example stack passes all five cdk-nag packs, cfn-lint is clean, and the gate
really fails synth on an unacknowledged finding."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from app import EXAMPLE_STACKS
from lambda_manifest import ALL_PACKS, Pack, acknowledge, apply_compliance_packs
from lambda_manifest.assembly import load_assembly

pytestmark = pytest.mark.xdist_group("synth")


def test_every_example_stack_is_synthesized(manifest_stacks: list[str]) -> None:
    assert sorted(manifest_stacks) == sorted(EXAMPLE_STACKS)


def test_no_unacknowledged_findings_in_any_pack(cli_assembly: Path) -> None:
    report = json.loads((cli_assembly / "validation-report.json").read_text())
    plugins = {p["pluginName"]: p for p in report["pluginReports"]}
    assert {pack.value for pack in ALL_PACKS} <= set(plugins)
    assert {p["conclusion"] for p in plugins.values()} == {"success"}
    assert load_assembly(cli_assembly).unacknowledged_findings() == []
    # Suppressed findings are the acknowledged ones: there must be some, each with its reason recorded.
    assert any(p.get("suppressedViolations") for p in report["pluginReports"])


@pytest.mark.parametrize("stack_name", EXAMPLE_STACKS)
def test_every_acknowledgement_names_a_rule_of_a_pack_and_a_specific_reason(
    cli_assembly: Path, stack_name: str
) -> None:
    stack = load_assembly(cli_assembly).stack(stack_name)
    acknowledgements = stack.acknowledgements()
    assert acknowledgements, "expected the constructs to acknowledge their findings"
    prefixes = tuple(f"{pack.value}::{pack.value}-" for pack in Pack)
    for path, rules in acknowledgements.items():
        assert path.startswith(f"/{stack_name}/")
        for rule, reason in rules.items():
            if rule.startswith("CloudFormation-Validate::"):
                continue  # acknowledged by aws-cdk-lib itself for its own resources, not by this library
            assert rule.startswith(prefixes), rule
            assert len(reason) >= 40, f"{rule} at {path}: reason too thin: {reason!r}"


@pytest.mark.parametrize("stack_name", EXAMPLE_STACKS)
def test_cfn_lint_clean(cli_assembly: Path, stack_name: str) -> None:
    template = load_assembly(cli_assembly).stack(stack_name).template_path
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_gate_fails_synth_on_an_unacknowledged_insecure_resource(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Insecure")
    sqs.Queue(stack, "PlainQueue", encryption=sqs.QueueEncryption.UNENCRYPTED)
    apply_compliance_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "AwsSolutions-SQS3" in rules and "AwsSolutions-SQS4" in rules
    assert "Serverless-SQSRedrivePolicy" in rules


def test_gate_passes_once_the_finding_is_acknowledged(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Acked")
    queue = sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)
    apply_compliance_packs(app, packs=[Pack.AWS_SOLUTIONS])
    acknowledge(queue, Pack.AWS_SOLUTIONS, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue in the test.")
    app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert [v for p in report["pluginReports"] for v in p["violations"]] == []


def test_apply_rejects_an_empty_pack_list() -> None:
    with pytest.raises(ValueError, match="packs must name at least one Pack"):
        apply_compliance_packs(cdk.App(), packs=[])


def test_acknowledge_rejects_a_rule_of_another_pack_and_a_thin_reason() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="must start with 'Serverless-'"):
        acknowledge(stack, Pack.SERVERLESS, "AwsSolutions-SQS3", "a long enough reason for the check")
    with pytest.raises(ValueError, match="must explain why"):
        acknowledge(stack, Pack.SERVERLESS, "Serverless-LambdaDLQ", "ok")


def test_all_packs_are_the_five_required() -> None:
    assert [p.value for p in ALL_PACKS] == [
        "AwsSolutions", "Serverless", "HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321"]
