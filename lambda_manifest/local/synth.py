"""Keep ``cdk.out`` current, and find where an asset's code came from."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import time
from pathlib import Path

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".pytest_cache",
             ".ruff_cache", "build", "dist", ".stamps", ".hypothesis"}
# Folders that never change what `cdk synth` produces: tests, benchmarks and docs.
NOT_SYNTH_INPUT = {"tests", "bench", "docs"}
SYNTH_SUFFIXES = {".py", ".json", ".txt", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".js", ".ts", ".sh", ".csv", ""}
IGNORED_NAMES = {"__pycache__", ".DS_Store", ".pytest_cache", ".mypy_cache"}


def _pruned(root: str, dirs: list[str], skip: set[str], assembly: Path) -> list[str]:
    return [d for d in dirs
            if d not in skip and not d.startswith(".") and not d.endswith(".egg-info") and not d.startswith("cdk.out")
            and Path(root, d).resolve() != assembly]


def newest_source(app_dir: Path, assembly: Path) -> tuple[float, Path | None]:
    """The newest file that can change the synthesized output (app code, cdk.json, asset folders)."""
    newest, which = 0.0, None
    assembly = assembly.resolve()
    for root, dirs, files in os.walk(app_dir):
        dirs[:] = _pruned(root, dirs, SKIP_DIRS | NOT_SYNTH_INPUT, assembly)
        for name in files:
            if Path(name).suffix not in SYNTH_SUFFIXES or name.endswith(".pyc"):
                continue
            path = Path(root, name)
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if mtime > newest:
                newest, which = mtime, path
    return newest, which


def stale_reason(app_dir: Path, assembly: Path) -> str | None:
    """Why ``assembly`` needs a synth, or None when it is current."""
    manifest = assembly / "manifest.json"
    if not manifest.exists():
        return f"{assembly} does not exist"
    newest, which = newest_source(app_dir, assembly)
    if newest > manifest.stat().st_mtime:
        return f"{which} is newer than {assembly}"
    return None


def synthesize(app_dir: Path, assembly: Path) -> tuple[bool, str, float]:
    """Run the real CDK CLI: ``npx cdk synth --quiet --no-notices --output <assembly>``."""
    npx = shutil.which("npx")
    if npx is None:
        return False, "npx is not on PATH: install Node.js 20 and run `npm ci`", 0.0
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1",
           "NODE_NO_WARNINGS": "1"}
    started = time.monotonic()
    result = subprocess.run([npx, "cdk", "synth", "--quiet", "--no-notices", "--output", str(assembly)],
                            cwd=app_dir, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        return False, (result.stderr or result.stdout)[-4000:], elapsed
    return True, "", elapsed


def _listing(directory: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in IGNORED_NAMES]
        for name in files:
            if name.endswith((".pyc", ".pyo")) or name in IGNORED_NAMES:
                continue
            path = Path(root, name)
            out[str(path.relative_to(directory))] = path.stat().st_size
    return out


def find_source_dir(asset: Path, app_dir: Path, assembly: Path) -> Path | None:
    """The folder under ``app_dir`` whose files are exactly the asset's (same names, same bytes): the
    function then runs from its source, so an edit takes effect without a new synth."""
    if not asset.is_dir():
        return None
    wanted = _listing(asset)
    if not wanted:
        return None
    top = {name for name in os.listdir(asset) if name not in IGNORED_NAMES}
    assembly = assembly.resolve()
    for root, dirs, files in os.walk(app_dir):
        names = {n for n in [*dirs, *files] if n not in IGNORED_NAMES and not n.endswith(".pyc")}
        dirs[:] = _pruned(root, dirs, SKIP_DIRS, assembly)
        if names != top:
            continue
        candidate = Path(root)
        if candidate.resolve() == asset.resolve():
            continue
        if _listing(candidate) != wanted:
            continue
        if all(filecmp.cmp(asset / rel, candidate / rel, shallow=False) for rel in wanted):
            return candidate
    return None
