"""Interleaved A-vs-B timing for the synth benchmarks: A B A B ... in every process, alternating who starts.

A benchmark program (run with ``python -c PROGRAM <n> <outdir> <variant> <variant> ...``) builds both
variants once unmeasured, then builds and synthesizes each variant named on its command line in that order
and prints one ``<variant> <seconds>`` line per build. Several fresh processes run it, half of them starting
with A and half with B, so jsii start-up, V8 warm-up and load from other jobs fall on both sides alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def interleaved(program: str, a: str, b: str, n: int, processes: int, pairs: int, out: Path) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {a: [], b: []}
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "PYTHONPATH": str(ROOT)}
    for index in range(processes):
        order = [a, b] if index % 2 == 0 else [b, a]
        result = subprocess.run(
            [sys.executable, "-c", program, str(n), str(out / f"n{n}-{index}"), *(order * pairs)],
            capture_output=True, text=True, env=env, check=True,
        )
        for line in result.stdout.splitlines():
            variant, seconds = line.split()
            samples[variant].append(float(seconds))
    return samples


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def ratio(samples: dict[str, list[float]], a: str, b: str) -> str:
    """Median of b over median of a, and the min-max of the per-pair ratios (pairs in run order)."""
    pairs = [y / x for x, y in zip(samples[a], samples[b], strict=True)]
    return (f"{statistics.median(samples[b]) / statistics.median(samples[a]):.2f} "
            f"({min(pairs):.2f}-{max(pairs):.2f})")
