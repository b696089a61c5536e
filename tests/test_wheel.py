"""The library installs from a wheel and works outside this repo, handler code included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out),
         str(ROOT)],
        check=True, capture_output=True, timeout=300, cwd=build,
    )
    (wheel_path,) = out.glob("lambda_manifest-*.whl")
    return wheel_path


def test_wheel_carries_the_library_types_and_handler_code(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "lambda_manifest/py.typed" in names
    assert "lambda_manifest/observed_function.py" in names
    assert "lambda_src/nightly_report/handler.py" in names
    assert not [n for n in names if n.startswith(("tests/", "stacks/"))]
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = zipfile.ZipFile(wheel).read(metadata).decode()
    for dependency in ("aws-cdk-lib", "constructs", "cdk-nag", "boto3"):
        assert f"Requires-Dist: {dependency}" in requires


def test_installed_wheel_synthesizes_a_stack_outside_the_repo(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The wheel itself is installed for real. Its dependencies (aws-cdk-lib alone is 430 MB) are borrowed
    # from this test run's environment through a .pth file rather than downloaded again; the wheel's
    # Requires-Dist is checked in the test above.
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = next(p for p in sys.path if p.endswith("site-packages") and "lambda_manifest" not in os.listdir(p))
    (Path(site) / "borrowed_deps.pth").write_text(deps + "\n")

    work = tmp_path / "app"
    work.mkdir()
    (work / "app.py").write_text(textwrap.dedent("""
        import json, sys
        import aws_cdk as cdk
        import lambda_manifest
        from lambda_manifest import ObservedFunction, apply_compliance_packs
        from lambda_manifest._assets import lambda_src_dir

        app = cdk.App(outdir="out")
        stack = cdk.Stack(app, "Outside")
        ObservedFunction(stack, "Report", handler="nightly_report.handler.main", powertools=False)
        apply_compliance_packs(app)
        app.synth()
        print(json.dumps({"lib": lambda_manifest.__file__, "src": str(lambda_src_dir())}))
    """))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "app.py"], cwd=work, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    where = json.loads(result.stdout.strip().splitlines()[-1])
    assert where["lib"].startswith(site) and where["src"].startswith(site)
    template = json.loads((work / "out" / "Outside.template.json").read_text())
    assert any(r["Type"] == "AWS::Lambda::Function" for r in template["Resources"].values())
    assets = [p for p in (work / "out").iterdir() if p.name.startswith("asset.")]
    assert any((p / "nightly_report" / "handler.py").exists() for p in assets)
