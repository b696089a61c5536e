"""Shipped bytecode: compiled by Python 3.14, unchecked-hash, reproducible, loaded by the runtime, optional.

Tests that need a Python 3.14 skip without one (``make test`` provides it as ``LM_PYTHON3_14`` whenever the
3.14 lane runs, and says when it does not).
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_manifest import _assets, _bytecode

needs_314 = pytest.mark.skipif(_bytecode.compiler() is None, reason="no Python 3.14 (set LM_PYTHON3_14)")
ORIGINAL_COMPILER = (_bytecode.compiler() or ("", ""))[0]

SOURCE = {
    "app/__init__.py": "",
    "app/handler.py": (
        "from app.util import ALLOWED\n\n"
        "def main(event, context):\n"
        "    if event.get('kind') not in ALLOWED:\n"
        "        raise ValueError('unknown kind')\n"
        "    return {'ok': True}\n"
    ),
    # A frozenset constant: written in hash order, so only a fixed hash seed makes it reproducible.
    "app/util.py": "ALLOWED = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}\n\ndef kinds():\n    return 'x' in {'x', 'y', 'z'}\n",
}


def write_tree(root: Path) -> Path:
    for name, text in SOURCE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def pyc_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.pyc"))}


@pytest.fixture
def no_compiler(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(_bytecode.ENV_PYTHON, "/nonexistent/python3.14")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(_bytecode, "_warned", False)
    _bytecode.compiler.cache_clear()
    yield
    _bytecode.compiler.cache_clear()


@needs_314
def test_every_module_gets_an_unchecked_hash_pyc_for_3_14(tmp_path: Path) -> None:
    root = write_tree(tmp_path)
    assert _bytecode.compile_tree(root) is True
    files = pyc_files(root)
    assert set(files) == {f"app/__pycache__/{n}.cpython-314.pyc" for n in ("__init__", "handler", "util")}
    for data in files.values():
        # PEP 552 header: flags bit 0 = hash-based, bit 1 = check_source; unchecked-hash is 0b01.
        assert int.from_bytes(data[4:8], "little") == 0b01


@needs_314
def test_bytecode_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    first = write_tree(tmp_path / "one")
    second = write_tree(tmp_path / "elsewhere" / "two")
    (second / "app" / "extra.py").write_text("X = {'p', 'q'}\n")  # another file set around the same modules
    _bytecode.compile_tree(first)
    _bytecode.compile_tree(second)
    a, b = pyc_files(first), pyc_files(second)
    assert a == {name: data for name, data in b.items() if "extra" not in name}


@needs_314
def test_the_runtime_loads_the_bytecode_and_tracebacks_name_the_real_file(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "task")
    _bytecode.compile_tree(root)
    compiler = _bytecode.compiler()
    assert compiler is not None
    # -B and a read-only view: nothing may be written, as in /var/task.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [compiler[0], "-B", "-v", "-c", "import app.handler; app.handler.main({'kind': 'nope'}, None)"],
        cwd=root, env=env, capture_output=True, text=True,
    )
    assert f"code object from '{root}/app/__pycache__/handler.cpython-314.pyc'" in result.stderr
    assert f'File "{root}/app/handler.py", line 5, in main' in result.stderr
    assert "ValueError: unknown kind" in result.stderr


def test_without_a_3_14_synth_ships_sources_and_warns_once(tmp_path: Path, no_compiler: None) -> None:
    root = write_tree(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _bytecode.compile_tree(root) is False
        assert _bytecode.compile_tree(root) is False
    assert [w.category for w in caught] == [_bytecode.BytecodeWarning]
    assert "python3.14" in str(caught[0].message) and _bytecode.ENV_PYTHON in str(caught[0].message)
    assert pyc_files(root) == {}
    assert _bytecode.tag() == "source"


@needs_314
def test_python_code_stages_sources_with_bytecode_and_honours_excludes(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src")
    (src / "tests").mkdir()
    (src / "tests" / "test_x.py").write_text("def test(): pass\n")
    (src / "app" / "__pycache__").mkdir()
    (src / "app" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"stale")
    code = _assets.python_code(src, exclude=["tests"])
    staged = Path(_assets.code_directory(code) or "")
    assert staged.is_dir() and staged != src
    assert sorted(str(p.relative_to(staged)) for p in staged.rglob("*.py")) == sorted(SOURCE)
    assert set(pyc_files(staged)) == {f"app/__pycache__/{n}.cpython-314.pyc" for n in ("__init__", "handler", "util")}
    # Unchanged sources are staged once; an edit stages a new folder.
    assert _assets.code_directory(_assets.python_code(src, exclude=["tests"])) == staged
    (src / "app" / "util.py").write_text("ALLOWED = {'a'}\n")
    assert _assets.code_directory(_assets.python_code(src, exclude=["tests"])) != staged


@needs_314
def test_runtime_layers_and_runtime_assets_carry_bytecode() -> None:
    layer = _assets._stage("worker", layer=True)
    modules = sorted(layer.rglob("*.py"))
    assert modules and all(str(m.relative_to(layer)).startswith("python/lambda_manifest/") for m in modules)
    for module in modules:
        assert (module.parent / "__pycache__" / f"{module.stem}.cpython-314.pyc").is_file(), module
    asset = _assets.stage_runtime("authorizer")
    assert (asset / "lambda_manifest" / "runtime" / "authorizer" / "__pycache__" / "handler.cpython-314.pyc").is_file()


@needs_314
def test_staging_without_a_compiler_is_another_asset(no_compiler: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _bytecode.BytecodeWarning)
        plain = _assets._stage("worker", layer=True)
    assert not list(plain.rglob("*.pyc"))
    _bytecode.compiler.cache_clear()
    os.environ[_bytecode.ENV_PYTHON] = ORIGINAL_COMPILER
    assert _assets._stage("worker", layer=True) != plain
