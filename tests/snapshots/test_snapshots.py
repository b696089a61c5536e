"""One snapshot per example stack, from the real CLI synth.

Asset hashes are replaced by a placeholder, so a snapshot changes when the infrastructure changes, not when
handler code does. Update with ``pytest tests/snapshots --snapshot-update`` and read the diff.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from app import EXAMPLE_STACKS
from lambda_manifest.assembly import load_assembly

pytestmark = pytest.mark.xdist_group("synth")

_HASH = re.compile(r"[0-9a-f]{64}")


def normalized(template: dict[str, Any]) -> Any:
    resources = {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") != "AWS::CDK::Metadata"}
    conditions = {k: v for k, v in template.get("Conditions", {}).items() if k != "CDKMetadataAvailable"}
    body = {**template, "Resources": resources}
    if conditions:
        body["Conditions"] = conditions
    else:
        body.pop("Conditions", None)
    return json.loads(_HASH.sub("<asset-hash>", json.dumps(body, sort_keys=True)))


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_name", EXAMPLE_STACKS)
def test_stack_template_snapshot(cli_assembly: Path, stack_name: str, snapshot_json: SnapshotAssertion) -> None:
    template = load_assembly(cli_assembly).stack(stack_name).template
    assert normalized(template) == snapshot_json


def test_normalization_hides_asset_hashes_only() -> None:
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Code": {"S3Key": "a" * 64 + ".zip"}, "MemorySize": 256}}}}
    result = normalized(template)
    assert result["Resources"]["Fn"]["Properties"] == {"Code": {"S3Key": "<asset-hash>.zip"}, "MemorySize": 256}
