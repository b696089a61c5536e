"""The local runner runs each function on its declared runtime's Python when it has one (python3.14 code on
3.14, as Lambda does), and says so when it falls back to its own interpreter."""

from __future__ import annotations

import io
import os
import sys
import textwrap
from pathlib import Path

import pytest

from lambda_manifest.local import interpreters
from lambda_manifest.local.functions import FunctionHost, FunctionSpec
from lambda_manifest.local.interpreters import interpreter_for
from lambda_manifest.local.logs import Console

OWN = f"{sys.version_info[0]}.{sys.version_info[1]}"
PY314 = os.environ.get("LM_PYTHON3_14", "")


@pytest.fixture(autouse=True)
def fresh_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interpreters, "_INTERPRETERS", {})


def host_for(tmp_path: Path, runtime: str) -> FunctionHost:
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(textwrap.dedent("""
        import platform
        import sys


        def main(event, context):
            return {"version": platform.python_version(), "executable": sys.executable, "event": event}
    """))
    spec = FunctionSpec(stack="S", logical_id="Fn", label="Fn", name="S-Fn",
                        arn="arn:aws:lambda:us-east-1:123456789012:function:S-Fn", handler="handler.main",
                        runtime=runtime, code_dir=code, environment={}, timeout=30.0)
    return FunctionHost(spec, console=Console(io.StringIO()), endpoint_url="http://127.0.0.1:9")


def test_the_runners_own_version_needs_no_search() -> None:
    chosen = interpreter_for(f"python{OWN}")
    assert (chosen.executable, chosen.version, chosen.note) == (sys.executable, OWN, "")


def test_without_the_declared_version_it_runs_on_its_own_and_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LM_PYTHON3_99", "/nonexistent/python")
    chosen = interpreter_for("python3.99")
    assert (chosen.executable, chosen.version) == (sys.executable, OWN)
    assert "python3.99 functions run on Python" in chosen.note and "LM_PYTHON3_99" in chosen.note


def test_an_interpreter_without_the_sdk_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A bare interpreter of the right version would fail every handler that imports boto3.
    bare = tmp_path / "python3.99"
    bare.write_text("#!/bin/sh\nexit 1\n")
    bare.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LM_PYTHON3_99", raising=False)
    assert interpreter_for("python3.99").note


@pytest.mark.skipif(not PY314 or OWN == "3.14", reason="needs LM_PYTHON3_14 and a runner on another version")
def test_a_python3_14_function_runs_on_3_14(tmp_path: Path) -> None:
    host = host_for(tmp_path, "python3.14")
    # Every JSON type, through the runner's message format (written by this Python, read by 3.14) and back.
    event = {"text": "héllo ✓ \u0000", "int": 2**70, "float": 0.1, "flags": [True, False, None],
             "nested": {"list": [1, "two", {"three": 3.5}], "empty": {}}, "": ""}
    try:
        result = host.invoke(event)
    finally:
        host.stop()
    assert result.ok, result.error
    assert result.payload["version"].startswith("3.14.")
    assert result.payload["event"] == event
    assert host.interpreter.note == ""
