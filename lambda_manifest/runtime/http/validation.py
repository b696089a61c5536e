"""A small, dependency-free validator for the subset of JSON Schema our request bodies need.

Kept over Powertools' validation utility (``fastjsonschema``, which the Powertools layer ships) by the numbers
in the README (bench/bench_runtime_choices.py, Python 3.14, a handler that already holds the toolkit): the
first request pays about 2 ms here against 6-9 ms for importing Powertools' utility and compiling the schema;
Powertools' ``validate()`` compiles the schema on every call (about 1 ms per request), and a schema compiled
once with ``fastjsonschema`` checks a body in 1 µs against 4 µs here, a difference no request notices. And it
stops at the first error, where this validator reports every problem (up to ``MAX_ISSUES``) with its path,
which is what the toolkit's ``VALIDATION_FAILED`` details promise clients.

Supported keywords: ``type`` (``string``, ``integer``, ``number``, ``boolean``, ``object``, ``array``,
``null`` or a list of them), ``required``, ``properties``, ``additionalProperties`` (bool or schema),
``items``, ``enum``, ``minLength``, ``maxLength``, ``minimum``, ``maximum``, ``pattern``, ``minItems``,
``maxItems``. Deliberate differences from the standard: ``integer`` rejects ``1.0`` and booleans are never
numbers, because the stored type must match what the client meant; ``pattern`` uses Python ``re.search``.

Unknown keywords raise ``SchemaError`` when the ``Schema`` is built (at import time), so a typo in a
schema cannot silently switch a check off.

Examples
--------
>>> ITEM = Schema({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}})
>>> ITEM.errors({"name": 3})
[Issue(path='$.name', message='must be of type string')]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ValidationFailed

_KNOWN = frozenset(
    {
        "type",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "enum",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "pattern",
        "minItems",
        "maxItems",
        "description",
    }
)
_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "array", "null"})
# A hostile body can hold thousands of bad fields; the client only needs the first few to fix its request.
MAX_ISSUES = 20


class SchemaError(ValueError):
    """The schema itself is invalid (a programming error, raised at import time)."""


@dataclass(frozen=True)
class Issue:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    return value is None


class Schema:
    """A checked, pre-compiled schema.

    Parameters
    ----------
    definition:
        The JSON-Schema-subset document (see the module docstring for the keywords).
    """

    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.definition = definition
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._check(definition, "$")

    def _check(self, node: Any, where: str) -> None:
        if not isinstance(node, Mapping):
            raise SchemaError(f"{where}: a schema must be an object, got {type(node).__name__}")
        unknown = set(node) - _KNOWN
        if unknown:
            raise SchemaError(
                f"{where}: unsupported keyword(s) {sorted(unknown)}; supported: {sorted(_KNOWN)}"
            )
        types = node.get("type")
        if types is not None:
            names = types if isinstance(types, list) else [types]
            bad = [t for t in names if t not in _TYPES]
            if bad:
                raise SchemaError(f"{where}: unknown type(s) {bad}; allowed: {sorted(_TYPES)}")
        if "pattern" in node:
            self._patterns[node["pattern"]] = re.compile(node["pattern"])
        for name, child in (node.get("properties") or {}).items():
            self._check(child, f"{where}.{name}")
        additional = node.get("additionalProperties", True)
        if not isinstance(additional, bool):
            self._check(additional, f"{where}.additionalProperties")
        if "items" in node:
            self._check(node["items"], f"{where}[]")

    def errors(self, instance: Any) -> list[Issue]:
        """Return up to ``MAX_ISSUES`` problems with ``instance`` (empty when it is valid)."""
        issues: list[Issue] = []
        self._visit(self.definition, instance, "$", issues)
        return issues[:MAX_ISSUES]

    def validate(self, instance: Any) -> Any:
        """Return ``instance`` unchanged, or raise ``ValidationFailed`` listing the problems."""
        issues = self.errors(instance)
        if issues:
            raise ValidationFailed(
                f"{issues[0].path}: {issues[0].message}", details=[i.as_dict() for i in issues]
            )
        return instance

    def _visit(self, node: Mapping[str, Any], value: Any, path: str, issues: list[Issue]) -> None:
        if len(issues) >= MAX_ISSUES:
            return
        types = node.get("type")
        if types is not None:
            names = types if isinstance(types, list) else [types]
            if not any(_is_type(value, t) for t in names):
                issues.append(Issue(path, f"must be of type {' or '.join(names)}"))
                # Further keywords would only repeat the type problem in other words.
                return
        if "enum" in node and not any(_same(value, option) for option in node["enum"]):
            issues.append(Issue(path, f"must be one of {list(node['enum'])}"))
        if isinstance(value, str):
            self._visit_string(node, value, path, issues)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in node and value < node["minimum"]:
                issues.append(Issue(path, f"must be >= {node['minimum']}"))
            if "maximum" in node and value > node["maximum"]:
                issues.append(Issue(path, f"must be <= {node['maximum']}"))
        elif isinstance(value, list):
            if "minItems" in node and len(value) < node["minItems"]:
                issues.append(Issue(path, f"must have at least {node['minItems']} item(s)"))
            if "maxItems" in node and len(value) > node["maxItems"]:
                issues.append(Issue(path, f"must have at most {node['maxItems']} item(s)"))
                # Checking every element of an oversized list is wasted work on a request we reject.
                return
            if "items" in node:
                for index, element in enumerate(value):
                    self._visit(node["items"], element, f"{path}[{index}]", issues)
        elif isinstance(value, dict):
            self._visit_object(node, value, path, issues)

    def _visit_string(self, node: Mapping[str, Any], value: str, path: str, issues: list[Issue]) -> None:
        if "minLength" in node and len(value) < node["minLength"]:
            issues.append(Issue(path, f"must be at least {node['minLength']} character(s) long"))
        if "maxLength" in node and len(value) > node["maxLength"]:
            issues.append(Issue(path, f"must be at most {node['maxLength']} character(s) long"))
            # Skip the regex: running it over a huge string is the expensive part.
            return
        if "pattern" in node and not self._patterns[node["pattern"]].search(value):
            issues.append(Issue(path, f"must match the pattern {node['pattern']}"))

    def _visit_object(
        self, node: Mapping[str, Any], value: dict[Any, Any], path: str, issues: list[Issue]
    ) -> None:
        properties: Mapping[str, Any] = node.get("properties") or {}
        for name in node.get("required", ()):
            if name not in value:
                issues.append(Issue(f"{path}.{_label(name)}", "is required"))
        additional = node.get("additionalProperties", True)
        for name, child in value.items():
            if len(issues) >= MAX_ISSUES:
                return
            child_path = f"{path}.{_label(name)}"
            if name in properties:
                self._visit(properties[name], child, child_path, issues)
            elif additional is False:
                issues.append(Issue(child_path, "is not an allowed property"))
            elif isinstance(additional, Mapping):
                self._visit(additional, child, child_path, issues)


def _label(name: Any) -> str:
    # Property names come from the client; a megabyte-long key must not be echoed back in full.
    text = str(name)
    return text if len(text) <= 64 else text[:61] + "..."


def _same(a: Any, b: Any) -> bool:
    # JSON has no bool/int equivalence, but Python says True == 1.
    return type(a) is type(b) and a == b
