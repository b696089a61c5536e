"""How the library's runtime code reaches a Lambda function, next to the app's own code.

The runtimes (``lambda_manifest.runtime.<kind>``) are delivered in one of two ways, chosen per function:

* A function that runs only library code (the authorizer, the AI gateway) gets an asset holding just that
  runtime: ``lambda_manifest/__init__.py``, ``lambda_manifest/runtime/__init__.py``, the runtimes' shared
  ``lambda_manifest/runtime/aws.py`` and the runtime's folder.
* A function that runs the app's code (``code=Code.from_asset("src")``) keeps that asset untouched and gets
  each runtime it uses as a layer, one ``LayerVersion`` per runtime and stack. Lambda puts layers under
  ``/opt/python``, after ``/var/task`` on ``sys.path``, so ``lambda_manifest.runtime.worker`` imports the
  same way in AWS, in the local runner and in the app's tests (where the wheel provides it). App code that
  imports only the shared ``lambda_manifest.runtime.aws`` gets a layer with just those helpers.

Why a layer for app code rather than copying the runtime into the app's asset: the app's ``Code`` may be any
kind (a folder with its own excludes, a zip, an S3 object, inline code) and its hash then changes only when
the app's code does; the runtime is uploaded once per stack however many functions use it.

Which runtimes a function uses is read from its handler string and, for a local folder asset, from the
``lambda_manifest.runtime.*`` imports reachable from its entry modules (read with ``ast``, never imported).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from lambda_manifest import _bytecode

# Files that never belong in a Lambda deployment package.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache"]

PACKAGE_DIR = Path(__file__).resolve().parent
RUNTIME_DIR = PACKAGE_DIR / "runtime"
# The folder that holds the ``lambda_manifest`` package: where a module of a delivered runtime is found.
RUNTIME_ROOT = PACKAGE_DIR.parent
LIBRARY_PACKAGE = "lambda_manifest"
RUNTIME_PACKAGE = f"{LIBRARY_PACKAGE}.runtime"
RUNTIME_KINDS = ("authorizer", "gateway", "http", "mcp", "stream", "worker")
# App code that imports only the runtimes' shared AWS helpers (``lambda_manifest.runtime.aws``) still needs them
# in Lambda: they come as a layer of their own, which every runtime's layer makes redundant.
SHARED_KIND = "aws"
LAYER_KINDS = (*RUNTIME_KINDS, SHARED_KIND)
# What every runtime's asset and layer holds besides its own folder: the package and the AWS helpers they share.
RUNTIME_SHARED = (RUNTIME_DIR / "__init__.py", RUNTIME_DIR / "aws.py")
# Runtimes another runtime's own asset carries along: the gateway streams through the stream runtime; the MCP
# gateway authenticates with the AI gateway's virtual keys (its auth, store and transport modules).
RUNTIME_COMPANIONS = {"gateway": ("stream",), "mcp": ("gateway",)}
# The exec wrapper that starts the stream runtime's loop (lambda_manifest/runtime/stream/wrapper), as Lambda sees
# it in a function's own code and in the stream runtime's layer.
STREAM_WRAPPER = "lambda_manifest/runtime/stream/wrapper"
STREAM_WRAPPER_IN_CODE = f"/var/task/{STREAM_WRAPPER}"
STREAM_WRAPPER_IN_LAYER = f"/opt/python/{STREAM_WRAPPER}"
EXEC_WRAPPER_ENV = "AWS_LAMBDA_EXEC_WRAPPER"

_SKIP_DIRS = {"__pycache__", ".git", ".venv", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
STAGING = Path(tempfile.gettempdir()) / "lambda-manifest-assets"


def runtime_of_handler(handler: str) -> str | None:
    """The runtime kind a handler string points into, e.g. ``worker`` for the worker's entry point."""
    prefix = RUNTIME_PACKAGE + "."
    if not handler.startswith(prefix):
        return None
    kind = handler[len(prefix):].split(".", 1)[0]
    return kind if kind in RUNTIME_KINDS else None


def code_directory(code: lambda_.Code | None) -> Path | None:
    """The local folder behind ``Code.from_asset(folder)``; None for any other kind of code."""
    path = getattr(code, "path", None) if isinstance(code, lambda_.AssetCode) else None
    if not isinstance(path, str):
        return None
    folder = Path(path).resolve()
    return folder if folder.is_dir() else None


def runtimes_imported(folder: Path, entry_modules: Iterable[str]) -> set[str]:
    """The runtime kinds reachable by imports from ``entry_modules`` (dotted names) inside ``folder``.

    Imports are followed through the folder's own modules with ``ast``, so a docstring that names a runtime
    or an example app beside this one in the same folder adds nothing. A module that imports dynamically
    (``importlib.import_module``, ``__import__``) makes the whole folder count, since where it leads cannot
    be read. The library's own package ``__init__`` is the exception: it imports the constructs lazily (never
    a runtime, and nothing in Lambda asks for a construct), so it is not followed.
    """
    kinds: set[str] = set()
    seen: set[str] = {LIBRARY_PACKAGE}
    pending = [m for m in entry_modules if m]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(folder, module)
        if path is None:
            continue
        imported, dynamic = _imports(path, path.stat().st_mtime_ns, _is_package(path), module)
        if dynamic:
            return kinds | _all_imported(folder)
        for name in imported:
            kind = _runtime_kind(name)
            if kind is not None:
                kinds.add(kind)
            else:
                pending.extend(_prefixes(name))
    return kinds


def _module_file(folder: Path, module: str) -> Path | None:
    base = folder.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _prefixes(name: str) -> list[str]:
    # ``import a.b.c`` runs a/__init__.py and a/b/__init__.py too.
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _runtime_kind(name: str) -> str | None:
    prefix = RUNTIME_PACKAGE + "."
    if name.startswith(prefix):
        kind = name[len(prefix):].split(".", 1)[0]
        return kind if kind in LAYER_KINDS else None
    return None


def without_redundant_shared(kinds: set[str]) -> set[str]:
    """``kinds`` without the shared helpers' layer when a runtime's layer (which holds them too) is there."""
    return kinds - {SHARED_KIND} if kinds - {SHARED_KIND} else kinds


@functools.lru_cache(maxsize=1024)
def _imports(path: Path, mtime_ns: int, package: bool, module: str) -> tuple[frozenset[str], bool]:
    """The absolute module names ``path`` imports, and whether it imports dynamically. Cached per mtime."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return frozenset(), False  # the handler check reports unparsable files
    here = module.split(".") if package else module.split(".")[:-1]
    names: set[str] = set()
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = here[: len(here) - node.level + 1] if node.level <= len(here) + 1 else []
                base = ".".join([*anchor, *( [node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            dynamic = dynamic or called in ("import_module", "__import__")
    return frozenset(names), dynamic


def _all_imported(folder: Path) -> set[str]:
    kinds: set[str] = set()
    for path in _python_files(folder):
        rel = path.relative_to(folder).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        imported, _ = _imports(path, path.stat().st_mtime_ns, _is_package(path), ".".join(parts))
        kinds.update(k for k in map(_runtime_kind, imported) if k is not None)
    return kinds


def _python_files(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".dist-info")]
        for name in files:
            if name.endswith(".py"):
                yield Path(root, name)


def runtime_code(kind: str) -> lambda_.Code:
    """An asset holding only the ``kind`` runtime, for a function that runs nothing else."""
    return lambda_.Code.from_asset(str(stage_runtime(kind)))


def stage_runtime(kind: str) -> Path:
    """A folder laid out as a function's code root with only the ``kind`` runtime in it."""
    return _stage(kind, layer=False)


def stage_runtime_with(kind: str, name: str, text: str) -> Path:
    """The ``kind`` runtime's code folder plus one file (the gateway's configuration document), staged once
    per content like the runtime itself, so repeated synths reuse one folder instead of leaving one each."""
    base = stage_runtime(kind)
    digest = hashlib.sha256(f"{base.name}\0{name}\0{text}".encode()).hexdigest()[:20]

    def fill(work: Path) -> None:
        shutil.copytree(base, work, dirs_exist_ok=True)
        (work / name).write_text(text, encoding="utf-8")

    return _staged(f"{kind}-code-with-{digest}", fill)


def delivered_runtimes(folder: Path) -> set[str]:
    """The runtimes a code folder already holds (a runtime's own asset), which need no layer."""
    runtime = folder / "lambda_manifest" / "runtime"
    held = {kind for kind in RUNTIME_KINDS if (runtime / kind).is_dir()}
    return held | {SHARED_KIND} if (runtime / "aws.py").is_file() else held


def runtime_layer(scope: Construct, kind: str) -> lambda_.ILayerVersion:
    """The stack's layer for the ``kind`` runtime, created on first use."""
    stack = cdk.Stack.of(scope)
    id = f"LambdaManifestRuntime{kind.capitalize()}"
    existing = stack.node.try_find_child(id)
    if isinstance(existing, lambda_.LayerVersion):
        return existing
    from lambda_manifest import __version__

    what = "the runtimes' shared AWS helpers" if kind == SHARED_KIND else f"the {kind} runtime"
    return lambda_.LayerVersion(
        stack,
        id,
        code=lambda_.Code.from_asset(str(_stage(kind, layer=True))),
        description=f"lambda-manifest {__version__}: {what} (lambda_manifest.runtime.{kind})",
        compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
        compatible_architectures=[lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64],
    )


def _stage(kind: str, *, layer: bool) -> Path:
    """A folder laid out the way Lambda reads it, named by a hash of its content so that staging twice
    (or from several processes) lands in the same place."""
    if kind not in LAYER_KINDS:
        raise ValueError(f"unknown runtime {kind!r}; one of {', '.join(LAYER_KINDS)}")
    folders = () if kind == SHARED_KIND else (kind, *RUNTIME_COMPANIONS.get(kind, ()))
    files = sorted(
        p for k in folders for p in (RUNTIME_DIR / k).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    sources = [PACKAGE_DIR / "__init__.py", *RUNTIME_SHARED, *files]
    digest = hashlib.sha256(_bytecode.tag().encode())
    for path in sources:
        digest.update(str(path.relative_to(RUNTIME_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")

    def fill(work: Path) -> None:
        base = work / "python" if layer else work
        for path in sources:
            destination = base / path.relative_to(RUNTIME_ROOT)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            if path.name == "wrapper":
                # Lambda executes the exec wrapper: it must be executable in the asset whatever the installed
                # wheel's file modes were (the CDK CLI zips assets with each file's mode).
                destination.chmod(0o755)
        _bytecode.compile_tree(base)

    return _staged(f"{kind}-{'layer' if layer else 'code'}-{digest.hexdigest()[:20]}", fill)


def python_code(path: str | os.PathLike[str], *, exclude: Sequence[str] | None = None) -> lambda_.Code:
    """``Code.from_asset(path, exclude=...)`` with bytecode for the ``python3.14`` runtime added.

    The folder is copied (CDK's own copy, so ``exclude`` means what it means for ``Code.from_asset``),
    ``__pycache__`` folders and ``.pyc`` files are left out, and the copy gets a ``.pyc`` for each module,
    compiled by Python 3.14 (see ``lambda_manifest._bytecode``). The copy is named after a fingerprint of
    the sources, so an unchanged folder is staged once; the asset hash then covers sources and bytecode.
    Without a Python 3.14 the asset holds the sources only, and synth warns once.
    """
    source = Path(path).resolve()
    if not source.is_dir():
        raise ValueError(f"python_code: {str(path)!r} is not a folder; pass the folder that holds your handlers")
    options = cdk.CopyOptions(exclude=[*(exclude or []), *ASSET_EXCLUDES])
    fingerprint = cdk.FileSystem.fingerprint(str(source), exclude=options.exclude)
    key = hashlib.sha256(f"{fingerprint}\0{_bytecode.tag()}".encode()).hexdigest()[:20]

    def fill(work: Path) -> None:
        cdk.FileSystem.copy_directory(str(source), str(work), options)
        _bytecode.compile_tree(work)

    return lambda_.Code.from_asset(str(_staged(f"code-{key}", fill)))


def _staged(name: str, fill: Callable[[Path], None]) -> Path:
    """``STAGING/name``, filled by ``fill`` the first time: ``name`` carries a hash of the content, so a folder
    that exists is complete (it is filled in a temporary folder and renamed into place)."""
    target = STAGING / name
    if target.is_dir():
        return target
    work = Path(tempfile.mkdtemp(prefix=name.split("-", 1)[0] + "-", dir=_ensure(STAGING)))
    fill(work)
    try:
        work.rename(target)
    except OSError:  # another process staged the same content first
        shutil.rmtree(work, ignore_errors=True)
    return target


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
