"""End-to-end fixtures: one synthesized assembly and one running local runner per session and app."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from local_support import Running, run_local  # noqa: E402
from unseen_app import synth_unseen_app  # noqa: E402


@pytest.fixture(scope="session")
def unseen_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app directory of a small app written for the tests (assembly in ``<dir>/cdk.out``)."""
    root = tmp_path_factory.mktemp("unseen-app")
    synth_unseen_app(root)
    return root


@pytest.fixture(scope="session")
def unseen(unseen_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with run_local(unseen_app, unseen_app / "cdk.out", workdir=tmp_path_factory.mktemp("unseen-run")) as running:
        yield running


@pytest.fixture(scope="session")
def examples(cli_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Every example stack of app.py, run from the session's real-CLI synth. Visibility timeouts are capped
    at 1 s so a failed message comes back within the test's patience (the templates say 180 s); the local
    model behind the AI gateway answers with a moderation verdict, streamed a word every 100 ms."""
    from local_support import ROOT

    verdict = '{"flagged": false, "categories": [], "severity": "none", "reason": "local model"}'
    with run_local(ROOT, cli_assembly, "--max-visibility-timeout", "1", "--llm-reply", verdict,
                   "--llm-piece-delay", "0.1",
                   workdir=tmp_path_factory.mktemp("examples-run")) as running:
        yield running
