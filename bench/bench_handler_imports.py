"""Cold-start import time of every Lambda handler in the synthesized templates, measured as Lambda imports it.

Every ``AWS::Lambda::Function`` with a Python runtime in every stack of the cloud assembly (``cdk.out``, or
a fresh synth) is laid out as Lambda lays it out (see ``lambda_like.py``: asset as ``/var/task``, layers as
``/opt/python``, read-only, no bytecode cache) and imported in fresh interpreters on Python 3.14 (the
runtime's version) and 3.11, from source and with the bytecode synth ships. Samples are interleaved (one of
each variant in turn) so that load from other jobs spreads evenly; each cell is the median of ``--runs``.

The floor is ``python -B -c pass`` (interpreter start and exit), which every cold start pays before it
imports anything. Target: under 60 ms of import on 3.14 with bytecode.

Run: ``.venv/bin/python bench/bench_handler_imports.py [--runs 7] [--assembly cdk.out]``
(3.14 is ``$LM_PYTHON3_14`` or ``.venv-3.14/bin/python``; ``make bench`` sets it.)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
from pathlib import Path

from lambda_like import ROOT, Interpreter, Layout, functions, synthesized

TARGET_MS = 60.0


def interpreters(work: Path) -> list[Interpreter]:
    found = [Interpreter(str(ROOT / ".venv" / "bin" / "python"), work)]
    py314 = os.environ.get("LM_PYTHON3_14") or str(ROOT / ".venv-3.14" / "bin" / "python")
    if Path(py314).exists():
        found.append(Interpreter(py314, work))
    else:
        print("(no Python 3.14 venv: set LM_PYTHON3_14 or run make install; 3.14 columns skipped)", file=sys.stderr)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--assembly", type=Path)
    args = parser.parse_args()
    assembly = synthesized(args.assembly)
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        work = Path(tmp)
        pythons = interpreters(work)
        targets = functions(assembly)
        # trace_aws_sdk=True on the first API handler: what the X-Ray SDK adds to its cold start.
        traced = next((f for f in targets if f.powertools and any(
            (layer / "python" / "lambda_manifest" / "runtime" / "http").is_dir() for layer in f.layers)), None)
        if traced is not None:
            targets.append(dataclasses.replace(traced, note="with trace_aws_sdk=True", environment={
                **traced.environment, "LM_TRACE_AWS_SDK": "true", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}))
        grid = [[Layout(f, py, bytecode, work) for py in pythons for bytecode in (False, True)] for f in targets]
        samples: list[list[list[dict]]] = [[[] for _ in row] for row in grid]
        floors: dict[str, list[float]] = {py.version: [] for py in pythons}
        # Round-robin over every function and variant, so load from other jobs spreads over all cells.
        for _ in range(args.runs):
            for row, row_samples in zip(grid, samples, strict=True):
                for layout, bucket in zip(row, row_samples, strict=True):
                    bucket.append(layout.sample())
            for py in pythons:
                floors[py.version].append(py.floor_ms())
        rows = list(zip(targets, samples, strict=True))

    header = " | ".join(f"{py.version} {'pyc' if bc else 'source'} (ms)" for py in pythons for bc in (False, True))
    print(f"| handler (entry point) | functions | {header} | {pythons[-1].version} pyc CPU (ms) | "
          f"< {TARGET_MS:.0f} ms on 3.14 with bytecode | modules | asyncio |")
    print("| --- | ---: | " + "---: | " * (2 * len(pythons) + 1) + "--- | ---: | --- |")
    for function, samples in rows:
        medians = [statistics.median(s["ms"] for s in bucket) for bucket in samples]
        last = samples[-1][-1]
        verdict = "yes" if medians[-1] < TARGET_MS else "**no**"
        outside = sorted({m for bucket in samples for s in bucket for m in s["outside"]})
        note = f" (loaded from outside the function: {', '.join(outside)})" if outside else ""
        cells = " | ".join(f"{m:.1f}" for m in medians)
        spread = [s["ms"] for s in samples[-1]]
        cells += f" ({min(spread):.0f}-{max(spread):.0f})"
        cells += f" | {statistics.median(s['cpu_ms'] for s in samples[-1]):.1f}"
        print(f"| `{function.entry}`{note} | {len(function.names)} | {cells} | {verdict} | {last['modules']} | "
              f"{'yes' if last['asyncio'] else 'no'} |")
    floor_cells = " | ".join(f"{statistics.median(floors[py.version]):.1f}" for py in pythons for _ in (0, 1))
    print(f"| floor: `python -B -c pass` (whole process) | | {floor_cells} | | | | |")
    print(f"\n(median of {args.runs} fresh interpreters per cell, min-max of the last column in brackets, variants "
          f"interleaved round-robin over all cells; load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
