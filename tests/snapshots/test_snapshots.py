"""One snapshot per example stack, from the real CLI synth.

Templates go through ``lambda_manifest.testing.normalized_template``, the helper app teams use, so a snapshot
changes when the infrastructure changes, not when handler code or the machine does. Update with
``pytest tests/snapshots --snapshot-update`` and read the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from app import EXAMPLE_STACKS
from lambda_manifest.assembly import load_assembly
from lambda_manifest.testing import normalized_template

pytestmark = pytest.mark.xdist_group("synth")


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_name", EXAMPLE_STACKS)
def test_stack_template_snapshot(cli_assembly: Path, stack_name: str, snapshot_json: SnapshotAssertion) -> None:
    template = load_assembly(cli_assembly).stack(stack_name).template
    assert normalized_template(template) == snapshot_json
