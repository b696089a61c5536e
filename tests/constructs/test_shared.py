"""StackResources: who receives the alarms (props and context), the encrypted backup vault, and the stack key
as the default encryption of every function's environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from lambda_manifest import DataTable, ObservedFunction, PropsError, StackResources
from lambda_manifest.assembly import load_assembly, summary
from tests.support import INLINE, nag_findings


def function(stack: cdk.Stack, id: str = "Fn", **props: Any) -> ObservedFunction:
    return ObservedFunction(stack, id, handler="index.main", code=INLINE, powertools=False, **props)


def subscriptions(template: Template) -> dict[str, str]:
    """Endpoint (or a description of it) -> protocol, for every subscription of the shared alarm topic."""
    topic = next(lid for lid in template.find_resources("AWS::SNS::Topic") if lid.startswith("LambdaManifestShared"))
    found = {}
    for resource in template.find_resources("AWS::SNS::Subscription").values():
        props = resource["Properties"]
        assert props["TopicArn"] == {"Ref": topic}
        found[json.dumps(props["Endpoint"]) if not isinstance(props["Endpoint"], str) else props["Endpoint"]] = \
            props["Protocol"]
    return found


# ---------------------------------------------------------------------------------------------------
# Alarm subscriptions
# ---------------------------------------------------------------------------------------------------
def test_subscriptions_by_prop_email_https_queue_and_function() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    fn = function(stack)
    queue = sqs.Queue(stack, "ChatOps", encryption=sqs.QueueEncryption.KMS, encryption_master_key=StackResources.of(stack).key)
    notifier = function(stack, "Notifier")
    shared = StackResources.of(stack)
    shared.subscribe_alarms(emails=["oncall@example.com"], urls=["https://events.example.com/sns/abc"],
                            queues=[queue], functions=[notifier])
    shared.subscribe_alarms(emails=["oncall@example.com"])  # the same address again adds nothing
    template = Template.from_stack(stack)
    found = subscriptions(template)
    assert found.pop("oncall@example.com") == "email"
    assert found.pop("https://events.example.com/sns/abc") == "https"
    assert sorted(found.values()) == ["lambda", "sqs"]
    sqs_sub = next(r for r in template.find_resources("AWS::SNS::Subscription").values()
                   if r["Properties"]["Protocol"] == "sqs")
    assert sqs_sub["Properties"]["RawMessageDelivery"] is True
    assert template.find_resources("AWS::Lambda::Permission", {"Properties": {"Principal": "sns.amazonaws.com"}})
    assert shared.alarm_subscribers == sorted([
        "email:oncall@example.com", "https:https://events.example.com/sns/abc",
        f"sqs:{queue.node.path}", f"lambda:{notifier.node.path}"])
    # Every alarm of the function notifies the topic when it fires and when it recovers, so a page clears.
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": next(iter(template.find_resources(
            "AWS::SNS::Topic")))}]
    assert fn.alarm_topic is shared.alarm_topic


def test_subscriptions_by_context_with_several_addresses() -> None:
    app = cdk.App(context={"alarmEmail": "a@example.com, b@example.com", "alarmUrl": "https://page.example.com/x"})
    stack = cdk.Stack(app, "S")
    function(stack)
    assert subscriptions(Template.from_stack(stack)) == {
        "a@example.com": "email", "b@example.com": "email", "https://page.example.com/x": "https"}


def test_context_list_from_cdk_json() -> None:
    app = cdk.App(context={"alarmEmail": ["a@example.com", "b@example.com"]})
    stack = cdk.Stack(app, "S")
    function(stack)
    assert set(subscriptions(Template.from_stack(stack))) == {"a@example.com", "b@example.com"}


def test_no_subscription_without_prop_or_context() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    function(stack)
    assert Template.from_stack(stack).find_resources("AWS::SNS::Subscription") == {}
    assert StackResources.of(stack).alarm_subscribers == []


def test_fails_bad_email_and_plain_http_by_prop() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(PropsError) as error:
        StackResources.of(stack).subscribe_alarms(emails=["oncall"], urls=["http://pager.example.com/x"])
    message = str(error.value)
    assert "StackResources 'S/LambdaManifestShared' has invalid props" in message
    assert "emails must be e-mail addresses like oncall@example.com, got 'oncall'" in message
    assert "urls must be https:// URLs, got 'http://pager.example.com/x'; use the endpoint's https:// URL" in message


def test_fails_bad_context_names_the_context_key() -> None:
    stack = cdk.Stack(cdk.App(context={"alarmEmail": "oncall@example"}), "S")
    with pytest.raises(PropsError, match=r"-c alarmEmail must be e-mail addresses like oncall@example.com, "
                                         r"got 'oncall@example'"):
        function(stack)


def test_subscribed_stack_passes_all_packs(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        function(stack)
        StackResources.of(stack).subscribe_alarms(emails=["oncall@example.com"],
                                                  urls=["https://events.example.com/sns/abc"])

    assert nag_findings(build, tmp_path) == []


def test_summary_says_when_no_one_receives_alarms(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    function(cdk.Stack(app, "Unheard"))
    heard = cdk.Stack(app, "Heard")
    function(heard)
    StackResources.of(heard).subscribe_alarms(emails=["oncall@example.com"])
    app.synth()
    assembly = load_assembly(tmp_path)
    assert assembly.stack("Heard").unheard_alarms() == {}
    unheard = assembly.stack("Unheard").unheard_alarms()
    assert list(unheard.values()) == [3]  # Errors, Throttles, DurationP99
    text = summary(assembly)
    assert "No one will receive these alarms" in text
    assert "Unheard: 3 alarms notify LambdaManifestSharedAlarmTopic" in text and "Heard:" not in text
    assert "-c alarmEmail=" in text


# ---------------------------------------------------------------------------------------------------
# Encryption with the stack key
# ---------------------------------------------------------------------------------------------------
def test_backup_vault_is_encrypted_with_the_stack_key_and_retained() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    DataTable(stack, "T", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))
    template = Template.from_stack(stack)
    vaults = template.find_resources("AWS::Backup::BackupVault")
    assert len(vaults) == 1
    (vault_id, vault), = vaults.items()
    key_id = next(iter(template.find_resources("AWS::KMS::Key")))
    assert vault["Properties"]["EncryptionKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert vault["DeletionPolicy"] == "Retain"
    plan = next(iter(template.find_resources("AWS::Backup::BackupPlan").values()))
    rules = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert {json.dumps(rule["TargetBackupVault"]) for rule in rules} == {
        json.dumps({"Fn::GetAtt": [vault_id, "BackupVaultName"]})}


def test_environment_is_encrypted_with_the_stack_key_and_the_role_may_decrypt_it() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    function(stack)
    template = Template.from_stack(stack)
    key_arn = {"Fn::GetAtt": [next(iter(template.find_resources("AWS::KMS::Key"))), "Arn"]}
    fn = next(iter(template.find_resources("AWS::Lambda::Function").values()))
    assert fn["Properties"]["KmsKeyArn"] == key_arn
    statements = next(iter(template.find_resources("AWS::IAM::ManagedPolicy").values()))[
        "Properties"]["PolicyDocument"]["Statement"]
    assert {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": key_arn} in statements


def test_environment_encryption_with_an_own_key() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    key = kms.Key(stack, "EnvKey", enable_key_rotation=True)
    function(stack, environment_encryption=key)
    template = Template.from_stack(stack)
    key_arn = {"Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]}  # type: ignore[arg-type]
    fn = next(iter(template.find_resources("AWS::Lambda::Function").values()))
    assert fn["Properties"]["KmsKeyArn"] == key_arn
    doc = next(iter(template.find_resources("AWS::IAM::ManagedPolicy").values()))["Properties"]["PolicyDocument"]
    assert {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": key_arn} in doc["Statement"]
