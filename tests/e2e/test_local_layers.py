"""The local runner's start-up: the 'local' extra check, child processes that fail to start, quiet SDK logs,
and the template's own layers on a worker's sys.path. Assemblies here are written by hand, so these tests
need neither the CDK CLI nor the library's constructs."""

from __future__ import annotations

import io
import json
import socket
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
from local_support import call, run_local

from lambda_manifest.local import __main__ as local_main
from lambda_manifest.local.cfn import Resolver, Stack
from lambda_manifest.local.extra import MissingExtra, missing_runner_packages
from lambda_manifest.local.functions import FunctionHost, FunctionSpec
from lambda_manifest.local.logs import ChildStartError, Console
from lambda_manifest.local.runner import LocalRunner, Options
from lambda_manifest.local.services import MotoServer

MISSING_MOTO_MESSAGE = """the local runner needs the 'local' extra: pip install "lambda-manifest[local]" (missing: moto)"""
POWERTOOLS_ARN = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def assembly(root: Path, resources: dict[str, Any], stack: str = "LayerStack") -> Path:
    """A cloud assembly with one stack, in the layout the CDK CLI writes."""
    out = root / "cdk.out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": {
        stack: {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{stack}.template.json"}}}}))
    (out / f"{stack}.template.json").write_text(json.dumps({"Resources": resources}))
    return out


def layer_version(asset: str) -> dict[str, Any]:
    return {"Type": "AWS::Lambda::LayerVersion",
            "Properties": {"Content": {"S3Bucket": "cdk-assets", "S3Key": asset.removeprefix("asset.") + ".zip"}},
            "Metadata": {"aws:asset:path": asset, "aws:asset:property": "Content"}}


def function(asset: str, layers: list[Any], handler: str = "handler.main") -> dict[str, Any]:
    return {"Type": "AWS::Lambda::Function",
            "Properties": {"Handler": handler, "Runtime": "python3.12", "Timeout": 10, "Layers": layers,
                           "Code": {"S3Bucket": "cdk-assets", "S3Key": asset.removeprefix("asset.") + ".zip"}},
            "Metadata": {"aws:asset:path": asset, "aws:asset:property": "Code"}}


def built_specs(out: Path) -> tuple[LocalRunner, dict[str, FunctionSpec]]:
    """The runner's function specs for an assembly, without starting anything."""
    from lambda_manifest.assembly import load_assembly

    runner = LocalRunner(Options(assembly=out, app_dir=out.parent, from_assets=True), Console(io.StringIO()))
    runner.stacks = [Stack(a) for a in load_assembly(out).stacks]
    runner.resolver = Resolver(runner.stacks)
    runner._build_functions()
    return runner, {h.spec.logical_id: h.spec for h in runner.hosts}


# -- layers --------------------------------------------------------------------------------------------------
def test_layers_that_share_a_package_are_merged_as_lambda_extracts_them(tmp_path: Path) -> None:
    """Two of the library's runtime layers both hold lambda_manifest/: in Lambda they meet in /opt/python, so
    the runner overlays them in one folder (a later layer's file wins) instead of two sys.path entries, where the
    first package would hide the second's modules."""
    out = tmp_path / "cdk.out"
    write(out / "asset.code" / "handler.py", "def main(event, context): return 1\n")
    write(out / "asset.http" / "python" / "lambda_manifest" / "__init__.py", "first = True\n")
    write(out / "asset.http" / "python" / "lambda_manifest" / "runtime" / "http" / "__init__.py", "")
    write(out / "asset.stream" / "python" / "lambda_manifest" / "__init__.py", "second = True\n")
    write(out / "asset.stream" / "python" / "lambda_manifest" / "runtime" / "stream" / "__init__.py", "")
    assembly(tmp_path, {
        "Http": layer_version("asset.http"),
        "Stream": layer_version("asset.stream"),
        "Fn": function("asset.code", [{"Ref": "Http"}, {"Ref": "Stream"}]),
    })
    _, specs = built_specs(out)
    (merged,) = specs["Fn"].layer_paths
    runtime = merged / "lambda_manifest" / "runtime"
    assert (runtime / "http" / "__init__.py").is_file() and (runtime / "stream" / "__init__.py").is_file()
    assert (merged / "lambda_manifest" / "__init__.py").read_text() == "second = True\n"


def test_layers_that_ref_a_local_layer_version_resolve_to_its_python_folders(tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    write(out / "asset.code" / "handler.py", "def main(event, context): return 1\n")
    write(out / "asset.shared" / "python" / "lambda_manifest" / "__init__.py", "")
    with zipfile.ZipFile(out / "asset.extra.zip", "w") as archive:  # a zipped layer asset works too
        archive.writestr("python/extra.py", "")
        archive.writestr("python/lib/python3.12/site-packages/vendored.py", "")
    write(out / "asset.nopython" / "bin" / "tool", "")
    assembly(tmp_path, {
        "Shared": layer_version("asset.shared"),
        "Extra": {**layer_version("asset.extra.zip")},
        "NoPython": layer_version("asset.nopython"),
        "Remote": {"Type": "AWS::Lambda::LayerVersion", "Properties": {"Content": {"S3Bucket": "b", "S3Key": "k.zip"}}},
        "Fn": function("asset.code", [{"Ref": "Shared"}, POWERTOOLS_ARN, {"Ref": "Extra"}]),
        "Plain": function("asset.code", [POWERTOOLS_ARN]),
        "Odd": function("asset.code", [{"Ref": "NoPython"}, {"Ref": "Remote"}]),
    })
    runner, specs = built_specs(out)
    try:
        fn = specs["Fn"]
        # ARN layers stay served by the venv; the template's own layers become sys.path folders.
        assert fn.layers == [POWERTOOLS_ARN]
        extra = fn.layer_paths[0].parents[2]  # the extracted zip: <tmp>/asset.extra/python/lib/python3.12/...
        # Lambda's /opt order: every site-packages folder first, then every python folder, the later layer first.
        assert fn.layer_paths == [extra / "lib" / "python3.12" / "site-packages", extra, out / "asset.shared" / "python"]
        assert all(path.is_dir() for path in fn.layer_paths)
        assert (specs["Plain"].layers, specs["Plain"].layer_paths) == ([POWERTOOLS_ARN], [])
        assert (specs["Odd"].layers, specs["Odd"].layer_paths) == ([], [])
        assert any("NoPython" in w and "no python/ folder" in w for w in runner.warnings), runner.warnings
        assert any("Remote" in w and "without a local asset" in w for w in runner.warnings), runner.warnings
    finally:
        runner.stop()


def spec(code_dir: Path, **overrides: Any) -> FunctionSpec:
    values: dict[str, Any] = {"stack": "S", "logical_id": "Fn", "label": "Fn", "name": "S-Fn",
                              "arn": "arn:aws:lambda:us-east-1:123456789012:function:S-Fn", "handler": "handler.main",
                              "runtime": "python3.12", "code_dir": code_dir, "environment": {}, "timeout": 20.0}
    values.update(overrides)
    return FunctionSpec(**values)


def invoke(host: FunctionHost, event: Any = None) -> Any:
    try:
        return host.invoke(event or {})
    finally:
        host.stop()


def test_a_worker_imports_from_its_code_then_its_layers_then_the_venv(tmp_path: Path) -> None:
    code = tmp_path / "code"
    write(code / "handler.py", """
        import os
        import sys

        import boto3
        import from_layer
        import shadowed


        def main(event, context):
            return {"path": sys.path[:3], "from_layer": from_layer.WHERE, "shadowed": shadowed.WHERE,
                    "boto3": boto3.WHERE, "leaked": [k for k in os.environ if k.startswith("LM_LOCAL")]}
    """)
    write(code / "shadowed.py", "WHERE = 'code'\n")
    first, second = tmp_path / "second-layer" / "python", tmp_path / "first-layer" / "python"
    write(first / "from_layer.py", "WHERE = 'layer'\n")
    write(first / "shadowed.py", "WHERE = 'layer'\n")
    write(second / "boto3" / "__init__.py", "WHERE = 'layer'\n")  # in Lambda too, a layer's boto3 wins
    host = FunctionHost(spec(code, layer_paths=[first, second]), console=Console(io.StringIO()),
                        endpoint_url="http://127.0.0.1:9")
    result = invoke(host)
    assert result.ok, result.error
    assert result.payload["path"] == [str(code), str(first), str(second)]
    assert (result.payload["from_layer"], result.payload["shadowed"], result.payload["boto3"]) == ("layer", "code", "layer")
    assert result.payload["leaked"] == ["LM_LOCAL"]  # the runner's own variables stop at the bootstrap


# -- quiet by default ----------------------------------------------------------------------------------------
SDK_HANDLER = """
    import logging

    import boto3

    log = logging.getLogger("orders")


    def main(event, context):
        boto3.client("sqs")  # botocore logs "Found credentials in environment variables." at INFO
        log.info("handler line %s", event["n"])
        logging.getLogger("botocore").warning("a warning the SDK gives")
        return "ok"
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_sdk_info_lines_only_with_verbose_and_handler_logs_always(tmp_path: Path, verbose: bool) -> None:
    code = tmp_path / "code"
    write(code / "handler.py", SDK_HANDLER)
    stream = io.StringIO()
    host = FunctionHost(spec(code), console=Console(stream, color=False), endpoint_url="http://127.0.0.1:9",
                        verbose=verbose)
    result = invoke(host, {"n": 7})
    assert result.ok, result.error
    log = stream.getvalue()
    assert "handler line 7" in log and "a warning the SDK gives" in log
    assert ("Found credentials in environment variables" in log) is verbose, log


def test_moto_request_log_only_with_verbose() -> None:
    logs = {}
    for verbose in (False, True):
        stream = io.StringIO()
        moto = MotoServer(console=Console(stream, color=False), verbose=verbose)
        moto.start()
        try:
            moto.client("sqs").list_queues()
        finally:
            moto.stop()
        logs[verbose] = stream.getvalue()
    assert logs[False] == ""
    assert "[moto]" in logs[True] and "POST / HTTP/1.1" in logs[True], logs[True]


# -- children that fail to start -----------------------------------------------------------------------------
def test_a_moto_server_that_cannot_start_shows_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        moto = MotoServer(taken.getsockname()[1])
        with pytest.raises(ChildStartError) as error:
            moto.start()
    message = str(error.value)
    assert "moto server exited with status 1 before it was ready" in message
    assert "Address already in use" in message and "Traceback" not in message
    assert moto.process is None  # nothing left running


def test_a_worker_that_dies_during_init_shows_its_last_output(tmp_path: Path) -> None:
    code = tmp_path / "code"
    write(code / "handler.py", """
        import os
        import sys

        print("loading settings")
        sys.stderr.write("settings.toml: no such file\\n")
        sys.stderr.flush()
        os._exit(3)
    """)
    host = FunctionHost(spec(code), console=Console(io.StringIO()), endpoint_url="http://127.0.0.1:9")
    result = invoke(host)
    assert result.error is not None and result.error["errorType"] == "Runtime.ExitError"
    message = result.error["errorMessage"]
    assert "exit status 3" in message
    assert "loading settings" in message and "settings.toml: no such file" in message


def test_a_missing_powertools_names_the_extra(tmp_path: Path) -> None:
    code = tmp_path / "code"
    # What a handler using the HTTP toolkit meets in a venv without Powertools.
    write(code / "handler.py", """
        raise ModuleNotFoundError("No module named 'aws_lambda_powertools'", name="aws_lambda_powertools")
    """)
    stream = io.StringIO()
    host = FunctionHost(spec(code), console=Console(stream, color=False), endpoint_url="http://127.0.0.1:9")
    result = invoke(host)
    assert result.error is not None and result.error["errorType"] == "Runtime.ImportModuleError"
    assert 'pip install "lambda-manifest[local]"' in stream.getvalue()


# -- the 'local' extra ---------------------------------------------------------------------------------------
def test_without_moto_the_runner_stops_before_anything_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "moto", None)  # what an interpreter without moto finds
    assert missing_runner_packages() == ["moto"]
    assert local_main.main(["--assembly", str(tmp_path / "nowhere"), "--no-synth"]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == MISSING_MOTO_MESSAGE
    assert out == ""  # not even the missing assembly is reported first
    with pytest.raises(MissingExtra) as raised:
        LocalRunner(Options(assembly=tmp_path), Console(io.StringIO())).start()
    assert str(raised.value) == MISSING_MOTO_MESSAGE


def test_everything_the_runner_needs_is_installed_here() -> None:
    assert missing_runner_packages() == []


# -- the whole runner ----------------------------------------------------------------------------------------
def test_runner_serves_a_function_with_a_template_layer_and_stays_quiet(tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    write(out / "asset.code" / "handler.py", """
        import logging

        import boto3
        import greeting

        log = logging.getLogger("greeter")


        def main(event, context):
            boto3.client("s3").list_buckets()
            log.info("greeting %s", event["name"])
            return {"text": greeting.hello(event["name"]), "module": greeting.__file__}
    """)
    write(out / "asset.layer" / "python" / "greeting.py", "def hello(name):\n    return f'hello {name}'\n")
    assembly(tmp_path, {"Greeting": layer_version("asset.layer"),
                        "Greeter": function("asset.code", [{"Ref": "Greeting"}])})
    with run_local(tmp_path, out, "--from-assets", workdir=tmp_path) as running:
        [greeter] = running.info["functions"]
        assert greeter["layer_paths"] == [str(out / "asset.layer" / "python")]
        reply = call("POST", f"{running.info['admin']}/2015-03-31/functions/{greeter['name']}/invocations",
                     body={"name": "ada"})
        assert reply.status == 200, reply.body
        assert reply.json() == {"text": "hello ada", "module": str(out / "asset.layer" / "python" / "greeting.py")}
        log = running.wait_for_log("greeting ada")
    assert "Found credentials" not in log and "werkzeug" not in log and "[moto]" not in log, log
