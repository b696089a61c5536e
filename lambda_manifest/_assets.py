"""Where the library's own handler code lives, in a checkout and in an installed wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

# Files that never belong in a Lambda deployment package.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache"]


def lambda_src_dir() -> Path:
    """The ``lambda_src`` folder: beside the package in a checkout, in site-packages once installed."""
    spec = importlib.util.find_spec("lambda_src")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    here = Path(__file__).resolve().parent.parent / "lambda_src"
    if here.is_dir():
        return here
    raise FileNotFoundError(
        "lambda_src was not found next to lambda_manifest; reinstall the lambda-manifest wheel, which ships it"
    )


def library_code() -> lambda_.Code:
    """All of ``lambda_src`` as one asset: shared runtime modules travel with every handler that needs them,
    and identical content hashes to one upload however many functions use it."""
    return lambda_.Code.from_asset(str(lambda_src_dir()), exclude=ASSET_EXCLUDES)
