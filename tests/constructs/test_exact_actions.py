"""Every grant a function receives lands in its managed policy with exact actions: aws-cdk-lib's action families
(``kms:GenerateDataKey*``, ``s3:GetObject*``, ...) are replaced by the actions the code needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from lambda_manifest import ObservedFunction, StackResources
from lambda_manifest._role import ACTION_FAMILIES, exact_actions
from tests.support import INLINE, nag_findings


def function(stack: cdk.Stack) -> ObservedFunction:
    return ObservedFunction(stack, "Fn", handler="index.main", code=INLINE, powertools=False)


def grant_everything(stack: cdk.Stack) -> ObservedFunction:
    """The CDK grants app teams make most, on resources encrypted with customer-managed keys."""
    fn = function(stack)
    key = StackResources.of(stack).key
    table = dynamodb.Table(stack, "Table", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
                           encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED, encryption_key=key,
                           point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                               point_in_time_recovery_enabled=True))
    bucket = s3.Bucket(stack, "Bucket", encryption=s3.BucketEncryption.KMS, encryption_key=key, enforce_ssl=True)
    queue = sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key, enforce_ssl=True)
    topic = sns.Topic(stack, "Topic", master_key=key, enforce_ssl=True)
    own_key = kms.Key(stack, "OwnKey", enable_key_rotation=True)
    table.grant_read_write_data(fn)
    bucket.grant_read_write(fn)
    bucket.grant_delete(fn)
    queue.grant_send_messages(fn)
    queue.grant_consume_messages(fn)
    topic.grant_publish(fn)
    own_key.grant_encrypt_decrypt(fn)
    return fn


def statements(template: Template) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::ManagedPolicy")
    assert len(policies) == 1, list(policies)
    return list(next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"])


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_no_statement_grants_a_wildcard_action() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    grant_everything(stack)
    granted = [a for s in statements(Template.from_stack(stack)) for a in actions(s)]
    assert [a for a in granted if "*" in a] == []
    # Each family became exactly its listed actions, and nothing of a family survives.
    assert {"kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt", "s3:GetObject", "s3:ListBucket", "s3:DeleteObject",
            "s3:AbortMultipartUpload", "s3:PutObject", "sqs:SendMessage", "sns:Publish"} <= set(granted)
    assert not {a for a in granted if a.startswith(("kms:ReEncrypt", "s3:GetBucket", "kms:GenerateDataKeyPair",
                                                     "kms:GenerateDataKeyWithout"))}


def test_conditions_and_resources_survive_the_expansion() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    fn = function(stack)
    fn.add_to_role_policy(iam.PolicyStatement(
        actions=["kms:GenerateDataKey*", "kms:Decrypt"], resources=["arn:aws:kms:eu-west-1:111122223333:key/abc"],
        conditions={"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}))
    statement = next(s for s in statements(Template.from_stack(stack)) if "kms:GenerateDataKey" in actions(s))
    assert statement == {
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Effect": "Allow",
        "Resource": "arn:aws:kms:eu-west-1:111122223333:key/abc",
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}


def test_a_statement_left_empty_is_not_added() -> None:
    assert exact_actions(iam.PolicyStatement(actions=["kms:ReEncrypt*"], resources=["*"])) is None
    exact = iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"])
    assert exact_actions(exact) is exact


def test_every_family_maps_to_exact_actions_with_a_reason() -> None:
    for family, (exact, why) in ACTION_FAMILIES.items():
        assert family.endswith("*")
        assert all("*" not in action and action.split(":")[0] == family.split(":")[0] for action in exact), family
        assert len(why) >= 30, family


def test_grants_pass_every_pack_without_action_acknowledgements(tmp_path: Path) -> None:
    found: list[ObservedFunction] = []

    def build(stack: cdk.Stack) -> None:
        found.append(grant_everything(stack))

    # The scaffolding (bucket, table, queue, topic) has findings of its own; the function and its role have none.
    assert [f for f in nag_findings(build, tmp_path) if " @ NagStack/Fn" in f] == []
    metadata = found[0].managed_policy.node.metadata
    acknowledged = [rule for entry in metadata if entry.type == "aws:cdk:acknowledged-rules" for rule in entry.data]
    assert acknowledged, "expected the sub-resource wildcards (<bucket>/*) to be acknowledged"
    assert [rule for rule in acknowledged if "Action::" in rule] == []


def test_unknown_family_is_kept_and_left_to_the_gate(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True)
        function(stack).add_to_role_policy(iam.PolicyStatement(actions=["s3:Get*"], resources=[bucket.bucket_arn]))

    findings = nag_findings(build, tmp_path)
    assert any("AwsSolutions-IAM5[Action::s3:Get*]" in f for f in findings), findings
