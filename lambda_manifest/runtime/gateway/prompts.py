"""Prompt templates: ``{name}`` placeholders, ``{{``/``}}`` for literal braces, optional variables schema."""

from __future__ import annotations

import json
import re

from .config import PromptVersion
from .errors import bad_request
from .schema import validate

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_variables(template: str) -> list[str]:
    return [m.group(1) for m in _TOKEN.finditer(template) if m.group(1)]


def _render(template: str, values: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        v = values[m.group(1)]
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    return _TOKEN.sub(sub, template)


def render(pv: PromptVersion, variables: Any) -> list[dict[str, Any]]:
    """Validate ``variables`` and render the version's messages; 400 naming every bad variable."""
    if not isinstance(variables, dict):
        raise bad_request('"variables" must be an object', "invalid_variables", "variables")
    needed: list[str] = []
    for tpl in (pv.system or "", pv.user):
        for name in template_variables(tpl):
            if name not in needed:
                needed.append(name)
    schema_required = (pv.schema or {}).get("required", [])
    missing = [n for n in [*needed, *schema_required] if n not in variables]
    missing = list(dict.fromkeys(missing))
    if missing:
        raise bad_request(f"missing variable(s): {', '.join(missing)}", "missing_variables", "variables")
    if pv.schema is not None:
        problems = validate(variables, pv.schema, "variables")
        if problems:
            raise bad_request(f"invalid variable(s): {'; '.join(problems)}", "invalid_variables", "variables")
    messages: list[dict[str, Any]] = []
    if pv.system:
        messages.append({"role": "system", "content": _render(pv.system, variables)})
    messages.append({"role": "user", "content": _render(pv.user, variables)})
    return messages
