"""A small JSON-schema subset validator for prompt-template variables.

Supported keywords: ``type`` (string, number, integer, boolean, object, array, null, or a list of these),
``required``, ``properties``, ``additionalProperties`` (bool), ``enum``, ``minLength``, ``maxLength``,
``minimum``, ``maximum``, ``pattern`` (``re.search``) and ``items``. Anything else is rejected when the
configuration is loaded, so a template never silently ignores a constraint.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

KEYWORDS = frozenset(
    {
        "type", "required", "properties", "additionalProperties", "enum", "minLength", "maxLength",
        "minimum", "maximum", "pattern", "items", "description", "title", "default",
    }
)  # fmt: skip
TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


class SchemaError(ValueError):
    """The schema itself is not valid (a configuration error)."""


def check_schema(schema: Any, path: str = "") -> None:
    if not isinstance(schema, dict):
        raise SchemaError(f"{path or 'schema'}: must be an object")
    unknown = sorted(set(schema) - KEYWORDS)
    if unknown:
        raise SchemaError(f"{path or 'schema'}: unsupported keyword(s) {', '.join(unknown)}")
    t = schema.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        if not ts or any(x not in TYPES for x in ts):
            raise SchemaError(f"{path or 'schema'}.type: invalid type {t!r}")
    if "required" in schema and not (
        isinstance(schema["required"], list) and all(isinstance(x, str) for x in schema["required"])
    ):
        raise SchemaError(f"{path or 'schema'}.required: must be a list of strings")
    if "properties" in schema:
        if not isinstance(schema["properties"], dict):
            raise SchemaError(f"{path or 'schema'}.properties: must be an object")
        for k, sub in schema["properties"].items():
            check_schema(sub, f"{path}.{k}" if path else k)
    if "items" in schema:
        check_schema(schema["items"], f"{path}[]")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise SchemaError(f"{path or 'schema'}.enum: must be a list")
    for k in ("minLength", "maxLength"):
        if k in schema and (isinstance(schema[k], bool) or not isinstance(schema[k], int) or schema[k] < 0):
            raise SchemaError(f"{path or 'schema'}.{k}: must be a non-negative integer")
    for k in ("minimum", "maximum"):
        if k in schema and (isinstance(schema[k], bool) or not isinstance(schema[k], int | float)):
            raise SchemaError(f"{path or 'schema'}.{k}: must be a number")
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError) as exc:
            raise SchemaError(f"{path or 'schema'}.pattern: invalid regular expression ({exc})") from None
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        raise SchemaError(f"{path or 'schema'}.additionalProperties: only true/false is supported")


def _type_ok(value: Any, t: str) -> bool:
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if t == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    return value is None  # "null"


def validate(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Return human-readable problems (each starting with the value's path); empty when valid."""
    errors: list[str] = []
    t = schema.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, x) for x in ts):
            return [f"{path}: expected {' or '.join(ts)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: must be one of {', '.join(repr(x) for x in schema['enum'])}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match pattern {schema['pattern']!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: must be <= {schema['maximum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for req in schema.get("required", []):
            if req not in value:
                errors.append(f"{path}.{req}: is required")
        for k, v in value.items():
            if k in props:
                errors.extend(validate(v, props[k], f"{path}.{k}"))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{k}: is not allowed")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors.extend(validate(v, schema["items"], f"{path}[{i}]"))
    return errors
