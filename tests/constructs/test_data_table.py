"""DataTable and the stack's shared backup plan."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Template

from lambda_manifest import DataTable, PropsError
from tests.support import nag_findings, new_stack

PK = dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)


def test_defaults_encrypt_with_stack_key_pitr_on_demand_and_retained() -> None:
    stack = new_stack()
    DataTable(stack, "T", partition_key=PK, time_to_live_attribute="expires_at")
    template = Template.from_stack(stack)
    (table,) = template.find_resources("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    key_id = next(iter(template.find_resources("AWS::KMS::Key")))
    assert props["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["DeletionProtectionEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionPolicy"] == "Retain"


def test_tables_share_one_backup_plan_and_one_role() -> None:
    stack = new_stack()
    a = DataTable(stack, "A", partition_key=PK)
    b = DataTable(stack, "B", partition_key=PK)
    template = Template.from_stack(stack)
    assert len(template.find_resources("AWS::Backup::BackupPlan")) == 1
    selections = template.find_resources("AWS::Backup::BackupSelection")
    assert len(selections) == 2
    roles = {json.dumps(s["Properties"]["BackupSelection"]["IamRoleArn"]) for s in selections.values()}
    assert len(roles) == 1
    resources = json.dumps([s["Properties"]["BackupSelection"]["Resources"] for s in selections.values()])
    for table in (a, b):
        assert stack.get_logical_id(table.node.default_child) in resources  # type: ignore[arg-type]


def test_no_backup_needs_a_reason_which_becomes_the_acknowledgement(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        DataTable(stack, "Cache", partition_key=PK, backup=False,
                  no_backup_reason="Cache entries expire after an hour and are rebuilt on a miss.")

    assert nag_findings(build, tmp_path / "nobackup") == []
    assert nag_findings(lambda s: DataTable(s, "T", partition_key=PK), tmp_path / "backup") == []


def test_fails_no_backup_without_a_reason() -> None:
    with pytest.raises(PropsError, match=r"no_backup_reason must be a sentence on why the data needs no backup"):
        DataTable(new_stack(), "T", partition_key=PK, backup=False)


def test_fails_reason_with_backup_on() -> None:
    with pytest.raises(PropsError, match=r"no_backup_reason must be used only with backup=False"):
        DataTable(new_stack(), "T", partition_key=PK, no_backup_reason="this data is rebuilt from elsewhere")
