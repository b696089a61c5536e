"""One terminal, many sources: every line is prefixed with where it came from, and lines never interleave."""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

_COLORS = ["36", "35", "33", "32", "34", "91", "96", "95", "93", "92", "94"]


class Console:
    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        if color is None:
            color = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.color = color
        self._lock = threading.Lock()
        self._assigned: dict[str, str] = {}

    def _paint(self, source: str) -> str:
        if not self.color:
            return f"[{source}]"
        code = self._assigned.setdefault(source, _COLORS[len(self._assigned) % len(_COLORS)])
        return f"\033[{code}m[{source}]\033[0m"

    def line(self, source: str, text: str) -> None:
        prefix = self._paint(source)
        with self._lock:
            for part in text.rstrip("\n").split("\n"):
                self.stream.write(f"{prefix} {part}\n")
            self.stream.flush()

    def info(self, source: str, text: str) -> None:
        """Runner chatter (access logs, invocation summaries): suppressed by ``--quiet``."""
        if not self.quiet:
            self.line(source, text)

    def raw(self, text: str) -> None:
        with self._lock:
            self.stream.write(text if text.endswith("\n") else text + "\n")
            self.stream.flush()
