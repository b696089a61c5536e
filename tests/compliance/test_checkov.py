"""One acknowledgement, every scanner: a cdk-nag acknowledgement also writes the Checkov skip of the same
finding with the same reason, Checkov-only findings are fixed or acknowledged on their own, and Checkov
passes over the example stacks and over library options the examples do not use."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from app import EXAMPLE_STACKS
from lambda_manifest import (
    AsyncWorker,
    DataTable,
    HttpServerlessApi,
    ObservedFunction,
    Pack,
    RestServerlessApi,
    StackResources,
    Waf,
    acknowledge,
    acknowledge_checkov,
)
from lambda_manifest.assembly import StackArtifact, load_assembly
from lambda_manifest.compliance import CHECKOV_CHECKS, NAG_TO_CHECKOV, checkov_ids
from tests.conftest import ROOT
from tests.support import INLINE

CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
REASON = "A reason specific enough for this scaffolding resource in the test."


def skips(template: Template, type_: str) -> dict[str, dict[str, str]]:
    """Logical id -> {check id: comment} for every resource of ``type_``."""
    return {lid: {s["id"]: s["comment"] for s in r.get("Metadata", {}).get("checkov", {}).get("skip", [])}
            for lid, r in template.find_resources(type_).items()}


# ---------------------------------------------------------------------------------------------------
# The mapping and the call
# ---------------------------------------------------------------------------------------------------
def test_acknowledge_writes_the_mapped_skip_on_resources_of_the_checks_type_only() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True)  # a bucket and its bucket policy
    acknowledge(bucket, Pack.AWS_SOLUTIONS, "AwsSolutions-S1", REASON)
    acknowledge(bucket, Pack.HIPAA_SECURITY, "HIPAA.Security-S3BucketLoggingEnabled", "Another reason, given later.")
    template = Template.from_stack(stack)
    assert list(skips(template, "AWS::S3::Bucket").values()) == [{"CKV_AWS_18": REASON}]  # one skip, first reason
    assert list(skips(template, "AWS::S3::BucketPolicy").values()) == [{}]


def test_acknowledge_all_writes_one_skip_per_check() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    fn = ObservedFunction(stack, "Fn", handler="index.main", code=INLINE, powertools=False)
    (function_skips,) = skips(Template.from_stack(stack), "AWS::Lambda::Function").values()
    assert set(function_skips) == {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"}
    assert "reserved_concurrent_executions" in function_skips["CKV_AWS_115"]
    assert "vpc=" in function_skips["CKV_AWS_117"]
    assert f"{fn.node.path} is invoked synchronously" in function_skips["CKV_AWS_116"]


def test_rules_without_a_checkov_counterpart_write_no_skip() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    table = DataTable(stack, "T", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
                      backup=False, no_backup_reason="Entries expire after an hour and are rebuilt on a miss.")
    assert checkov_ids("HIPAA.Security-DynamoDBInBackupPlan") == ()
    assert checkov_ids("AwsSolutions-IAM5[Resource::*]") == ()
    assert skips(Template.from_stack(stack), "AWS::DynamoDB::Table") == {
        stack.get_logical_id(table.node.default_child): {}}  # type: ignore[arg-type]


def test_checkov_ids_strip_pack_and_granular_suffix() -> None:
    assert checkov_ids("PCI.DSS.321-LambdaInsideVPC") == ("CKV_AWS_117",)
    assert checkov_ids("Serverless-APIGWAccessLogging") == ("CKV_AWS_76", "CKV_AWS_95")
    assert checkov_ids("AwsSolutions-APIG4") == ("CKV_AWS_59",)


def test_every_mapped_check_names_its_resource_types() -> None:
    for rule, ids in NAG_TO_CHECKOV.items():
        for check in ids:
            assert check in CHECKOV_CHECKS, f"{rule} -> {check} lacks resource types"


def test_acknowledge_checkov_for_a_checkov_only_finding() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    bucket = s3.Bucket(stack, "Logs", enforce_ssl=True)
    acknowledge_checkov(bucket, "CKV_AWS_18", REASON)
    assert list(skips(Template.from_stack(stack), "AWS::S3::Bucket").values()) == [{"CKV_AWS_18": REASON}]
    with pytest.raises(ValueError, match="check_id must be a Checkov id such as 'CKV_AWS_18', got 'S1'"):
        acknowledge_checkov(bucket, "S1", REASON)
    with pytest.raises(ValueError, match="must explain why"):
        acknowledge_checkov(bucket, "CKV_AWS_21", "ok")
    with pytest.raises(ValueError, match="holds no resource that Checkov's CKV_AWS_116 inspects"):
        acknowledge_checkov(bucket, "CKV_AWS_116", REASON)


# ---------------------------------------------------------------------------------------------------
# The example stacks (one real CLI synth, shared)
# ---------------------------------------------------------------------------------------------------
def _by_path(stack: StackArtifact) -> dict[str, tuple[str, dict[str, Any]]]:
    return {str(r.get("Metadata", {}).get("aws:cdk:path")): (lid, r) for lid, r in stack.resources.items()}


@pytest.mark.xdist_group("synth")
@pytest.mark.parametrize("stack_name", EXAMPLE_STACKS)
def test_every_mapped_acknowledgement_is_a_checkov_skip_with_the_same_reason(
    cli_assembly: Path, stack_name: str
) -> None:
    stack = load_assembly(cli_assembly).stack(stack_name)
    resources = _by_path(stack)
    expected = 0
    for metadata_path, rules in stack.acknowledgements().items():
        path = metadata_path.lstrip("/")  # the manifest's paths start with '/', aws:cdk:path does not
        for rule in rules:
            for check in checkov_ids(rule.split("::", 1)[1]):
                targets = [r for p, (_, r) in resources.items()
                           if (p == path or p.startswith(path + "/")) and r["Type"] in CHECKOV_CHECKS[check]]
                for resource in targets:
                    written = {s["id"]: s["comment"] for s in resource["Metadata"]["checkov"]["skip"]}
                    reasons = {r for rl, r in rules.items() if check in checkov_ids(rl.split("::", 1)[1])}
                    assert written.get(check) in reasons, (check, path)
                    expected += 1
    assert expected, "expected the example stacks to carry nag acknowledgements with Checkov counterparts"


@pytest.mark.xdist_group("synth")
@pytest.mark.parametrize("stack_name", EXAMPLE_STACKS)
def test_every_checkov_skip_names_a_check_and_a_specific_reason(cli_assembly: Path, stack_name: str) -> None:
    for lid, resource in load_assembly(cli_assembly).stack(stack_name).resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert resource["Type"] in CHECKOV_CHECKS[skip["id"]], (lid, skip["id"])
            assert len(skip["comment"]) >= 40, (lid, skip)


@pytest.mark.xdist_group("synth")
@pytest.mark.parametrize("stack_name", EXAMPLE_STACKS)
def test_no_function_policy_grants_a_wildcard_action(cli_assembly: Path, stack_name: str) -> None:
    resources = load_assembly(cli_assembly).stack(stack_name).resources
    checked = 0
    for function in (r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"):
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        documents = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
        documents += [resources[arn["Ref"]]["Properties"]["PolicyDocument"]
                      for arn in role["Properties"].get("ManagedPolicyArns", []) if "Ref" in arn]
        documents += [r["Properties"]["PolicyDocument"] for r in resources.values()
                      if r["Type"] == "AWS::IAM::Policy" and {"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]}
                      in r["Properties"].get("Roles", [])]
        for statement in (s for d in documents for s in d["Statement"]):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert [a for a in actions if "*" in a] == [], statement
            checked += 1
    assert checked


@pytest.mark.xdist_group("synth")
def test_the_alarms_of_every_example_stack_clear_their_page(cli_assembly: Path) -> None:
    for stack in load_assembly(cli_assembly).stacks:
        for lid, alarm in stack.resources.items():
            if alarm["Type"] == "AWS::CloudWatch::Alarm":
                props = alarm["Properties"]
                assert props["AlarmActions"] and props["OKActions"] == props["AlarmActions"], (stack.name, lid)


def _run_checkov(directory: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.skip("Checkov runs from its own venv, .venv-scan: `make scan` (part of `make test`) creates it")
    result = subprocess.run([str(CHECKOV), "-d", str(directory), "--framework", "cloudformation", "-o", "json",
                             "--skip-download"], capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report  # type: ignore[no-any-return]


@pytest.mark.xdist_group("synth")
def test_checkov_passes_on_the_example_stacks(cli_assembly: Path) -> None:
    report = _run_checkov(cli_assembly)
    failed = [(f["check_id"], f["resource"]) for f in report.get("results", {}).get("failed_checks", [])]
    assert failed == []
    assert report["summary"]["passed"] > 300


def test_checkov_passes_on_library_options_beyond_the_examples(tmp_path: Path) -> None:
    """A VPC function, public REST and HTTP routes, S3 notifications, idempotency and alarm subscriptions; the
    app's own bucket is acknowledged through the same call an app team uses."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "jobs.py").write_text("def process(record):\n    return None\n")
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Options")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, restrict_default_security_group=False,
                  subnet_configuration=[ec2.SubnetConfiguration(name="isolated",
                                                                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
    fn = ObservedFunction(stack, "VpcFn", handler="index.main", code=INLINE, powertools=False, vpc=vpc,
                          reserved_concurrent_executions=5, timeout=cdk.Duration.seconds(20))
    public = "Health checks from the load balancer carry no credentials and return no data."
    RestServerlessApi(stack, "Rest", cloud_watch_role=True,
                      waf=Waf.disabled("Reached only through CloudFront, whose web ACL filters traffic.")
                      ).add_route("GET /health", fn, public_reason=public)
    HttpServerlessApi(stack, "Http").add_route("GET /health", fn, public_reason=public)
    worker = AsyncWorker(stack, "Worker", process="jobs:process", code=lambda_.Code.from_asset(str(src)),
                         idempotency=True)
    uploads = s3.Bucket(stack, "Uploads", encryption=s3.BucketEncryption.KMS, enforce_ssl=True, versioned=True,
                        block_public_access=s3.BlockPublicAccess.BLOCK_ALL)
    acknowledge(uploads, Pack.AWS_SOLUTIONS, "AwsSolutions-S1",
                "Uploads are short-lived inputs of the worker; CloudTrail data events record every access.")
    worker.add_s3_notifications(uploads)
    uploads.grant_read_write(fn)
    StackResources.of(stack).subscribe_alarms(emails=["oncall@example.com"], queues=[worker.queue], functions=[fn])
    app.synth()
    report = _run_checkov(tmp_path / "cdk.out")
    failed = [(f["check_id"], f["resource"]) for f in report.get("results", {}).get("failed_checks", [])]
    assert failed == []
    skipped = {(f["check_id"], f["resource"].split(".")[0]) for f in report["results"]["skipped_checks"]}
    assert ("CKV_AWS_18", "AWS::S3::Bucket") in skipped  # the app's own acknowledgement reached Checkov
    assert ("CKV_AWS_111", "AWS::IAM::ManagedPolicy") in skipped  # VPC network-interface actions
