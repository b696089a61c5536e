"""The package's public surface: every export resolves, and the command-line tools start without the CDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lambda_manifest

ROOT = Path(__file__).resolve().parent.parent


def test_every_export_resolves() -> None:
    assert sorted(lambda_manifest.__all__) == sorted(lambda_manifest._EXPORTS)
    for name in lambda_manifest.__all__:
        assert getattr(lambda_manifest, name) is not None


def test_command_line_tools_do_not_load_the_cdk() -> None:
    probe = ("import sys, lambda_manifest.redrive, lambda_manifest.keys; "
             "print('aws_cdk' in sys.modules, 'jsii' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_constructs_read_runtime_contracts_without_the_runtimes_dependencies() -> None:
    # Powertools is not a dependency of the wheel: it reaches functions in a layer. The constructs import the
    # runtimes' contract modules, which must not pull in the runtimes themselves.
    probe = ("import sys, lambda_manifest; from lambda_manifest import AsyncWorker, AiGatewayFunction, Authorizer, "
             "HttpServerlessApi, RestServerlessApi; print(sorted(m for m in ('aws_lambda_powertools', 'boto3', 'botocore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
