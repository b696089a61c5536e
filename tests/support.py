"""Helpers for construct tests: synthesize a throwaway stack and inspect it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from lambda_manifest import ALL_PACKS, apply_compliance_packs

INLINE = lambda_.Code.from_inline("def main(event, context):\n    return event\n")


def new_stack(name: str = "TestStack") -> cdk.Stack:
    return cdk.Stack(cdk.App(), name)


def template_of(build: Callable[[cdk.Stack], Any]) -> Template:
    stack = new_stack()
    build(stack)
    return Template.from_stack(stack)


def nag_findings(build: Callable[[cdk.Stack], Any], outdir: Path) -> list[str]:
    """Synthesize ``build`` with all five packs; return the unacknowledged findings as 'rule @ path'."""
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "NagStack")
    build(stack)
    apply_compliance_packs(app, packs=ALL_PACKS)
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error) and "Validation failed" not in str(error):
            raise
    report = outdir / "validation-report.json"
    if not report.exists():
        return []
    data = json.loads(report.read_text())
    return sorted(
        f"{violation['ruleName']} @ {construct['constructPath']}"
        for plugin in data.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    )


def resources_of_type(template: Template, type_: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(type_)
    return found
