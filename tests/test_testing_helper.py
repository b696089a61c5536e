"""lambda_manifest.testing: snapshots change with the infrastructure, not with handler code or the machine."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from lambda_manifest.testing import (
    UPDATE_ENV_VAR,
    assert_matches_file,
    normalized_template,
    template_snapshot,
)

HASH_A = "a" * 64
HASH_B = "0123456789abcdef" * 4


def build_stack(
    tmp_path: Path,
    handler_body: str = "def handler(event, context):\n    return 1\n",
    *,
    memory_size: int = 128,
    synthesizer: cdk.IStackSynthesizer | None = None,
    live_alias: bool = False,
    **app_options: Any,
) -> cdk.Stack:
    """A one-function stack whose asset is a fresh folder holding ``handler_body``."""
    code = tmp_path / f"code-{len(list(tmp_path.glob('code-*')))}"
    code.mkdir()
    (code / "index.py").write_text(handler_body)
    # Each app synthesizes into tmp_path rather than a fresh folder under the system temp dir.
    app = cdk.App(outdir=str(code.with_name(code.name + ".out")), **app_options)
    stack = cdk.Stack(app, "Tiny", synthesizer=synthesizer)
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_asset(str(code)),
        memory_size=memory_size,
    )
    if live_alias:
        lambda_.Alias(stack, "Live", alias_name="live", version=function.current_version)
    return stack


def raw(stack: cdk.Stack) -> dict[str, Any]:
    return dict(Template.from_stack(stack).to_json())


def only(resources: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found = [r for r in resources.values() if r["Type"] == resource_type]
    assert len(found) == 1, found
    resource: dict[str, Any] = found[0]
    return resource


# --- what normalization hides, and what it keeps ------------------------------------------------------


def test_handler_code_changes_the_raw_template_but_not_the_normalized_one(tmp_path: Path) -> None:
    before = build_stack(tmp_path, "def handler(event, context):\n    return 1\n")
    after = build_stack(tmp_path, "def handler(event, context):\n    return 2\n")

    assert raw(before) != raw(after)
    assert normalized_template(before) == normalized_template(after)


def test_memory_size_changes_the_normalized_template(tmp_path: Path) -> None:
    small = normalized_template(build_stack(tmp_path, memory_size=128))
    large = normalized_template(build_stack(tmp_path, memory_size=256))

    assert small != large
    assert only(large["Resources"], "AWS::Lambda::Function")["Properties"]["MemorySize"] == 256


def test_asset_hashes_are_replaced_and_nothing_else_changes() -> None:
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"S3Key": f"{HASH_A}.zip"}, "MemorySize": 256, "Handler": "index.handler"},
            },
            "Img": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"ImageUri": {"Fn::Sub": f"${{AWS::AccountId}}.dkr.ecr/repo:{HASH_B}"}}},
            },
            "Deploy": {
                "Type": "Custom::CDKBucketDeployment",
                "Properties": {"SourceObjectKeys": [f"{HASH_B}.zip"], "Note": f"from asset.{HASH_A} to site"},
            },
        },
        "Outputs": {f"Out{HASH_A}": {"Value": "x"}},
    }

    result = normalized_template(template)

    assert result["Resources"]["Fn"]["Properties"] == {
        "Code": {"S3Key": "<asset-hash>.zip"}, "MemorySize": 256, "Handler": "index.handler"}
    assert result["Resources"]["Img"]["Properties"]["Code"]["ImageUri"] == {
        "Fn::Sub": "${AWS::AccountId}.dkr.ecr/repo:<asset-hash>"}
    assert result["Resources"]["Deploy"]["Properties"] == {
        "SourceObjectKeys": ["<asset-hash>.zip"], "Note": "from asset.<asset-hash> to site"}
    assert result["Outputs"] == {"Out<asset-hash>": {"Value": "x"}}


def test_hex_strings_that_are_not_64_digit_hashes_are_kept() -> None:
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    sha512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" * 2
    template = {"Resources": {"T": {"Type": "AWS::SSM::Parameter", "Properties": {"Tags": [md5, sha512]}}}}

    assert normalized_template(template)["Resources"]["T"]["Properties"]["Tags"] == [md5, sha512]


def test_cdk_metadata_and_its_condition_are_removed(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, analytics_reporting=True)
    before = raw(stack)
    assert any(r["Type"] == "AWS::CDK::Metadata" for r in before["Resources"].values())
    assert "CDKMetadataAvailable" in before["Conditions"]

    result = normalized_template(stack)

    assert all(r["Type"] != "AWS::CDK::Metadata" for r in result["Resources"].values())
    assert "Conditions" not in result
    assert "Analytics" not in json.dumps(result)


def test_other_conditions_survive_the_metadata_condition() -> None:
    mine = {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}
    template = {
        "Conditions": {"CDKMetadataAvailable": {"Fn::Or": []}, "InEurope": mine},
        "Resources": {"CDKMetadata": {"Type": "AWS::CDK::Metadata", "Condition": "CDKMetadataAvailable"}},
    }

    assert normalized_template(template) == {"Conditions": {"InEurope": mine}, "Resources": {}}


def test_asset_staging_metadata_is_removed_and_construct_paths_are_kept(tmp_path: Path) -> None:
    stack = build_stack(
        tmp_path, context={"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True}
    )
    function_before = only(raw(stack)["Resources"], "AWS::Lambda::Function")
    assert "aws:asset:path" in function_before["Metadata"]

    function = only(normalized_template(stack)["Resources"], "AWS::Lambda::Function")

    assert function["Metadata"] == {"aws:cdk:path": "Tiny/Fn/Resource"}


def test_metadata_holding_only_asset_entries_is_dropped() -> None:
    staged = {"aws:asset:path": "/home/alice/app/handlers", "aws:asset:property": "Code"}
    template = {"Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Metadata": staged},
        "Bucket": {"Type": "AWS::S3::Bucket", "Metadata": {}},
    }}

    result = normalized_template(template)

    assert result["Resources"]["Fn"] == {"Type": "AWS::Lambda::Function"}
    assert result["Resources"]["Bucket"] == {"Type": "AWS::S3::Bucket", "Metadata": {}}


def test_a_cli_synthesized_template_normalizes_like_the_snapshot_tests_expect() -> None:
    template = {
        "Resources": {
            "FnServiceRole": {"Type": "AWS::IAM::Role", "Metadata": {"aws:cdk:path": "S/Fn/ServiceRole/Resource"}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"S3Key": f"{HASH_A}.zip"}, "Role": {"Fn::GetAtt": ["FnServiceRole", "Arn"]}},
                "Metadata": {
                    "aws:asset:path": f"asset.{HASH_A}",
                    "aws:asset:is-bundled": False,
                    "aws:asset:property": "Code",
                    "aws:cdk:path": "S/Fn/Resource",
                },
            },
            "CDKMetadata": {
                "Type": "AWS::CDK::Metadata",
                "Properties": {"Analytics": "v2:deflate64:H4sIAAAAAAAA/zPSMzQ0"},
                "Metadata": {"aws:cdk:path": "S/CDKMetadata/Default"},
                "Condition": "CDKMetadataAvailable",
            },
        },
        "Conditions": {"CDKMetadataAvailable": {"Fn::Or": []}},
        "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                                            "Default": "/cdk-bootstrap/hnb659fds/version"}},
        "Rules": {"CheckBootstrapVersion": {"Assertions": []}},
    }
    original = copy.deepcopy(template)

    assert normalized_template(template) == {
        "Resources": {
            "FnServiceRole": {"Type": "AWS::IAM::Role", "Metadata": {"aws:cdk:path": "S/Fn/ServiceRole/Resource"}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"S3Key": "<asset-hash>.zip"}, "Role": {"Fn::GetAtt": ["FnServiceRole", "Arn"]}},
                "Metadata": {"aws:cdk:path": "S/Fn/Resource"},
            },
        },
        "Parameters": original["Parameters"],
        "Rules": original["Rules"],
    }
    assert template == original


def test_legacy_asset_parameters_do_not_move_with_handler_code(tmp_path: Path) -> None:
    before = build_stack(tmp_path, "x = 1\n", synthesizer=cdk.LegacyStackSynthesizer())
    after = build_stack(tmp_path, "x = 2\n", synthesizer=cdk.LegacyStackSynthesizer())
    assert set(raw(before)["Parameters"]) != set(raw(after)["Parameters"])

    result = normalized_template(before)

    assert result == normalized_template(after)
    assert set(result["Parameters"]) == {
        "AssetParameters<asset-hash>S3Bucket",
        "AssetParameters<asset-hash>S3VersionKey",
        "AssetParameters<asset-hash>ArtifactHash",
    }


def test_current_version_logical_id_does_not_move_with_handler_code(tmp_path: Path) -> None:
    before = build_stack(tmp_path, "x = 1\n", live_alias=True)
    after = build_stack(tmp_path, "x = 2\n", live_alias=True)
    assert {k for k in raw(before)["Resources"] if "CurrentVersion" in k} != {
        k for k in raw(after)["Resources"] if "CurrentVersion" in k}

    result = normalized_template(before)

    assert result == normalized_template(after)
    (version_id,) = (k for k, r in result["Resources"].items() if r["Type"] == "AWS::Lambda::Version")
    assert version_id.endswith("<version-hash>")
    alias = only(result["Resources"], "AWS::Lambda::Alias")
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


def test_keys_that_differ_only_by_hash_with_different_content_are_refused() -> None:
    template = {"Outputs": {f"Out{HASH_A}": {"Value": "one"}, f"Out{HASH_B}": {"Value": "two"}}}

    with pytest.raises(ValueError, match="Out<asset-hash>"):
        normalized_template(template)


# --- inputs and output --------------------------------------------------------------------------------


def test_stack_template_and_dict_inputs_give_the_same_result(tmp_path: Path) -> None:
    stack = build_stack(tmp_path)
    template = Template.from_stack(stack)

    from_stack = normalized_template(stack)

    assert normalized_template(template) == from_stack
    assert normalized_template(template.to_json()) == from_stack
    assert template_snapshot(stack) == from_stack


def test_result_is_a_sorted_deep_copy() -> None:
    template = {"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "k"}]}},
                              "A": {"Type": "AWS::SNS::Topic"}}}
    original = copy.deepcopy(template)

    result = normalized_template(template)
    result["Resources"]["B"]["Properties"]["Tags"][0]["Key"] = "changed"

    assert template == original
    assert list(result["Resources"]) == ["A", "B"]


def test_anything_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="got str"):
        normalized_template("cdk.out/Tiny.template.json")  # type: ignore[arg-type]


def test_the_result_works_with_cdk_assertions(tmp_path: Path) -> None:
    normalized = normalized_template(build_stack(tmp_path, memory_size=512))

    template = Template.from_json(normalized)

    template.resource_count_is("AWS::Lambda::Function", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"MemorySize": 512, "Code": {"S3Key": "<asset-hash>.zip", "S3Bucket": Match.any_value()}},
    )


def test_the_result_works_with_syrupy(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    snapshot_json = snapshot.use_extension(JSONSnapshotExtension)

    # Both stacks are checked against the one stored file: only the handler code differs between them.
    assert template_snapshot(build_stack(tmp_path, "x = 1\n")) == snapshot_json(name="tiny-stack")
    assert template_snapshot(build_stack(tmp_path, "x = 2\n")) == snapshot_json(name="tiny-stack")


# --- assert_matches_file ------------------------------------------------------------------------------


@pytest.fixture
def no_update_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(UPDATE_ENV_VAR, raising=False)
    return monkeypatch


def test_a_missing_file_is_written_as_sorted_indented_json(tmp_path: Path, no_update_env: Any) -> None:
    stack = build_stack(tmp_path)
    path = tmp_path / "snapshots" / "tiny.json"

    assert_matches_file(stack, path)

    expected = normalized_template(stack)
    assert path.read_text() == json.dumps(expected, sort_keys=True, indent=2) + "\n"
    assert_matches_file(stack, path)


def test_a_changed_template_fails_with_a_diff_naming_the_key(tmp_path: Path, no_update_env: Any) -> None:
    path = tmp_path / "tiny.json"
    assert_matches_file(build_stack(tmp_path, memory_size=128), path)
    stored = path.read_text()

    with pytest.raises(AssertionError) as failure:
        assert_matches_file(build_stack(tmp_path, memory_size=256), path)

    message = str(failure.value)
    assert '-        "MemorySize": 128,' in message
    assert '+        "MemorySize": 256,' in message
    assert f"{UPDATE_ENV_VAR}=1" in message
    assert path.read_text() == stored


def test_handler_code_changes_still_match_the_file(tmp_path: Path, no_update_env: Any) -> None:
    path = tmp_path / "tiny.json"
    assert_matches_file(build_stack(tmp_path, "x = 1\n"), path)

    assert_matches_file(build_stack(tmp_path, "x = 2\n"), path)


def test_the_env_var_updates_the_file(tmp_path: Path, no_update_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tiny.json"
    assert_matches_file(build_stack(tmp_path, memory_size=128), path)
    larger = build_stack(tmp_path, memory_size=256)

    no_update_env.setenv(UPDATE_ENV_VAR, "1")
    assert_matches_file(larger, path)
    no_update_env.delenv(UPDATE_ENV_VAR)

    assert '"MemorySize": 256' in path.read_text()
    assert_matches_file(larger, path)


def test_update_true_rewrites_and_update_false_never_writes(
    tmp_path: Path, no_update_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tiny.json"
    small = build_stack(tmp_path, memory_size=128)
    large = build_stack(tmp_path, memory_size=256)
    assert_matches_file(small, path)

    assert_matches_file(large, path, update=True)
    assert '"MemorySize": 256' in path.read_text()

    no_update_env.setenv(UPDATE_ENV_VAR, "1")
    with pytest.raises(AssertionError, match="pass update=True"):
        assert_matches_file(small, path, update=False)
    assert '"MemorySize": 256' in path.read_text()

    missing = tmp_path / "missing.json"
    with pytest.raises(AssertionError, match="does not exist"):
        assert_matches_file(small, missing, update=False)
    assert not missing.exists()


def test_the_file_is_compared_as_json_not_as_text(tmp_path: Path, no_update_env: Any) -> None:
    stack = build_stack(tmp_path)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(normalized_template(stack)))

    assert_matches_file(stack, path)

    path.write_text("{not json")
    with pytest.raises(AssertionError, match="not valid JSON"):
        assert_matches_file(stack, path)


def test_a_large_diff_is_shortened(tmp_path: Path, no_update_env: Any) -> None:
    def topics(name: str) -> dict[str, Any]:
        return {"Resources": {f"T{i}": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{name}{i}"}}
                              for i in range(100)}}

    path = tmp_path / "topics.json"
    assert_matches_file(topics("old"), path)

    with pytest.raises(AssertionError) as failure:
        assert_matches_file(topics("new"), path)

    message = str(failure.value)
    assert "more diff lines" in message
    assert len(message.splitlines()) < 70
