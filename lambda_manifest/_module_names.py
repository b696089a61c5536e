"""The names a Python module defines at its top level, read with :mod:`ast` and never imported.

What the handler checks (``_handlers``) ask of a module: does it define this function, and how (``def``,
``async def``, a class, an assignment, an import). A module that does not parse (syntax newer than this
interpreter, say) is scanned line by line instead, and its answer is then open-ended.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

BindingKind = Literal["def", "async def", "class", "assignment", "import", "module"]


@dataclass(frozen=True)
class Binding:
    kind: BindingKind
    line: int


@dataclass(frozen=True)
class Module:
    names: Mapping[str, Binding]
    # A star import or a module-level __getattr__: any name may exist at run time.
    open_ended: bool


@dataclass(frozen=True)
class Unparsable:
    line: int | None
    message: str
    # What a line scan finds, for when the failure may be syntax newer than this interpreter.
    scanned: Module = field(compare=False)


# Parsed modules by path, kept while the file's mtime and size stay the same: a stack with many functions
# on one folder reads each handler module once.
_PARSED: dict[Path, tuple[tuple[int, int], Module | Unparsable]] = {}


def module_file(path: Path) -> Module | Unparsable | None:
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _PARSED.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        source = path.read_bytes()
    except OSError:
        return None
    result = _read_module(source)
    _PARSED[path] = (stamp, result)
    return result


@lru_cache(maxsize=64)
def inline_module(source: str) -> Module | Unparsable:
    return _read_module(source.encode())


def _read_module(source: bytes) -> Module | Unparsable:
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return Unparsable(error.lineno, error.msg, _scan(source))
    except (ValueError, RecursionError) as error:  # null bytes, undecodable text, absurd nesting
        return Unparsable(None, str(error), _scan(source))
    names: dict[str, Binding] = {}
    return Module(names, _collect(tree.body, names))


def _collect(body: Sequence[ast.stmt], names: dict[str, Binding]) -> bool:
    """Bind the names ``body`` defines at module level, in order; True when any name may exist."""
    open_ended = False
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            kind: BindingKind = (
                "async def" if isinstance(node, ast.AsyncFunctionDef)
                else "class" if isinstance(node, ast.ClassDef) else "def"
            )
            names[node.name] = Binding(kind, node.lineno)
            open_ended |= node.name == "__getattr__"
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                _bind_target(target, node.lineno, names)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            _bind_target(node.target, node.lineno, names)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    open_ended = True
                else:
                    names[alias.asname or alias.name] = Binding("import", node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = Binding("module", node.lineno)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.pop(target.id, None)
        elif isinstance(node, ast.If):
            # A __main__ block never runs when Lambda imports the module.
            if not _is_main_guard(node.test):
                open_ended |= _collect(node.body, names)
            open_ended |= _collect(node.orelse, names)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                open_ended |= _collect(block, names)
        elif isinstance(node, ast.With | ast.AsyncWith):
            open_ended |= _collect(node.body, names)
    return open_ended


def _bind_target(target: ast.expr, line: int, names: dict[str, Binding]) -> None:
    if isinstance(target, ast.Name):
        names[target.id] = Binding("assignment", line)
    elif isinstance(target, ast.Tuple | ast.List):
        for item in target.elts:
            _bind_target(item.value if isinstance(item, ast.Starred) else item, line, names)


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


_SCAN_DEF = re.compile(rb"^(async[ \t]+)?(def|class)[ \t]+([A-Za-z_]\w*)", re.M)
_SCAN_ASSIGN = re.compile(rb"^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)", re.M)
_SCAN_FROM = re.compile(rb"^from[ \t]+[\w.]+[ \t]+import[ \t]+\(?([\w \t,]+)", re.M)


def _scan(source: bytes) -> Module:
    """Top-level names found line by line; open-ended, as it misses anything indented."""
    names: dict[str, Binding] = {}

    def line(offset: int) -> int:
        return source.count(b"\n", 0, offset) + 1

    for match in _SCAN_DEF.finditer(source):
        kind: BindingKind = "async def" if match[1] else "class" if match[2] == b"class" else "def"
        names[match[3].decode()] = Binding(kind, line(match.start()))
    for match in _SCAN_ASSIGN.finditer(source):
        names[match[1].decode()] = Binding("assignment", line(match.start()))
    for match in _SCAN_FROM.finditer(source):
        for item in match[1].decode().split(","):
            words = item.split()
            if words:
                names[words[-1]] = Binding("import", line(match.start()))
    return Module(names, True)
