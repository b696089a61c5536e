"""Synth-time checks that a handler string names a function Lambda can import and call.

A wrong handler deploys cleanly and fails only when the function is first invoked
(``Runtime.ImportModuleError`` or ``Runtime.HandlerNotFound``); checking while the app synthesizes moves
that failure to ``cdk synth``, next to the line that caused it. Two forms are checked:

* ``handler``: ``"package.module.function"``, what Lambda's Python runtime calls;
* ``process``: ``"package.module:function"``, what the shipped worker runtime imports.

Modules are read with :mod:`ast`, never imported: importing app code at synth time would run its side
effects and need its dependencies on the build machine. A module is looked up in the code's local folder and
in the runtime roots the library delivers itself. Only what can be known is reported: when a module is
missing there but could still arrive some other way (the app's own layers, a zip or S3 object), the check
stays silent rather than guess.

Why this module is longer than 500 lines: the form of the string, the lookup through the code folder and the
delivered runtimes, and the messages are one procedure read top to bottom; ``handler_source`` (the MCP tool
schemas) reuses that lookup rather than repeating it. How a module's source is read is in ``_module_names``.

Usage from a construct's validation::

    problems = Problems("ObservedFunction", id)
    add_to(problems, check_handler(handler, code, runtime=runtime, scope=self))
    problems.raise_if_any()
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Literal

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from lambda_manifest._module_names import BindingKind, Module, Unparsable, inline_module, module_file
from lambda_manifest._validation import Problems, is_token

__all__ = [
    "LIBRARY_RUNTIME",
    "HandlerForm",
    "HandlerProblem",
    "HandlerSource",
    "RuntimeRoot",
    "add_to",
    "check_handler",
    "code_directory",
    "handler_source",
]

HandlerForm = Literal["handler", "process"]


@dataclass(frozen=True)
class HandlerProblem:
    """Why a handler string cannot work, split the way :meth:`Problems.add` words a problem."""

    prop: str
    value: str
    expected: str
    found: str
    fix: str

    def __str__(self) -> str:
        return f"{self.prop} must be {self.expected}, got {self.value!r}; {self.found}; {self.fix}"


@dataclass(frozen=True)
class RuntimeRoot:
    """A folder whose modules reach Lambda beside the function's code, e.g. through a layer the library adds.

    ``packages`` limits the root to the dotted packages actually delivered from it: the folder holding the
    installed library also holds every other installed distribution, which Lambda never sees.
    """

    path: Path
    packages: tuple[str, ...] = ()

    def serves(self, module: str) -> bool:
        return not self.packages or any(module == p or module.startswith(p + ".") for p in self.packages)


# The shipped runtimes, found where the installed wheel (or a checkout) keeps ``lambda_manifest``.
LIBRARY_RUNTIME = RuntimeRoot(Path(__file__).resolve().parent.parent, packages=("lambda_manifest.runtime",))


def add_to(problems: Problems, problem: HandlerProblem | None) -> None:
    """Record ``problem`` (if any) on a construct's :class:`Problems`."""
    if problem is not None:
        problems.add(problem.prop, problem.expected, problem.value, f"{problem.found}; {problem.fix}")


def code_directory(code: lambda_.Code | None) -> Path | None:
    """The local folder behind ``Code.from_asset(folder)`` as an absolute path; None for any other code.

    A relative asset path is taken from the current directory, as the CDK does when it stages the asset.
    """
    if not isinstance(code, lambda_.AssetCode):
        return None
    folder = Path(code.path).absolute()
    return folder if folder.is_dir() else None


def check_handler(
    value: str,
    code: lambda_.Code | None,
    *,
    prop: str = "handler",
    form: HandlerForm = "handler",
    runtime: lambda_.Runtime | None = None,
    runtime_roots: Sequence[Path | RuntimeRoot] = (),
    opaque_layers: bool = False,
    scope: Construct | None = None,
) -> HandlerProblem | None:
    """The first reason ``value`` cannot run with ``code``, or None when it can (or cannot be known).

    ``runtime`` is the function's runtime: non-Python runtimes are not checked, and a module that does not
    parse is reported only when this interpreter is at least as new as the runtime (newer syntax would look
    like an error here). None means a Python runtime of this interpreter's version.
    ``runtime_roots`` are folders delivered beside the code (a plain path serves any module).
    ``opaque_layers`` says the function has layers of the app's own: a module missing from the code may
    come from them, so only the form and the modules that are found are checked.
    ``scope`` is any construct; with it, inline code's source is read (binding inline code adds nothing
    to the tree).
    """
    if is_token(value) or _is_image(code, value):
        return None
    if runtime is not None and not _runtime_facts(runtime)[0]:
        return None
    parsed = _parse(value, form)
    if isinstance(parsed, _Unusable):
        return HandlerProblem(prop, value, _EXPECTED[form], parsed.found, parsed.fix)
    search = _Search.of(code, runtime_roots, scope)
    return _check_target(parsed, search, prop=prop, value=value, opaque_layers=opaque_layers,
                         trust_syntax=_host_reads(runtime))


@dataclass(frozen=True)
class HandlerSource:
    """The module a handler string names, as found at synth: where, its source and the function's name."""

    label: str
    source: bytes
    function: str
    folder: Path | None  # the code folder it was found in (None: inline code)


def handler_source(value: str, code: lambda_.Code | None, *, scope: Construct | None = None) -> HandlerSource | None:
    """The source of the module ``value`` (``module.function``) names in ``code``, looked up as
    :func:`check_handler` looks it up; None when it cannot be read here (no local folder, a compiled module)."""
    if is_token(value):
        return None
    parsed = _parse(value, "handler")
    if isinstance(parsed, _Unusable):
        return None
    search = _Search.of(code, (), scope)
    found = search.find(parsed)
    if not isinstance(found, _Found):
        return None
    if found.path is None:
        if search.inline is None or parsed.module != (_INLINE_MODULE,):
            return None
        return HandlerSource(found.label, search.inline.encode(), parsed.attribute[0], None)
    try:
        source = found.path.read_bytes()
    except OSError:
        return None
    return HandlerSource(found.label, source, parsed.attribute[0], search.folder)


# --------------------------------------------------------------------------------------------------
# The form of the string
# --------------------------------------------------------------------------------------------------

_EXPECTED: dict[HandlerForm, str] = {
    "handler": "'module.function' with dots (e.g. 'app.handler.main')",
    "process": "'package.module:function' (e.g. 'orders.worker:process')",
}
_EXAMPLE: dict[HandlerForm, str] = {"handler": "app.handler.main", "process": "orders.worker:process"}
_PY_SUFFIX = re.compile(r"\.py(?=$|[.:])")


@dataclass(frozen=True)
class _Target:
    form: HandlerForm
    module: tuple[str, ...]
    # More than one part only for process=: the worker runtime follows ``module:obj.attr`` with getattr.
    attribute: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.module) + ("." if self.form == "handler" else ":") + ".".join(self.attribute)

    def with_module_part(self, index: int, name: str) -> _Target:
        return replace(self, module=(*self.module[:index], name, *self.module[index + 1:]))

    def with_function(self, name: str) -> _Target:
        return replace(self, attribute=(name, *self.attribute[1:]))


@dataclass(frozen=True)
class _Unusable:
    found: str
    fix: str


def _parse(value: str, form: HandlerForm) -> _Target | _Unusable:
    generic = f"name the module and the function, e.g. {_EXAMPLE[form]!r}"
    if not value.strip():
        return _Unusable("it is empty", generic)
    if any(c.isspace() for c in value):
        return _Unusable("it contains whitespace", _use(_normalized(value, form), form, generic))
    slashes, suffix = "/" in value or "\\" in value, bool(_PY_SUFFIX.search(value))
    if slashes or suffix:
        what = " and ".join(w for w, on in (("slashes", slashes), ("a .py suffix", suffix)) if on)
        found = f"it is a file path ({what}), not a module path"
        if value.endswith(".py"):
            function = "<function>" if form == "handler" else ":<function>"
            sep = "." if form == "handler" else ""
            return _Unusable(found, f"use {_normalized(value, form) + sep + function!r} (dots, no .py), "
                                    "naming the function to call")
        return _Unusable(found, _use(_normalized(value, form), form, generic, note=" (dots, no .py)"))
    if form == "handler":
        if ":" in value:
            return _Unusable("it has a ':', which is the process= form",
                             "Lambda's handler setting uses dots only: "
                             + _use(_normalized(value, form), form, generic))
        module, _, function = value.rpartition(".")
        attribute: tuple[str, ...] = (function,)
    else:
        if ":" not in value:
            found = "it has no ':' between the module and the function"
            if "." not in value:
                return _Unusable(found, generic)
            return _Unusable(found, "the worker runtime imports 'module:function': "
                                    + _use(_normalized(value, form), form, generic))
        if value.count(":") > 1:
            return _Unusable("it has more than one ':'", generic)
        module, _, function = value.partition(":")
        attribute = tuple(function.split("."))
    if not module:
        return _Unusable("it names no module", generic)
    parts = tuple(module.split("."))
    for part in (*parts, *attribute):
        if not part:
            return _Unusable("it has an empty name between separators", generic)
        if not part.isidentifier():
            fixed = re.sub(r"\W", "_", part)
            fixed = fixed if fixed.isidentifier() else f"_{fixed}"
            return _Unusable(f"{part!r} is not a Python identifier",
                             f"rename it to {fixed!r}: modules and functions are imported by name")
    return _Target(form, parts, attribute)


def _normalized(value: str, form: HandlerForm) -> str:
    """``value`` rewritten in ``form``: the fix offered when only the spelling is wrong."""
    text = _PY_SUFFIX.sub("", "".join(value.split())).replace("\\", "/").replace("/", ".").strip(".")
    if form == "handler":
        return text.replace(":", ".")
    if ":" not in text and "." in text:
        module, _, function = text.rpartition(".")
        return f"{module}:{function}"
    return text


def _use(candidate: str, form: HandlerForm, fallback: str, *, note: str = "") -> str:
    return f"use {candidate!r}{note}" if isinstance(_parse(candidate, form), _Target) else fallback


# --------------------------------------------------------------------------------------------------
# Where the module is
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    label: str
    # None for a module that exists but cannot be read (a compiled extension, a sourceless .pyc).
    module: Module | Unparsable | None
    path: Path | None = None  # the source file (None: inline code, or nothing readable)


@dataclass(frozen=True)
class _Missing:
    depth: int  # how many module parts matched before the miss
    folder: Path
    wanted: str  # as listed: "jobs/" for a package, "worker.py" for a module
    names: tuple[str, ...]  # module names a close match is picked from
    shown: tuple[str, ...]  # what the folder holds, as listed


@dataclass(frozen=True)
class _Search:
    folder: Path | None
    inline: str | None
    is_inline: bool
    roots: tuple[RuntimeRoot, ...]

    @classmethod
    def of(cls, code: lambda_.Code | None, roots: Iterable[Path | RuntimeRoot], scope: Construct | None) -> _Search:
        inline = None
        is_inline = isinstance(code, lambda_.InlineCode)
        if is_inline and scope is not None and code is not None:
            source = code.bind(scope).inline_code
            inline = None if source is None or cdk.Token.is_unresolved(source) else source
        return cls(
            folder=code_directory(code),
            inline=inline,
            is_inline=is_inline,
            roots=tuple(r if isinstance(r, RuntimeRoot) else RuntimeRoot(Path(r)) for r in roots),
        )

    def find(self, target: _Target) -> _Found | _Missing | None:
        """The module, or the miss that got furthest, or None when nowhere local can hold it."""
        dotted = ".".join(target.module)
        if self.is_inline and target.module == (_INLINE_MODULE,):
            return _Found("inline index.py", None if self.inline is None else inline_module(self.inline))
        folders = [] if self.folder is None else [self.folder]
        folders += [r.path.absolute() for r in self.roots if r.serves(dotted) and r.path.is_dir()]
        misses: list[_Missing] = []
        for folder in folders:
            result = _find_module(folder, target.module)
            if isinstance(result, _Found):
                return result
            misses.append(result)
        return max(misses, key=lambda m: m.depth) if misses else None


_INLINE_MODULE = "index"  # Lambda saves inline Python code as index.py


def _find_module(root: Path, parts: tuple[str, ...]) -> _Found | _Missing:
    # Python's own order: a package with __init__, then a module file, then a bare folder (a namespace
    # package, which imports but defines nothing). Names are matched exactly, as on Lambda's file system.
    folder = root
    for depth, part in enumerate(parts[:-1]):
        dirs, _ = _entries(folder)
        if part not in dirs:
            return _Missing(depth, folder, f"{part}/", tuple(sorted(dirs)), tuple(f"{d}/" for d in sorted(dirs)))
        folder = folder / part
    leaf = parts[-1]
    dirs, files = _entries(folder)
    if leaf in dirs and "__init__.py" in _entries(folder / leaf)[1]:
        path = folder / leaf / "__init__.py"
        return _Found(_show(path), module_file(path), path)
    if f"{leaf}.py" in files:
        path = folder / f"{leaf}.py"
        return _Found(_show(path), module_file(path), path)
    if any(_is_compiled(name, leaf) for name in files):
        return _Found(_show(folder / leaf), None)
    if leaf in dirs:
        return _Found(f"{_show(folder / leaf, folder=True)} (a folder without __init__.py)", Module({}, False))
    modules = sorted({f[:-3] for f in files if f.endswith(".py") and f[:-3].isidentifier()} - {"__init__"})
    listed = sorted([f"{m}.py" for m in modules] + [f"{d}/" for d in dirs])
    return _Missing(len(parts) - 1, folder, f"{leaf}.py", tuple(sorted({*modules, *dirs})), tuple(listed))


def _entries(folder: Path) -> tuple[frozenset[str], frozenset[str]]:
    """The importable sub-folders and all file names of ``folder``; one listing, never a walk."""
    dirs, files = set(), set()
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.is_dir():
                    if entry.name.isidentifier() and entry.name != "__pycache__":
                        dirs.add(entry.name)
                else:
                    files.add(entry.name)
    except OSError:
        pass
    return frozenset(dirs), frozenset(files)


def _is_compiled(name: str, module: str) -> bool:
    return name == f"{module}.pyc" or (name.startswith(f"{module}.") and name.endswith(".so"))


def _show(path: Path, *, folder: bool = False) -> str:
    try:
        text = path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        text = path.as_posix()
    return (text.rstrip("/") + "/" if text != "." else "./") if folder else text


# --------------------------------------------------------------------------------------------------
# What the module defines
# --------------------------------------------------------------------------------------------------

def _host_reads(runtime: lambda_.Runtime | None) -> bool:
    """Whether this interpreter parses everything ``runtime`` does, so its SyntaxError is the runtime's."""
    version = re.fullmatch(r"python(\d+)\.(\d+)", _runtime_facts(runtime)[1]) if runtime is not None else None
    return version is None or sys.version_info[:2] >= (int(version[1]), int(version[2]))


# --------------------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------------------


def _check_target(
    target: _Target, search: _Search, *, prop: str, value: str, opaque_layers: bool, trust_syntax: bool
) -> HandlerProblem | None:
    def problem(expected: str, found: str, fix: str) -> HandlerProblem:
        return HandlerProblem(prop, value, expected, found, fix)

    located = search.find(target)
    if not isinstance(located, _Found):
        if opaque_layers:
            return None
        if search.is_inline:
            inline = replace(target, module=(_INLINE_MODULE,))
            return problem(f"{_INLINE_MODULE!r} as its module with inline code", "inline code is saved as index.py",
                           f"use {str(inline)!r}, or give the code as a folder asset")
        if located is None or search.folder is None:
            return None  # S3, zip or no code: the module may well be there
        suggestion = _repair(target, search, trust_syntax)
        where = _show(located.folder, folder=True)
        found = f"{where} has no {located.wanted} ({_listing(located.shown, located.wanted)})"
        if suggestion is not None:
            return problem("a module in the function's code", found, f"did you mean {str(suggestion)!r}?")
        return problem("a module in the function's code", found,
                       f"add {where}{located.wanted}, or name a module the code holds")

    module = located.module
    if module is None:
        return None
    if isinstance(module, Unparsable):
        if trust_syntax:
            at = f"{located.label}:{module.line}" if module.line is not None else located.label
            return problem("a module Python can parse", f"{at}: {module.message}",
                           "fix the module: Lambda would fail to import it on the first invocation")
        module = module.scanned
    name = target.attribute[0]
    binding = module.names.get(name)
    if binding is None:
        if module.open_ended:
            return None
        defined = _candidates(module)
        listing = _listing(defined, name, label="it defines") if defined else "it defines no functions"
        found = f"{located.label} defines no {name!r} at the top level ({listing})"
        suggestion = _repair(target, search, trust_syntax)
        if suggestion is not None:
            return problem("a function defined at the top level of its module", found,
                           f"did you mean {str(suggestion)!r}?")
        return problem("a function defined at the top level of its module", found,
                       f"define {name!r} in {located.label}, or name a function it defines")
    if binding.kind == "async def" and len(target.attribute) == 1:
        caller, params = (
            ("Lambda's Python runtime calls the handler", "event, context") if target.form == "handler"
            else ("the worker runtime calls process", "record")
        )
        return problem(
            "a plain def function, not async def",
            f"{located.label}:{binding.line} defines {name!r} with async def",
            f"{caller} without awaiting it, so the coroutine would never run; point {prop} at a plain def "
            f"that runs it, e.g. def {name}_sync({params}): return asyncio.run({name}({params}))",
        )
    return None


def _repair(target: _Target, search: _Search, trust_syntax: bool) -> _Target | None:
    """The nearest string that resolves, fixing one misspelt part at a time; None without a close match."""
    current = target
    for _ in range(len(target.module) + 1):
        located = search.find(current)
        if isinstance(located, _Missing):
            match = _closest(_stem(located.wanted), located.names)
            if match is None:
                break
            current = current.with_module_part(located.depth, match)
            continue
        if isinstance(located, _Found) and located.module is not None:
            module = located.module
            if isinstance(module, Unparsable):
                module = module.scanned
            if current.attribute[0] not in module.names:
                match = _closest(current.attribute[0], _candidates(module))
                if match is not None:
                    current = current.with_function(match)
        break
    return current if current != target else None


# Functions first when listing what a module defines: imported helpers (typing names and the like) are
# rarely what a handler meant.
_LISTING_ORDER: dict[BindingKind, int] = {
    "def": 0, "async def": 0, "assignment": 1, "class": 2, "import": 3, "module": 4,
}


def _candidates(module: Module) -> list[str]:
    named = [(n, b) for n, b in module.names.items() if b.kind != "module" and not n.startswith("__")]
    return [n for n, b in sorted(named, key=lambda item: (_LISTING_ORDER[item[1].kind], item[0]))]


def _closest(word: str, names: Iterable[str]) -> str | None:
    names = list(names)
    same_case = [n for n in names if n.lower() == word.lower()]
    if same_case:
        return same_case[0]
    matches = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _listing(items: Sequence[str], wanted: str, *, label: str = "found", limit: int = 6) -> str:
    if not items:
        return "the folder is empty"
    # Compared without ".py" and "/": the shared suffix alone would make every file look close.
    stems = {_stem(i): i for i in items}
    close = [stems[s] for s in difflib.get_close_matches(_stem(wanted), stems, n=limit, cutoff=0.6)]
    ordered = close + [i for i in items if i not in close]
    shown = ", ".join(ordered[:limit])
    more = len(ordered) - limit
    return f"{label}: {shown}" + (f", and {more} more" if more > 0 else "")


def _stem(entry: str) -> str:
    return entry.rstrip("/").removesuffix(".py")


def _is_image(code: lambda_.Code | None, value: str) -> bool:
    return value == _from_image() or isinstance(code, lambda_.EcrImageCode | lambda_.AssetImageCode)


@cache
def _from_image() -> str:
    return str(lambda_.Handler.FROM_IMAGE)


# (is Python, name) per runtime object: both are jsii reads, and every function of a stack asks.
_RUNTIMES: dict[int, tuple[lambda_.Runtime, bool, str]] = {}


def _runtime_facts(runtime: lambda_.Runtime) -> tuple[bool, str]:
    known = _RUNTIMES.get(id(runtime))
    if known is None or known[0] is not runtime:
        known = _RUNTIMES[id(runtime)] = (runtime, runtime.family == lambda_.RuntimeFamily.PYTHON, runtime.name)
    return known[1], known[2]

