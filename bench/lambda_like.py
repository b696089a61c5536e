"""Import a Lambda handler the way the python3.x runtime does on a cold start (shared by the import benches).

A function is laid out as Lambda lays it out, in a temporary folder:

* ``task/``: a copy of the function's asset from ``cdk.out`` (Lambda's ``/var/task``);
* ``opt/python/``: the function's layers merged (Lambda's ``/opt/python``): the library's runtime layers
  from ``cdk.out`` and, for the public Powertools layer (referenced by ARN), Powertools and its
  dependencies copied from the measuring interpreter's environment;
* ``runtime/``: what the managed runtime itself brings (boto3, botocore and their dependencies).

Each sample is a fresh interpreter (the base interpreter, not a venv) with ``-B`` and no bytecode cache
prefix, so nothing is written, as on Lambda's read-only file system; it imports the handler module (with the
function's environment, so the worker entry point also imports the ``process`` module it names) and reports
the time from before the import to the handler function in hand.

``source`` means the asset and layers hold no ``.pyc`` (Python compiles every module, then discards it);
``bytecode`` means they hold what synth ships (``unchecked-hash`` ``.pyc`` by 3.14; for 3.11 the same files
compiled by 3.11). Powertools and boto3 always have bytecode: their layer and the runtime ship it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lambda_manifest import _bytecode  # noqa: E402

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
# The public Powertools layer ships the X-Ray SDK (its Tracer's dependency) beside Powertools.
POWERTOOLS_PACKAGES = ("aws_lambda_powertools", "typing_extensions.py", "aws_xray_sdk", "wrapt")

PROBE = r"""
import sys, time
module, attribute = sys.argv[1], sys.argv[2]
started, cpu = time.perf_counter(), time.process_time()
import importlib
handler = getattr(importlib.import_module(module), attribute)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
import json
roots = sys.argv[3:]
def stdlib(path):
    return "/lib/python3." in path and "-packages" not in path
outside = sorted({m.split(".")[0] for m, v in list(sys.modules.items())
                  if getattr(v, "__file__", None) and not stdlib(v.__file__)
                  and not any(v.__file__.startswith(r) for r in roots)})
print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "modules": len(sys.modules), "asyncio": "asyncio" in sys.modules,
                  "boto3": "botocore" in sys.modules, "outside": outside}))
"""


@dataclass
class Function:
    """One distinct handler setup from the templates (functions with identical code, layers and entry
    point share a row)."""

    handler: str
    runtime: str
    code: Path
    layers: list[Path]
    powertools: bool
    environment: dict[str, str]
    names: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def entry(self) -> str:
        if self.note:
            return f"{self.handler} {self.note}"
        process = self.environment.get("LM_WORKER_PROCESS")
        return f"{self.handler} ({process})" if process else self.handler


def synthesized(assembly: Path | None) -> Path:
    """``assembly`` if given, else ``cdk.out`` when it exists, else a fresh ``cdk synth`` into a temp dir."""
    if assembly is not None:
        return assembly
    if (ROOT / "cdk.out" / "manifest.json").exists():
        return ROOT / "cdk.out"
    out = Path(tempfile.mkdtemp(prefix="bench-cdk-out-"))
    subprocess.run(["npx", "cdk", "synth", "--quiet", "--no-notices", "--output", str(out)], cwd=ROOT, check=True,
                   env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    return out


def functions(assembly: Path) -> list[Function]:
    manifest = json.loads((assembly / "manifest.json").read_text())
    found: dict[tuple[Any, ...], Function] = {}
    for name, artifact in manifest["artifacts"].items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        template = json.loads((assembly / artifact["properties"]["templateFile"]).read_text())
        resources = template.get("Resources", {})
        for logical_id, resource in resources.items():
            props = resource.get("Properties", {})
            if resource.get("Type") != "AWS::Lambda::Function" or not str(props.get("Runtime", "")).startswith("python"):
                continue
            asset = resource.get("Metadata", {}).get("aws:asset:path")
            if asset is None:
                continue  # inline code (CDK's own custom resources)
            layers, powertools = [], False
            for layer in props.get("Layers", []):
                if isinstance(layer, dict) and "Ref" in layer:
                    layer_asset = resources[layer["Ref"]].get("Metadata", {}).get("aws:asset:path")
                    if layer_asset:
                        layers.append(assembly / layer_asset)
                elif "AWSLambdaPowertoolsPython" in json.dumps(layer):
                    powertools = True
            variables = props.get("Environment", {}).get("Variables", {})
            environment = {k: v if isinstance(v, str) else "placeholder" for k, v in variables.items()}
            key = (props["Handler"], environment.get("LM_WORKER_PROCESS"), asset, tuple(layers), powertools)
            function = found.setdefault(key, Function(props["Handler"], props["Runtime"], assembly / asset, layers,
                                                       powertools, environment))
            function.names.append(f"{name}/{logical_id}")
    return sorted(found.values(), key=lambda f: f.entry)


def base_interpreter(venv_python: str) -> tuple[str, str, Path]:
    """(base interpreter, version, site-packages of the venv) for a venv's python."""
    out = subprocess.run(
        [venv_python, "-c", "import sys, sysconfig; print(sys._base_executable); "
         "print('%d.%d' % sys.version_info[:2]); print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0], out[1], Path(out[2])


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


class Interpreter:
    """A Python version with its Lambda-like runtime and Powertools folders (always with bytecode)."""

    def __init__(self, venv_python: str, work: Path) -> None:
        self.executable, self.version, site = base_interpreter(venv_python)
        self.work = work / f"py{self.version}"
        self.runtime = self.work / "runtime"
        self.powertools = self.work / "powertools"
        for folder, names in ((self.runtime, RUNTIME_PACKAGES), (self.powertools, POWERTOOLS_PACKAGES)):
            for name in names:
                _copy(site / name, folder / name)
            _bytecode.compile_tree(folder, python=self.executable)

    def floor_ms(self) -> float:
        started = time.perf_counter()
        subprocess.run([self.executable, "-B", "-c", "pass"], env=_clean_env({}), check=True)
        return (time.perf_counter() - started) * 1000


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LM_", "POWERTOOLS_"))}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
    env.update(extra)
    return env


class Layout:
    """One function laid out for one interpreter, with or without shipped bytecode."""

    def __init__(self, function: Function, interpreter: Interpreter, bytecode: bool, work: Path) -> None:
        self.function, self.interpreter = function, interpreter
        root = Path(tempfile.mkdtemp(prefix="fn-", dir=work))
        self.task, self.opt = root / "task", root / "opt" / "python"
        self.task.mkdir(parents=True)
        self.opt.mkdir(parents=True)
        shipped = bytecode and interpreter.version == _bytecode.RUNTIME_VERSION
        for source, target in [(function.code, self.task), *((layer / "python", self.opt) for layer in function.layers)]:
            if shipped:
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                _copy(source, target)
                if bytecode:
                    _bytecode.compile_tree(target, python=interpreter.executable)
        self.has_pyc = any(self.task.rglob("*.pyc"))
        paths = [self.task, self.opt] + ([interpreter.powertools] if function.powertools else []) + [interpreter.runtime]
        self.paths = [str(p) for p in paths]
        for path in (self.task, self.opt):
            for entry in path.rglob("*"):
                entry.chmod(entry.stat().st_mode & ~0o222)  # read-only, as /var/task and /opt are

    def sample(self) -> dict[str, Any]:
        module, _, attribute = self.function.handler.rpartition(".")
        result = subprocess.run(
            # -S: no site-packages of the interpreter itself; Lambda's sys.path has only the folders above.
            [self.interpreter.executable, "-S", "-B", "-c", PROBE, module, attribute, *self.paths],
            cwd=self.task, capture_output=True, text=True,
            env=_clean_env({**self.function.environment, "PYTHONPATH": os.pathsep.join(self.paths)}),
        )
        if result.returncode != 0:
            raise RuntimeError(f"importing {self.function.entry} on {self.interpreter.version} failed:\n"
                               f"{result.stderr[-3000:]}")
        return dict(json.loads(result.stdout.strip().splitlines()[-1]))
