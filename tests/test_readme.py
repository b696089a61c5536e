"""The README stays true: its defaults reference is what _defaults.py says, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from lambda_manifest import _defaults

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_defaults_reference_matches_the_defaults_module() -> None:
    start = README.index(_defaults.README_START)
    end = README.index(_defaults.README_END) + len(_defaults.README_END)
    assert README[start:end] == _defaults.readme_block(), "run `make docs` to regenerate the reference"


def test_every_construct_with_defaults_has_a_reference_section() -> None:
    for construct in _defaults.constructs_in_reference():
        assert f"#### {construct} defaults" in README


def test_quickstart_commands_come_first_and_exist_in_the_makefile() -> None:
    quickstart = README.index("## Quickstart")
    assert README.index("make synth", quickstart) < README.index("make test", quickstart)
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"`make ([a-z-]+)", README):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"README mentions make {target}"


def test_every_example_stack_is_documented() -> None:
    from app import EXAMPLE_STACKS

    for stack in EXAMPLE_STACKS:
        assert f"`{stack}`" in README

