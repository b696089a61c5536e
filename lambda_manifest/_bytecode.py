"""Bytecode for Lambda: ``.pyc`` files compiled by the runtime's Python, shipped beside the sources.

Lambda's code directories (``/var/task``, ``/opt``) are read-only, so a package without bytecode is compiled
from source on every cold start and the result is thrown away. A ``__pycache__/<module>.cpython-314.pyc``
next to each module lets the ``python3.14`` runtime load instead of compile.

The files are written the way a deployment package needs them:

* by a Python of the runtime's minor version (the bytecode format changes between minor versions only);
* with ``unchecked-hash`` invalidation: no timestamps (asset zips do not keep them) and the source is never
  re-read to validate the cache;
* byte-for-byte reproducible: files are compiled in sorted order in one fresh process with hash
  randomization off (frozenset constants are written in hash order), and each code object records the
  module's path relative to the package root, never the folder it was staged in. The import system sets
  the real path again when it loads the file, so tracebacks still point at ``/var/task/...``.

The compiler is found as ``$LM_PYTHON3_14`` or ``python3.14`` on ``PATH``. Without one, assets ship without
bytecode (everything still works, cold starts are slower) and a warning says so once per process.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import warnings
from pathlib import Path

RUNTIME_VERSION = "3.14"
ENV_PYTHON = "LM_PYTHON3_14"

# Runs in the 3.14 interpreter: compile every .py under the folder given as argv[1].
_COMPILE = r"""
import importlib.util, os, py_compile, sys
sys.pycache_prefix = None
root = sys.argv[1]
for folder, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if d != "__pycache__")
    for name in sorted(files):
        if not name.endswith(".py"):
            continue
        source = os.path.join(folder, name)
        try:
            py_compile.compile(source, cfile=importlib.util.cache_from_source(source),
                               dfile=os.path.relpath(source, root), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        except py_compile.PyCompileError:
            pass  # the runtime rejects it at import too; the handler checks report it with its location
"""


class BytecodeWarning(UserWarning):
    """Lambda assets are synthesized without bytecode because no Python 3.14 was found."""


_warned = False


@functools.cache
def compiler() -> tuple[str, str] | None:
    """``(path, full version)`` of the Python that compiles shipped bytecode, or None."""
    candidates = [os.environ.get(ENV_PYTHON, "").strip(), shutil.which(f"python{RUNTIME_VERSION}") or ""]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            version = subprocess.run(
                [candidate, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if version.rsplit(".", 1)[0] == RUNTIME_VERSION:
            return candidate, version
    return None


def tag() -> str:
    """What a staged folder's bytecode is: ``pyc-3.14.10`` or ``source`` (part of its cache key)."""
    found = compiler()
    return f"pyc-{found[1]}" if found else "source"


def compile_tree(folder: Path, python: str | None = None) -> bool:
    """Write ``.pyc`` files next to every module under ``folder``; False (after one warning) without 3.14.

    ``python`` compiles with another interpreter instead (the benchmarks compare with 3.11 bytecode).
    """
    found = (python, "given") if python else compiler()
    if found is None:
        _warn_once()
        return False
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    environment["PYTHONHASHSEED"] = "0"
    result = subprocess.run(
        [found[0], "-c", _COMPILE, str(folder)], env=environment, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"compiling {folder} with Python {found[1]} failed:\n{result.stderr[-2000:]}")
    return True


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"no Python {RUNTIME_VERSION} found (set {ENV_PYTHON} or put python{RUNTIME_VERSION} on PATH): "
            "Lambda assets are synthesized without bytecode, so each cold start compiles them from source",
            BytecodeWarning,
            stacklevel=3,
        )
