"""Which Python a function's workers run on: the declared runtime's version when this machine has one.

Lambda runs ``python3.14`` code on 3.14; the runner does the same when it finds a 3.14 with boto3 (the
managed runtime's SDK), from ``$LM_PYTHON3_14`` or ``python3.14`` on PATH, and otherwise runs the function on
its own interpreter and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Interpreter:
    """The Python a function's workers run on, and why that one."""

    executable: str
    version: str
    note: str = ""  # set when the function's declared runtime could not be matched


def _version_of(executable: str) -> str | None:
    """``3.14`` if ``executable`` runs and has boto3 (the managed runtime's SDK), else None."""
    probe = "import sys, importlib.util as u; u.find_spec('boto3') and print('%d.%d' % sys.version_info[:2])"
    try:
        done = subprocess.run(
            [executable, "-I", "-c", probe],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def bytecode_flags() -> list[str]:
    """Workers never write bytecode next to the code (Lambda's folders are read-only), but when the runner
    keeps its bytecode under a cache prefix (``make`` sets one), workers share it: otherwise every cold start
    would compile boto3 and Powertools again."""
    return ["-X", f"pycache_prefix={sys.pycache_prefix}"] if sys.pycache_prefix else ["-B"]


_INTERPRETERS: dict[str, Interpreter] = {}
_INTERPRETERS_LOCK = threading.Lock()


def interpreter_for(runtime: str) -> Interpreter:
    """The interpreter for a ``python3.X`` runtime: ``$LM_PYTHON3_X``, else ``python3.X`` on PATH (either
    with boto3 importable, as the managed runtime has it), else the runner's own with a note saying so."""
    with _INTERPRETERS_LOCK:
        known = _INTERPRETERS.get(runtime)
        if known is not None:
            return known
        own = f"{sys.version_info[0]}.{sys.version_info[1]}"
        wanted = runtime.removeprefix("python")
        found = Interpreter(sys.executable, own)
        if runtime.startswith("python") and wanted != own:
            variable = f"LM_PYTHON{wanted.replace('.', '_')}"
            for candidate in (os.environ.get(variable, "").strip(), shutil.which(runtime) or ""):
                if candidate and _version_of(candidate) == wanted:
                    found = Interpreter(candidate, wanted)
                    break
            else:
                found = Interpreter(sys.executable, own, f"{runtime} functions run on Python {own}: no Python "
                                                         f"{wanted} with boto3 found (set {variable} to one, "
                                                         f"e.g. a venv with this project's requirements)")
        _INTERPRETERS[runtime] = found
        return found
