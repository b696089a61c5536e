"""Shared test set-up.

Handler code in ``lambda_src/`` is laid out the way Lambda sees it (the asset root is on ``sys.path``),
so the tests put that folder on the path too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = ROOT / "lambda_src"

if str(LAMBDA_SRC) not in sys.path:
    sys.path.insert(0, str(LAMBDA_SRC))

# Never let a test reach a real AWS account: boto3 clients get fake credentials and a fixed region.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LambdaManifestTests")

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def cli_assembly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One synth of the whole app with the real CDK CLI and all five packs; shared by every test that
    reads ``cdk.out`` (snapshots, compliance, cfn-lint). Tests using it carry ``xdist_group("synth")`` so
    the synth runs once per test session, not once per worker."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx is required: the tests synthesize with the real CDK CLI (install Node 20 and npm)")
    out = tmp_path_factory.mktemp("cdk-out")
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1", "NODE_NO_WARNINGS": "1"}
    result = subprocess.run(
        [npx, "cdk", "synth", "--quiet", "--no-notices", "--output", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        report = out / "validation-report.json"
        detail = report.read_text()[:4000] if report.exists() else result.stderr[-4000:]
        pytest.fail(f"cdk synth failed ({result.returncode}):\n{detail}")
    yield out


@pytest.fixture(scope="session")
def manifest_stacks(cli_assembly: Path) -> list[str]:
    manifest = json.loads((cli_assembly / "manifest.json").read_text())
    return [name for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"]
