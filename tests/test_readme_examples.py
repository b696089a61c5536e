"""Every Python block in the README and the construct reference (docs/) runs, so no example can drift from
the code.

- A block whose first line is ``# file: <path>`` is a file of the app-team project: it must equal
  ``examples/app-team/<path>``, and it is written into the project the other blocks run in.
- A block whose first line is ``# needs: <what>`` talks to something deployed (a gateway URL and key, an MCP
  endpoint); it is compiled, not run.
- Every other block runs top to bottom in that project folder (``src/`` holds the project's handlers), and
  each ``cdk.App`` it leaves behind is synthesized under all five cdk-nag packs with zero unacknowledged
  findings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "app-team"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [b for d in DOCUMENTS for b in re.findall(r"```python\n(.*?)```", d.read_text(), re.DOTALL)]
FILES = {m.group(1): b for b in BLOCKS if (m := re.match(r"# file: (\S+)\n", b))}
RUNNABLE = [b for b in BLOCKS if not b.startswith(("# file:", "# needs:"))]
REMOTE = [b for b in BLOCKS if b.startswith("# needs:")]
CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]


def test_the_readme_shows_the_app_team_project_as_it_is() -> None:
    assert {"app.py", "infra/service.py", "src/jobs/worker.py", "src/api/status.py"} <= set(FILES)
    for path, block in FILES.items():
        body = block.split("\n", 1)[1]
        assert body == (EXAMPLE / path).read_text(), f"the docs' block for {path} differs from examples/app-team"


def test_only_client_snippets_are_not_run() -> None:
    assert len(RUNNABLE) >= 5
    for block in REMOTE:
        compile(block, "README.md", "exec")
        assert "from openai import" in block or "from anthropic import" in block or "from mcp." in block


# Appended to each block: what `cdk synth` adds around an app, and the gate on every App the block built.
EPILOGUE = """

import aws_cdk as _cdk
from lambda_manifest import ALL_PACKS as _PACKS, apply_compliance_packs as _gate
for _app in [v for v in list(globals().values()) if isinstance(v, _cdk.App)]:
    if {gated}:
        _gate(_app, packs=_PACKS)
    if {synth}:
        _app.synth()
"""


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"block{i}" for i in range(len(RUNNABLE))])
def test_readme_block_runs_and_passes_the_five_packs(block: str, tmp_path: Path) -> None:
    for path, text in FILES.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.split("\n", 1)[1])
    assert "cdk.App(" in block, "a runnable block builds a cdk.App"
    script = tmp_path / "readme_block.py"
    script.write_text(block + EPILOGUE.format(gated="apply_compliance_packs" not in block,
                                              synth="app.synth()" not in block))
    # A fresh interpreter in the project folder, as `cdk synth` runs an app: relative asset paths resolve
    # there, with the repo's cdk.json context.
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "CDK_OUTDIR": str(tmp_path / "cdk.out"),
           "CDK_CONTEXT_JSON": json.dumps(CONTEXT)}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    report = tmp_path / "cdk.out" / "validation-report.json"
    findings = json.loads(report.read_text()) if report.exists() else {}
    violations = [v["ruleName"] for p in findings.get("pluginReports", []) for v in p.get("violations", [])]
    assert result.returncode == 0, f"{violations}\n{result.stderr[-3000:]}"
    assert not violations
