"""trace_aws_sdk: X-Ray subsegments for every AWS SDK call, opt-in because of its cold-start cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from aws_cdk import aws_lambda as lambda_

from lambda_manifest import ObservedFunction, PropsError
from lambda_manifest.runtime import TRACE_AWS_SDK_ENV
from tests.support import INLINE, resources_of_type, template_of


def environment(**props: Any) -> dict[str, str]:
    template = template_of(lambda stack: ObservedFunction(stack, "Fn", handler="index.main", code=INLINE, **props))
    (function,) = resources_of_type(template, "AWS::Lambda::Function").values()
    return dict(function["Properties"]["Environment"]["Variables"])


def test_off_by_default_and_set_when_asked() -> None:
    assert TRACE_AWS_SDK_ENV not in environment()
    assert environment(trace_aws_sdk=True)[TRACE_AWS_SDK_ENV] == "true"


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"tracing": lambda_.Tracing.PASS_THROUGH}, "trace_aws_sdk must be used with tracing=Tracing.ACTIVE"),
        ({"powertools": False}, "trace_aws_sdk must be used with the Powertools layer"),
    ],
)
def test_fails_without_what_it_needs(props: dict[str, Any], message: str) -> None:
    with pytest.raises(PropsError, match=message):
        environment(trace_aws_sdk=True, **props)


PROBE = """
import json, sys
import lambda_manifest.runtime.http
patched = []
if "aws_xray_sdk.core.patcher" in sys.modules:
    patched = sorted(sys.modules["aws_xray_sdk.core.patcher"]._PATCHED_MODULES)
print(json.dumps({"xray_loaded": "aws_xray_sdk" in sys.modules, "patched": patched}))
"""


def run_probe(env: dict[str, str], prelude: str = "") -> dict[str, Any]:
    full = {**os.environ, **env, "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    out = subprocess.run([sys.executable, "-c", prelude + PROBE], env=full, capture_output=True, text=True,
                         check=True)
    return dict(json.loads(out.stdout.splitlines()[-1])), out.stderr  # type: ignore[return-value]


def test_the_runtime_patches_botocore_only_when_asked() -> None:
    off, _ = run_probe({TRACE_AWS_SDK_ENV: ""})
    assert off == {"xray_loaded": False, "patched": []}  # nothing imported: no cold-start cost
    on, _ = run_probe({TRACE_AWS_SDK_ENV: "true"})
    assert on == {"xray_loaded": True, "patched": ["botocore"]}


def test_without_the_xray_sdk_the_function_still_starts() -> None:
    result, stderr = run_probe({TRACE_AWS_SDK_ENV: "true"}, prelude="import sys; sys.modules['aws_xray_sdk'] = None\n")
    assert result == {"xray_loaded": True, "patched": []}  # the None placeholder, nothing patched
    assert "AWS SDK calls are not traced" in stderr
