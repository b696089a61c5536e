"""The acceptance for app teams: the built wheel, installed into a fresh venv outside this repo, runs the
app-team project in ``examples/app-team`` the way the README's quickstart for app teams does: the real CDK CLI
synthesizes it under all five packs, its own snapshot test passes, and the local runner serves it until its
worker has processed a message and its API answered with the result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.local_support import call

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "app-team"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy of what the wheel is made of, as from an sdist: setuptools builds in the source tree
    # (build/, *.egg-info), and a build there raced with the rest of the suite running beside it.
    source = Path(tempfile.mkdtemp(prefix="lambda-manifest-wheel-"))
    shutil.copytree(ROOT / "lambda_manifest", source / "lambda_manifest",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out),
         str(source)],
        capture_output=True, text=True, timeout=300, cwd=source,
    )
    shutil.rmtree(source, ignore_errors=True)
    if built.returncode != 0:  # pip's own output says why; a bare CalledProcessError does not
        pytest.fail(f"pip wheel exited {built.returncode}:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}")
    (wheel_path,) = out.glob("lambda_manifest-*.whl")
    return wheel_path


@pytest.fixture(scope="module")
def user_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the repo with the wheel installed for real. Its dependencies (aws-cdk-lib alone is
    430 MB) are borrowed from this test run's environment through a .pth file rather than downloaded again;
    the wheel's Requires-Dist is checked below."""
    env_dir = tmp_path_factory.mktemp("user") / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = next(p for p in sys.path if p.endswith("site-packages") and "lambda_manifest" not in os.listdir(p))
    (Path(site) / "borrowed_deps.pth").write_text(deps + "\n")
    return python


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app-team project, copied outside the repo so nothing of the checkout is importable from it."""
    target = tmp_path_factory.mktemp("team") / "app-team"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("cdk.out", "__pycache__", "*.template.json"))
    return target


def user_env(python: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1",
               JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", CDK_DISABLE_VERSION_CHECK="1",
               NODE_NO_WARNINGS="1")
    return env


@pytest.fixture(scope="module")
def assembly(project: Path, user_python: Path) -> Path:
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    result = subprocess.run([str(cdk), "synth", "--quiet", "--no-notices"], cwd=project, env=user_env(user_python),
                            capture_output=True, text=True, timeout=600)
    report = project / "cdk.out" / "validation-report.json"
    assert result.returncode == 0, (report.read_text()[:4000] if report.exists() else "") + result.stderr[-4000:]
    return project / "cdk.out"


def test_wheel_carries_the_library_and_its_runtimes_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("lambda_manifest/py.typed", "lambda_manifest/observed_function.py", "lambda_manifest/testing.py",
                 "lambda_manifest/runtime/worker/handler.py", "lambda_manifest/runtime/http/__init__.py",
                 "lambda_manifest/runtime/authorizer/handler.py", "lambda_manifest/runtime/gateway/handler.py"):
        assert name in names
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"lambda_manifest"}  # no lambda_src, stacks or tests in site-packages
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    for dependency in ("aws-cdk-lib", "constructs", "cdk-nag", "boto3"):
        assert f"Requires-Dist: {dependency}" in metadata
    assert "Provides-Extra: local" in metadata
    assert any(line.startswith("Requires-Dist: moto") and 'extra == "local"' in line
               for line in metadata.splitlines())
    # Lambda executes the stream runtime's exec wrapper: it ships, executable.
    wrapper = zipfile.ZipFile(wheel).getinfo("lambda_manifest/runtime/stream/wrapper")
    assert (wrapper.external_attr >> 16) & 0o111 == 0o111


def _functions(assembly: Path) -> dict[str, dict[str, object]]:
    template = json.loads((assembly / "JobsService.template.json").read_text())
    return {k: v for k, v in template["Resources"].items()
            if v["Type"] in ("AWS::Lambda::Function", "AWS::Lambda::LayerVersion")}


def test_cli_synth_joins_the_teams_code_and_the_runtime(assembly: Path) -> None:
    resources = _functions(assembly)
    by_handler = {r["Properties"].get("Handler"): r for r in resources.values()}  # type: ignore[union-attr]
    worker = by_handler["lambda_manifest.runtime.worker.handler.main"]
    code = assembly / str(worker["Metadata"]["aws:asset:path"])  # type: ignore[index]
    # The team's asset is the team's code alone; the runtime arrives as the stack's layer.
    assert (code / "jobs" / "worker.py").is_file() and not (code / "lambda_manifest").exists()
    layers = {k: assembly / str(v["Metadata"]["aws:asset:path"])  # type: ignore[index]
              for k, v in resources.items() if v["Type"] == "AWS::Lambda::LayerVersion"}
    worker_layer = next(p for k, p in layers.items() if k.startswith("LambdaManifestRuntimeWorker"))
    assert (worker_layer / "python" / "lambda_manifest" / "runtime" / "worker" / "handler.py").is_file()
    assert not (worker_layer / "python" / "lambda_manifest" / "runtime" / "gateway").exists()
    refs = [layer.get("Ref", "") for layer in worker["Properties"]["Layers"] if isinstance(layer, dict)]  # type: ignore[index]
    assert any(ref.startswith("LambdaManifestRuntimeWorker") for ref in refs)
    assert "api.status.main" in by_handler
    report = json.loads((assembly / "validation-report.json").read_text())
    assert not [v for p in report.get("pluginReports", []) for v in p.get("violations", [])]


def test_the_teams_snapshot_test_passes_with_the_wheel(project: Path, user_python: Path) -> None:
    env = user_env(user_python)
    command = [str(user_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    first = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    snapshot = project / "tests" / "JobsService.template.json"
    assert "<asset-hash>" in snapshot.read_text()
    # Handler code is not infrastructure: editing it leaves the snapshot passing.
    worker = project / "src" / "jobs" / "worker.py"
    worker.write_text(worker.read_text() + "\n# a comment changes the asset hash only\n")
    second = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:]


@pytest.fixture
def runner(project: Path, assembly: Path, user_python: Path, tmp_path: Path) -> Iterator[dict[str, object]]:
    ready = tmp_path / "ready.json"
    log = tmp_path / "local.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(user_python), "-m", "lambda_manifest.local", "--no-synth", "--port", "0", "--ready-file",
             str(ready)], cwd=project, env=user_env(user_python), stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert process.poll() is None, f"the runner exited:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"the runner was not ready:\n{log.read_text()[-4000:]}"
            time.sleep(0.1)
        yield {"info": json.loads(ready.read_text()), "log": log}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_local_runner_serves_the_teams_api_and_worker(runner: dict[str, object]) -> None:
    info = runner["info"]
    assert isinstance(info, dict)
    base = str(info["apis"][0]["url"]).rstrip("/")
    job_id = uuid.uuid4().hex
    accepted = call("POST", f"{base}/jobs", body={"job_id": job_id, "payload": "three small words"})
    assert accepted.status == 202, accepted.body
    deadline = time.monotonic() + 60
    reply = call("GET", f"{base}/jobs/{job_id}")
    while reply.status == 404 and time.monotonic() < deadline:
        assert reply.json()["error"]["code"], reply.body  # a JSON 404 while the job waits in the queue
        time.sleep(0.3)
        reply = call("GET", f"{base}/jobs/{job_id}")
    log = Path(str(runner["log"])).read_text(errors="replace")
    assert reply.status == 200, log[-4000:]
    assert reply.json() == {"job_id": job_id, "status": "done", "words": 3}
