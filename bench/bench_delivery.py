"""How the runtime reaches a function: cold import and asset bytes, the old single asset against runtime layers.

A. **One asset** (how 0.1.0 before the app-teams change delivered code): every runtime and every example app in
   one folder, the function's code root (``/var/task``).
B. **App asset + runtime layer** (now): the app's own folder as the code root, and the worker runtime in a
   layer folder (``/opt/python``) after it on ``sys.path``, as Lambda orders them.

Cold import: the worker runtime's entry module and the app's ``process`` module
(``lambda_manifest.runtime.worker.handler`` + ``orders.worker``), in a fresh interpreter with no bytecode
anywhere (``-B``, no ``__pycache__`` in the folders), which is what Lambda pays for an asset without
``.pyc``. A and B alternate run by run; min/median/max of ``--runs`` each. Prefers Python 3.14 (the Lambda
runtime's version): pass ``--python``; it needs Powertools and boto3 installed (the Lambda runtime and the
Powertools layer provide them).

Asset bytes: the zipped size (deflate) of what each library-deployed function carries, A against B.

Run: ``.venv/bin/python bench/bench_delivery.py [--runs 7] [--python /path/to/python3.14]``
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "lambda_src"
RUNTIME = ROOT / "lambda_manifest" / "runtime"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PROBE = (
    "import time; t = time.perf_counter(); "
    "import lambda_manifest.runtime.worker.handler, orders.worker; "
    "print((time.perf_counter() - t) * 1000)"
)


def _copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)


def _library_skeleton(target: Path, kinds: list[str]) -> None:
    (target / "lambda_manifest" / "runtime").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "lambda_manifest" / "__init__.py", target / "lambda_manifest" / "__init__.py")
    shutil.copy2(RUNTIME / "__init__.py", target / "lambda_manifest" / "runtime" / "__init__.py")
    for kind in kinds:
        _copy(RUNTIME / kind, target / "lambda_manifest" / "runtime" / kind)


def layouts(work: Path) -> dict[str, list[Path]]:
    """Each layout as the sys.path entries Lambda would give it, first the code root."""
    single = work / "single"
    _copy(SRC, single)
    _library_skeleton(single, ["http", "worker", "authorizer", "gateway"])
    app = work / "app"
    _copy(SRC / "orders", app / "orders")
    layer = work / "layer" / "python"
    _library_skeleton(layer, ["worker"])
    return {"A one asset": [single], "B app + layer": [app, layer]}


def import_ms(python: str, paths: list[Path]) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONDONTWRITEBYTECODE": "1",
           "POWERTOOLS_SERVICE_NAME": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([python, "-B", "-c", PROBE], capture_output=True, text=True, env=env, cwd=paths[0])
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return float(result.stdout.strip())


def zipped(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder))
    return len(buffer.getvalue())


def asset_table(work: Path) -> list[str]:
    from lambda_manifest import _assets

    single = zipped(work / "single")
    rows = ["| function | A: one asset (bytes, zipped) | B: its asset | B: + runtime layer | B total |",
            "| --- | ---: | ---: | ---: | ---: |"]
    worker_layer = zipped(work / "layer")
    for label, kind in (("Lambda authorizer", "authorizer"), ("AI gateway", "gateway")):
        own = zipped(_assets.stage_runtime(kind))
        rows.append(f"| {label} | {single:,} | {own:,} | - | {own:,} |")
    app = zipped(work / "app")
    rows.append(f"| worker running `orders.worker` | {single:,} | {app:,} | {worker_layer:,} | "
                f"{app + worker_layer:,} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sides = layouts(work)
        samples: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.runs):
            for name, paths in sides.items():  # interleaved, so load on the machine hits both sides alike
                samples[name].append(import_ms(args.python, paths))
        version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        print(f"Cold import of the worker runtime + `orders.worker` (python {version}, no bytecode, "
              f"{args.runs} interleaved runs each, ms)\n")
        print("| layout | min | median | max |\n| --- | ---: | ---: | ---: |")
        for name, values in samples.items():
            print(f"| {name} | {min(values):.1f} | {statistics.median(values):.1f} | {max(values):.1f} |")
        print()
        print("\n".join(asset_table(work)))
        print(f"\n(measured {time.strftime('%Y-%m-%d')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
