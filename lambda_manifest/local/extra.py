"""What the local runner needs beyond the construct library: the ``local`` extra.

``pip install "lambda-manifest[local]"`` brings moto with its server part (the AWS services on loopback)
and AWS Lambda Powertools (handlers that use the library's HTTP toolkit or queue worker import it; in AWS
it comes from a layer, locally from the venv). The check below runs before anything starts, so a missing
piece is one clear message instead of a moto server that never answers.
"""

from __future__ import annotations

import importlib.util

EXTRA = "local"
INSTALL = f'pip install "lambda-manifest[{EXTRA}]"'

# Importable module -> the distribution that provides it. moto's server part is what ``_moto_main.py``
# imports (``moto.server``: werkzeug, flask, flask-cors); the services the runner provisions import PyYAML
# (SSM, CloudFormation) on top of moto's own dependencies.
RUNNER_MODULES: dict[str, str] = {
    "moto": "moto",
    "werkzeug": "werkzeug",
    "flask": "flask",
    "flask_cors": "flask-cors",
    "yaml": "PyYAML",
}

# Needed by handlers rather than by the runner: reported as a warning when a function expects it.
POWERTOOLS_MODULE = "aws_lambda_powertools"


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module stubbed out as None
        return False


def missing_runner_packages() -> list[str]:
    """The distributions of the ``local`` extra the runner cannot import, in a stable order."""
    missing: list[str] = []
    for module, distribution in RUNNER_MODULES.items():
        if not importable(module) and distribution not in missing:
            missing.append(distribution)
    return missing


def missing_message(missing: list[str]) -> str:
    return (f"the local runner needs the '{EXTRA}' extra: {INSTALL} "
            f"(missing: {', '.join(missing)})")


def require_runner_packages() -> None:
    """Stop with the install hint when a package the runner imports is not installed."""
    missing = missing_runner_packages()
    if missing:
        raise MissingExtra(missing_message(missing))


class MissingExtra(SystemExit):
    """Raised before start-up; as a ``SystemExit`` it ends ``python -m`` with the message and status 1."""
