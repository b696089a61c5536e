"""Import time of every handler in lambda_src (``python -X importtime``, median of several fresh runs).

A handler is any ``lambda_src/<pkg>/handler.py``. The figure is the cumulative import time of that module
as ``-X importtime`` reports it, in a fresh interpreter with ``lambda_src`` on the path, the way Lambda
imports it on a cold start. Target: under 60 ms for handlers that need no Powertools Tracer.

Run: ``.venv/bin/python bench/bench_handler_imports.py [--runs 7]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "lambda_src"
TARGET_MS = 60.0


def import_ms(module: str) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{ROOT}",  # the example apps and the library runtimes they import
        "POWERTOOLS_SERVICE_NAME": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=SRC,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{result.stderr[-2000:]}")
    for line in result.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise RuntimeError(f"no importtime line for {module}")


def handlers() -> list[str]:
    return sorted(f"{p.parent.name}.handler" for p in SRC.glob("*/handler.py"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"| handler | median import (ms) | min (ms) | target < {TARGET_MS:.0f} ms |")
    print("| --- | ---: | ---: | --- |")
    for module in handlers():
        import_ms(module)  # warm the bytecode cache so every run measures the same thing
        samples = [import_ms(module) for _ in range(args.runs)]
        median = statistics.median(samples)
        print(f"| `{module}` | {median:.1f} | {min(samples):.1f} | {'yes' if median < TARGET_MS else 'NO'} |")
    print(f"\n(python {sys.version.split()[0]}, {args.runs} fresh interpreters per handler)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
