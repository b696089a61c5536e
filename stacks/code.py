"""The example stacks' handler code: one asset per example app, cut from ``lambda_src``.

Each asset holds only its own app's package (``lambda_src/<app>/``), so a change to one example never
redeploys another's functions. The library's runtimes are not here: the constructs add them as layers.
Each asset carries bytecode for the python3.14 runtime (``python_code``), so a cold start loads instead of
compiling.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

from lambda_manifest import python_code

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"


def app_code(package: str) -> lambda_.Code:
    """``lambda_src`` with only ``package`` in it, plus its bytecode."""
    if not (LAMBDA_SRC / package / "__init__.py").is_file():
        raise FileNotFoundError(f"no example package {package!r} in {LAMBDA_SRC}")
    return python_code(LAMBDA_SRC, exclude=["*", f"!{package}", f"!{package}/**"])
