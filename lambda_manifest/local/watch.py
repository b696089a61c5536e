"""Code changes while the runner serves: the next invocation of a function whose code changed is a cold start."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from lambda_manifest.local.logs import Console

if TYPE_CHECKING:
    from lambda_manifest.local.functions import FunctionHost

IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"}


def fingerprint(directory: Path) -> str:
    """Names, sizes and modification times of every file under ``directory`` (caches excluded)."""
    digest = hashlib.sha1()
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class CodeWatcher:
    """Polls each code folder once a second; a change invalidates every function that runs from it."""

    def __init__(self, hosts: Iterable[FunctionHost], console: Console, interval: float = 1.0) -> None:
        self.by_dir: dict[Path, list[FunctionHost]] = {}
        for host in hosts:
            self.by_dir.setdefault(host.spec.code_dir, []).append(host)
        self.console = console
        self.interval = interval
        self._stop = threading.Event()
        self._prints = {directory: fingerprint(directory) for directory in self.by_dir}
        self._thread = threading.Thread(target=self._run, name="code-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for directory, hosts in self.by_dir.items():
                current = fingerprint(directory)
                if current != self._prints[directory]:
                    self._prints[directory] = current
                    for host in hosts:
                        host.invalidate()
                    names = ", ".join(h.spec.label for h in hosts)
                    self.console.line("local", f"code changed in {directory}: next invocation of {names} is a cold start")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
