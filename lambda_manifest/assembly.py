"""Read a synthesized cloud assembly (``cdk.out``): stacks, templates, resources and acknowledgements.

``python -m lambda_manifest.assembly cdk.out`` prints the summary ``make synth`` ends with. It reads only the
files the CDK CLI wrote, never the Python constructs, so it works on any app's assembly.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"


@dataclass
class StackArtifact:
    """One stack of the assembly."""

    name: str
    template_path: Path
    template: dict[str, Any]
    metadata: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def stack_name(self) -> str:
        """The CloudFormation stack name (``stackName`` in the manifest, else the artifact id)."""
        return str(self.properties.get("stackName") or self.name)

    @property
    def directory(self) -> Path:
        """The folder that holds the template; asset paths in its metadata are relative to it."""
        return self.template_path.parent

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template.get("Resources", {})
        return resources

    def resource_types(self) -> Counter[str]:
        return Counter(str(resource["Type"]) for resource in self.resources.values())

    def unheard_alarms(self) -> dict[str, int]:
        """Alarm topics of this stack that no one is subscribed to: topic logical id -> alarms notifying it.

        Counts the alarms whose ALARM actions name a topic defined in this template, and the topic's
        subscriptions (``AWS::SNS::Subscription`` resources or the topic's own ``Subscription`` list). A topic
        of another stack or account is not judged: its subscriptions are not in this template.
        """
        resources = self.resources
        topics = {lid for lid, r in resources.items() if r.get("Type") == "AWS::SNS::Topic"}
        subscribed = {lid for lid in topics if resources[lid].get("Properties", {}).get("Subscription")}
        for resource in resources.values():
            if resource.get("Type") == "AWS::SNS::Subscription":
                arn = resource.get("Properties", {}).get("TopicArn")
                if isinstance(arn, dict) and arn.get("Ref") in topics:
                    subscribed.add(arn["Ref"])
        unheard: Counter[str] = Counter()
        for resource in resources.values():
            if resource.get("Type") != "AWS::CloudWatch::Alarm":
                continue
            for action in resource.get("Properties", {}).get("AlarmActions", []):
                if isinstance(action, dict) and action.get("Ref") in topics - subscribed:
                    unheard[action["Ref"]] += 1
        return dict(unheard)

    def acknowledgements(self) -> dict[str, dict[str, str]]:
        """Construct path -> {rule id: reason} for every acknowledged finding in this stack."""
        found: dict[str, dict[str, str]] = {}
        for path, entries in self.metadata.items():
            for entry in entries:
                if entry.get("type") == ACKNOWLEDGED_RULES:
                    found.setdefault(path, {}).update(entry.get("data", {}))
        return found


@dataclass
class Assembly:
    directory: Path
    stacks: list[StackArtifact]

    def stack(self, name: str) -> StackArtifact:
        for stack in self.stacks:
            if stack.name == name:
                return stack
        raise KeyError(f"no stack named {name!r} in {self.directory}; found {[s.name for s in self.stacks]}")

    def unacknowledged_findings(self) -> list[dict[str, Any]]:
        """Violations left in validation-report.json (present only when synth failed the gate)."""
        report = self.directory / "validation-report.json"
        if not report.exists():
            return []
        data = json.loads(report.read_text())
        return [v for plugin in data.get("pluginReports", []) for v in plugin.get("violations", [])]


def load_assembly(directory: str | Path) -> Assembly:
    """Load every CloudFormation stack listed in ``manifest.json``, nested assemblies included."""
    root = Path(directory)
    manifest = json.loads((root / "manifest.json").read_text())
    stacks: list[StackArtifact] = []
    for name, artifact in manifest.get("artifacts", {}).items():
        kind = artifact.get("type")
        if kind == "cdk:cloud-assembly":
            nested = artifact.get("properties", {}).get("directoryName")
            if nested:
                stacks.extend(load_assembly(root / nested).stacks)
        if kind != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties", {})
        template_path = root / props["templateFile"]
        metadata: dict[str, list[dict[str, Any]]] = dict(artifact.get("metadata", {}))
        for extra in artifact.get("additionalMetadataFile", []) if isinstance(
                artifact.get("additionalMetadataFile"), list) else [artifact.get("additionalMetadataFile")]:
            if extra and (root / extra).exists():
                metadata.update(json.loads((root / extra).read_text()))
        stacks.append(StackArtifact(name=name, template_path=template_path,
                                    template=json.loads(template_path.read_text()), metadata=metadata,
                                    properties=dict(props)))
    return Assembly(directory=root, stacks=stacks)


def summary(assembly: Assembly) -> str:
    findings = assembly.unacknowledged_findings()
    lines = [f"{'stack':<32} {'resources':>9} {'acknowledged':>12}", "-" * 55]
    for stack in assembly.stacks:
        acknowledged = sum(len(rules) for rules in stack.acknowledgements().values())
        lines.append(f"{stack.name:<32} {len(stack.resources):>9} {acknowledged:>12}")
    lines.append("-" * 55)
    lines.append(f"stacks: {len(assembly.stacks)}   unacknowledged findings: {len(findings)}")
    unheard = [(stack.name, topic, count) for stack in assembly.stacks
               for topic, count in stack.unheard_alarms().items()]
    if unheard:
        lines.append("")
        lines.append("No one will receive these alarms: their topic has no subscription.")
        for stack_name, topic, count in unheard:
            lines.append(f"  {stack_name}: {count} alarms notify {topic}")
        lines.append("Subscribe on-call with `cdk deploy -c alarmEmail=oncall@example.com` (or -c alarmUrl=https://...),")
        lines.append("or StackResources.of(stack).subscribe_alarms(emails=..., urls=..., queues=..., functions=...).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    assembly = load_assembly(args[0] if args else "cdk.out")
    print(summary(assembly))
    return 1 if assembly.unacknowledged_findings() else 0


if __name__ == "__main__":
    raise SystemExit(main())
