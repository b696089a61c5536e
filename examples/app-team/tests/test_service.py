"""The team's snapshot test: fails when the synthesized infrastructure changes, not when handler code does.

Update the snapshot with ``LAMBDA_MANIFEST_UPDATE_SNAPSHOTS=1 pytest``, then read its diff.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Template
from lambda_manifest.testing import assert_matches_file

from infra.service import JobsService

SNAPSHOT = Path(__file__).with_name("JobsService.template.json")


def test_service_matches_its_snapshot() -> None:
    stack = JobsService(cdk.App(), "JobsService")
    assert_matches_file(stack, SNAPSHOT)


def test_worker_runs_the_team_module_with_the_runtime_layer() -> None:
    template = Template.from_stack(JobsService(cdk.App(), "JobsService"))
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "lambda_manifest.runtime.worker.handler.main",
        "Environment": {"Variables": {"LM_WORKER_PROCESS": "jobs.worker:process"}},
    })
    template.resource_count_is("AWS::Lambda::LayerVersion", 2)  # the worker and HTTP runtimes
