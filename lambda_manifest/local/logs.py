"""One terminal, many sources: every line is prefixed with where it came from, and lines never interleave."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from typing import IO, TextIO

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


class OutputTail:
    """The last lines a child process printed, kept so a failed start can say why (its output is not shown
    otherwise: moto's always, a worker's only as it scrolls by)."""

    def __init__(self, lines: int = 20) -> None:
        self._lines: deque[str] = deque(maxlen=lines)
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def text(self) -> str:
        with self._lock:
            lines = list(self._lines)
        return "\n".join(f"  | {line}" for line in lines) if lines else "  (no output)"


def pump_output(stream: IO[bytes] | None, tail: OutputTail, console: Console, source: str) -> None:
    """Copy a child's output to the console line by line, prefixed with ``source``, keeping its tail."""
    if stream is None:
        return
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        tail.add(line)
        console.line(source, line)
    stream.close()


class ChildStartError(RuntimeError):
    """A child process (the moto server, a function worker) failed to start or died while starting."""

    def __init__(self, what: str, tail: OutputTail) -> None:
        super().__init__(f"{what}; its last output:\n{tail.text()}")


class ConsoleLogHandler(logging.Handler):
    """Routes the runner's own ``logging`` records (the SDK's, with ``--verbose``) through the console."""

    def __init__(self, console: Console, source: str = "sdk") -> None:
        super().__init__()
        self.console = console
        self.source = source
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.line(self.source, self.format(record))
        except Exception:
            self.handleError(record)
