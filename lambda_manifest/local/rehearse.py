"""Deploy rehearsal: the real ``cdk bootstrap`` and ``cdk deploy --all`` against a moto server on localhost.

``python -m lambda_manifest.local.rehearse [--app-dir .] [--assembly cdk.out] [--stack NAME ...]`` starts a
moto server (a fake account 123456789012 in us-east-1, fake credentials), bootstraps it, deploys the
assembly with the CDK CLI (asset publishing, change sets, template wiring, exports), checks that every
stack reached CREATE_COMPLETE, and lists the resources moto *accepted without creating*: it reports them
complete, but lists no physical resource for them (CloudWatch alarms, every ApiGatewayV2 type, SQS queue
policies, ...). A rehearsal is not AWS: IAM is not enforced, and those resources do not exist.

The CLI must reach moto as ``http://localhost:PORT``: moto parses the template URL's bucket from the host,
and ``127.0.0.1`` would be read as a bucket name.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_manifest.assembly import load_assembly
from lambda_manifest.local.cfn import ACCOUNT_ID, REGION
from lambda_manifest.local.services import MotoServer, fake_credentials
from lambda_manifest.local.synth import stale_reason, synthesize

IGNORED_TYPES = {"AWS::CDK::Metadata"}


@dataclass
class StackResult:
    name: str
    status: str
    resources: int
    not_created: dict[str, list[str]] = field(default_factory=dict)  # type -> logical ids


@dataclass
class Rehearsal:
    ok: bool
    stacks: list[StackResult]
    seconds: dict[str, float]
    error: str = ""
    moto_pid: int | None = None

    def not_created_types(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for stack in self.stacks:
            for kind, ids in stack.not_created.items():
                counts[kind] += len(ids)
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "error": self.error, "seconds": self.seconds, "moto_pid": self.moto_pid,
                "stacks": [{"name": s.name, "status": s.status, "resources": s.resources,
                            "not_created": s.not_created} for s in self.stacks],
                "not_created_types": dict(self.not_created_types())}


def _cli(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, float]:
    npx = shutil.which("npx")
    if npx is None:
        return 127, "npx is not on PATH: install Node.js 20 and run `npm ci`", 0.0
    started = time.monotonic()
    result = subprocess.run([npx, "cdk", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def rehearse(app_dir: Path, assembly: Path, stacks: list[str] | None = None, *,
             log: Any = None, timeout: float = 900) -> Rehearsal:
    """Bootstrap and deploy ``assembly`` into a fresh moto server; always stops the server."""
    def say(text: str) -> None:
        if log is not None:
            print(f"[rehearse] {text}", file=log, flush=True)

    artifacts = load_assembly(assembly)
    names = stacks or [s.name for s in artifacts.stacks]
    moto = MotoServer(rehearsal=True)
    seconds: dict[str, float] = {}
    pid: list[int] = []
    try:
        moto.start()
        pid.append(moto.process.pid if moto.process else 0)
        endpoint = f"http://localhost:{moto.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(fake_credentials())
        env.update({"AWS_ENDPOINT_URL": endpoint, "CDK_DISABLE_VERSION_CHECK": "1", "NODE_NO_WARNINGS": "1",
                    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DEFAULT_ACCOUNT": ACCOUNT_ID,
                    "CDK_DEFAULT_REGION": REGION})
        say(f"moto on {endpoint}; bootstrapping aws://{ACCOUNT_ID}/{REGION}")
        code, output, seconds["bootstrap"] = _cli(
            ["bootstrap", f"aws://{ACCOUNT_ID}/{REGION}", "--no-notices", "--app", str(assembly)],
            cwd=app_dir, env=env, timeout=timeout)
        if code != 0:
            return Rehearsal(False, [], seconds, f"cdk bootstrap failed:\n{output[-4000:]}", pid[0])
        say(f"bootstrapped in {seconds['bootstrap']:.1f} s; deploying {', '.join(names)}")
        targets = stacks if stacks else ["--all"]
        code, output, seconds["deploy"] = _cli(
            ["deploy", *targets, "--require-approval", "never", "--no-notices", "--app", str(assembly),
             "--progress", "events"], cwd=app_dir, env=env, timeout=timeout)
        say(f"cdk deploy finished in {seconds['deploy']:.1f} s (exit {code})")
        results = _inspect(moto, artifacts, names)
        ok = code == 0 and all(r.status == "CREATE_COMPLETE" for r in results)
        return Rehearsal(ok, results, seconds, "" if code == 0 else f"cdk deploy failed:\n{output[-4000:]}", pid[0])
    finally:
        moto.stop()


def moto_cloudformation_types() -> set[str]:
    """The resource types moto's CloudFormation can create (it skips every other type, reporting success)."""
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    return set(get_model_map()) | set(NULL_MODELS) | {"AWS::SecretsManager::Secret"}  # the last: see _moto_main


def _inspect(moto: MotoServer, artifacts: Any, names: list[str]) -> list[StackResult]:
    """A resource counts as *not created* when moto lists no physical id for it and its type is not one that
    moto's CloudFormation implements (some implemented types, such as methods, report no physical id)."""
    cloudformation = moto.client("cloudformation")
    supported = moto_cloudformation_types()
    results: list[StackResult] = []
    for artifact in artifacts.stacks:
        if artifact.name not in names:
            continue
        try:
            stack = cloudformation.describe_stacks(StackName=artifact.stack_name)["Stacks"][0]
            status = str(stack["StackStatus"])
        except Exception as exc:
            results.append(StackResult(artifact.name, f"MISSING ({type(exc).__name__})", 0))
            continue
        listed: dict[str, dict[str, Any]] = {}
        try:
            paginator = cloudformation.get_paginator("list_stack_resources")
            for page in paginator.paginate(StackName=artifact.stack_name):
                for summary in page.get("StackResourceSummaries", []):
                    listed[str(summary.get("LogicalResourceId"))] = summary
        except Exception as exc:
            status = f"{status} (resources unreadable: {type(exc).__name__})"
        not_created: dict[str, list[str]] = {}
        template_resources = {k: v for k, v in artifact.resources.items() if v.get("Type") not in IGNORED_TYPES}
        for logical, resource in template_resources.items():
            summary = listed.get(logical)
            listed_ok = summary is not None and summary.get("PhysicalResourceId") and summary.get("ResourceType")
            if not listed_ok and str(resource["Type"]) not in supported:
                not_created.setdefault(str(resource["Type"]), []).append(logical)
        results.append(StackResult(artifact.name, status, len(template_resources), not_created))
    return results


def report(result: Rehearsal) -> str:
    lines = [f"{'stack':<24} {'status':<18} {'resources':>9} {'not created':>11}", "-" * 66]
    for stack in result.stacks:
        missing = sum(len(ids) for ids in stack.not_created.values())
        lines.append(f"{stack.name:<24} {stack.status:<18} {stack.resources:>9} {missing:>11}")
    types = result.not_created_types()
    if types:
        lines.append("")
        lines.append("Accepted by moto but not created (reported complete, no physical resource):")
        lines.extend(f"  {count:>3} x {kind}" for kind, count in sorted(types.items()))
    lines.append("")
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    lines.append(("REHEARSAL PASSED" if result.ok else "REHEARSAL FAILED") + f" ({timing})")
    if result.error:
        lines.append(result.error)
    lines.append("A rehearsal is not AWS: IAM is not enforced and the resources above do not exist in moto.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lambda_manifest.local.rehearse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app-dir", type=Path, default=Path("."))
    parser.add_argument("--assembly", type=Path, default=None, help="default <app-dir>/cdk.out")
    parser.add_argument("--stack", action="append", default=[], help="deploy only this stack (repeatable)")
    parser.add_argument("--no-synth", action="store_true", help="use the assembly as it is, even when stale")
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    app_dir = args.app_dir.resolve()
    assembly = (args.assembly or app_dir / "cdk.out").resolve()
    if not args.no_synth and (reason := stale_reason(app_dir, assembly)):
        print(f"[rehearse] synthesizing: {reason}", flush=True)
        ok, error, _ = synthesize(app_dir, assembly)
        if not ok:
            print(f"[rehearse] cdk synth failed:\n{error}", file=sys.stderr)
            return 1
    result = rehearse(app_dir, assembly, args.stack or None, log=sys.stdout)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result.as_dict(), indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
