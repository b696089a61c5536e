"""The example stacks' handler code: one asset per example app, cut from ``lambda_src``.

Each asset holds only its own app's package (``lambda_src/<app>/``), so a change to one example never
redeploys another's functions. The library's runtimes are not here: the constructs add them as layers.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"


def app_code(package: str) -> lambda_.Code:
    """``lambda_src`` with only ``package`` (and no bytecode) in it."""
    if not (LAMBDA_SRC / package / "__init__.py").is_file():
        raise FileNotFoundError(f"no example package {package!r} in {LAMBDA_SRC}")
    return lambda_.Code.from_asset(
        str(LAMBDA_SRC),
        exclude=["*", f"!{package}", f"!{package}/**", "**/__pycache__", "**/*.pyc"],
    )
