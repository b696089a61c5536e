"""The README and the construct reference stay true: the defaults tables are what _defaults.py says, the
commands exist, the figures are what the benches compute."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lambda_manifest import _defaults

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CONSTRUCT_DOCS = ROOT / "docs" / "constructs"
COMPLIANCE = (ROOT / "docs" / "compliance.md").read_text()


@pytest.mark.parametrize("page", sorted(_defaults.DOC_PAGES))
def test_each_reference_page_shows_its_constructs_defaults_as_the_defaults_module_has_them(page: str) -> None:
    text = (CONSTRUCT_DOCS / page).read_text()
    start = text.index(_defaults.DOCS_START)
    end = text.index(_defaults.DOCS_END) + len(_defaults.DOCS_END)
    assert text[start:end] == _defaults.docs_block(_defaults.DOC_PAGES[page]), "run `make docs`"


def test_every_construct_with_defaults_has_a_reference_page_and_every_page_is_linked() -> None:
    shown = [c for constructs in _defaults.DOC_PAGES.values() for c in constructs]
    assert sorted(shown) == sorted(_defaults.constructs_in_reference())
    index = (CONSTRUCT_DOCS / "README.md").read_text()
    for page in _defaults.DOC_PAGES:
        assert f"]({page})" in index
        assert f"](docs/constructs/{page})" in README


def test_links_between_the_readme_and_the_docs_resolve() -> None:
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", document.read_text()):
            assert (document.parent / target).resolve().is_file(), f"{document.name} links to {target}"


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



def test_idle_cost_figures_are_what_the_cost_bench_computes() -> None:
    """The README's idle-cost claims (the gateway section and the benchmark table) are the cost bench's total,
    computed from the synthesized ContentModerationStack with the bench's own functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_gateway_cost", ROOT / "bench" / "bench_gateway_cost.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows, types = bench.costs(bench.template())
    total = sum(row[3] for row in rows)
    with_dashboards = total + types["AWS::CloudWatch::Dashboard"] * bench.DASHBOARD_MONTH
    assert f"| **ContentModerationStack, idle** | **{total:.2f}** (${with_dashboards:.2f} with a paid dashboard) |" \
        in README
    page = (CONSTRUCT_DOCS / "ai-gateway-function.md").read_text()
    gateway = page[:page.index("```python")]
    assert f"**${total:.2f} a month** idle" in gateway
    assert "costs nothing while idle" not in README + page


def test_alarm_claims_name_how_someone_receives_them() -> None:
    intro = README[:README.index("## Quickstart")]
    assert "page someone" not in intro and "-c alarmEmail=" in intro
    quickstart = README[README.index("## Quickstart"):README.index("## For app teams")]
    assert "-c alarmEmail=" in quickstart and "subscribe_alarms(" in quickstart


def test_checkov_mapping_and_exact_actions_tables_are_the_code() -> None:
    from lambda_manifest._role import ACTION_FAMILIES
    from lambda_manifest.compliance import NAG_TO_CHECKOV

    mapping = COMPLIANCE[COMPLIANCE.index("| cdk-nag rule (any pack prefix) | Checkov check |"):]
    mapping = mapping[:mapping.index("\n\n")]
    documented: dict[str, set[str]] = {}
    for line in mapping.splitlines()[2:]:
        rules, checks = line.strip("|").split("|")
        for rule in re.findall(r"`([A-Za-z0-9]+)`", rules):
            documented[rule] = set(re.findall(r"`(CKV_AWS_\d+)`", checks))
    assert documented == {rule: set(ids) for rule, ids in NAG_TO_CHECKOV.items()}
    families = COMPLIANCE[COMPLIANCE.index("| family | becomes | why |"):]
    families = families[:families.index("\n\n")]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| ([^|]+) \|", families, re.MULTILINE)}
    assert rows.keys() == ACTION_FAMILIES.keys()
    for family, (exact, _) in ACTION_FAMILIES.items():
        assert set(re.findall(r"`([^`]+)`", rows[family])) == set(exact), family
