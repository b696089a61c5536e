"""A tool's input schema, derived at synth from its Python handler's type hints, read with :mod:`ast`.

The handler's first parameter names the arguments' type: a ``TypedDict`` or a ``@dataclass`` defined in the
handler's module or imported into it from a module of the same code folder. Its fields become the schema's
properties; the class docstring its description, and a string right under a field (or
``Annotated[T, "text"]``) the field's description. The module is never imported: importing app code at synth
would run its side effects and need its dependencies on the build machine.

Types: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``list[T]`` / ``Sequence[T]`` /
``tuple[T, ...]`` / ``set[T]``, ``dict[str, T]`` / ``Mapping[str, T]``, ``T | None`` / ``Optional[T]``,
other unions, ``Literal[...]``, ``Annotated[T, ...]``, ``datetime`` / ``date`` (strings in ISO form), and
nested TypedDicts and dataclasses. Anything else is a synth error naming the field and the way out
(``input_schema=``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from lambda_manifest import _handlers

__all__ = ["SchemaProblem", "derive_input_schema"]

_PRIMITIVES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_SEQUENCES = {"list", "List", "Sequence", "MutableSequence", "Iterable", "Collection", "tuple", "Tuple", "set",
              "Set", "frozenset", "FrozenSet", "AbstractSet"}
_MAPPINGS = {"dict", "Dict", "Mapping", "MutableMapping"}
_FORMATS = {"datetime": "date-time", "date": "date", "time": "time"}
_WRAPPERS = {"Required", "NotRequired", "ReadOnly", "Final"}


class SchemaProblem(Exception):
    """Why no schema could be derived; the message names what was found."""


def derive_input_schema(handler: str, code: Any, *, scope: Any = None) -> dict[str, Any]:
    """The JSON schema of the arguments ``handler`` (``module.function``) takes, or :class:`SchemaProblem`."""
    found = _handlers.handler_source(handler, code, scope=scope)
    if found is None:
        raise SchemaProblem(f"the handler module of {handler!r} cannot be read at synth (the code is not a local "
                            "folder or inline Python)")
    module = _parse(found.source, found.label)
    function = next((n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                     and n.name == found.function), None)
    if function is None:
        raise SchemaProblem(f"{found.label} defines no function {found.function!r} at module level")
    params = [*function.args.posonlyargs, *function.args.args]
    if not params:
        raise SchemaProblem(f"{found.label}: {found.function}() takes no parameter for the arguments")
    annotation = params[0].annotation
    if annotation is None:
        raise SchemaProblem(f"{found.label}: the first parameter of {found.function}() "
                            f"({params[0].arg}) has no type hint")
    reader = _Reader(found.folder, found.label, module)
    schema = reader.schema(annotation, f"{found.function}({params[0].arg})")
    if schema.get("type") != "object" or "properties" not in schema:
        raise SchemaProblem(f"{found.label}: the first parameter of {found.function}() is "
                            f"{ast.unparse(annotation)}, not a TypedDict or dataclass (MCP tool arguments are a JSON "
                            "object)")
    return schema


def _parse(source: bytes, label: str) -> ast.Module:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError) as error:
        raise SchemaProblem(f"{label} does not parse: {error}") from None


class _Reader:
    """Resolves annotations inside one module, following ``from x import Name`` into the code folder."""

    def __init__(self, folder: Path | None, label: str, module: ast.Module) -> None:
        self.folder = folder
        self.label = label
        self.module = module
        self.classes = {n.name: n for n in module.body if isinstance(n, ast.ClassDef)}
        self.imports: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        for node in module.body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)
        self.active: set[str] = set()

    def schema(self, node: ast.expr, where: str) -> dict[str, Any]:
        if isinstance(node, ast.Constant):
            if node.value is None:
                return {"type": "null"}
            if isinstance(node.value, str):  # a string annotation
                try:
                    return self.schema(ast.parse(node.value, mode="eval").body, where)
                except SyntaxError:
                    pass
            raise self._unsupported(node, where)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return _union([self.schema(node.left, where), self.schema(node.right, where)])
        name = _name(node.value if isinstance(node, ast.Subscript) else node)
        if name is None:
            raise self._unsupported(node, where)
        if isinstance(node, ast.Subscript):
            return self._generic(name, node, where)
        if name in _PRIMITIVES:
            return {"type": _PRIMITIVES[name]}
        if name in ("Any", "object"):
            return {}
        if name in _FORMATS:
            return {"type": "string", "format": _FORMATS[name]}
        if name in _SEQUENCES:
            return {"type": "array"}
        if name in _MAPPINGS:
            return {"type": "object"}
        return self._class(name, node, where)

    def _generic(self, name: str, node: ast.Subscript, where: str) -> dict[str, Any]:
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if name == "Optional":
            return _union([self.schema(args[0], where), {"type": "null"}])
        if name == "Union":
            return _union([self.schema(a, where) for a in args])
        if name == "Literal":
            values = [a.value for a in args if isinstance(a, ast.Constant)]
            if len(values) != len(args):
                raise self._unsupported(node, where)
            types = {_json_type(v) for v in values}
            return {"type": types.pop(), "enum": values} if len(types) == 1 else {"enum": values}
        if name == "Annotated":
            schema = self.schema(args[0], where)
            text = next((a.value for a in args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str)), None)
            return {**schema, "description": text} if text else schema
        if name in _WRAPPERS:
            return self.schema(args[0], where)
        if name in _SEQUENCES:
            if name in ("tuple", "Tuple") and not (len(args) == 2 and isinstance(args[1], ast.Constant)
                                                   and args[1].value is Ellipsis):
                raise self._unsupported(node, where, "a fixed-length tuple (use tuple[T, ...] or list[T])")
            return {"type": "array", "items": self.schema(args[0], where)}
        if name in _MAPPINGS:
            if len(args) != 2 or _name(args[0]) != "str":
                raise self._unsupported(node, where, "a mapping whose keys are not str (JSON object keys are strings)")
            return {"type": "object", "additionalProperties": self.schema(args[1], where)}
        raise self._unsupported(node, where)

    def _class(self, name: str, node: ast.expr, where: str) -> dict[str, Any]:
        reader, cls = self._find_class(name)
        if cls is None:
            raise self._unsupported(node, where, f"{name} is not a class this module defines or imports from its "
                                                 "code folder")
        kind = _class_kind(cls)
        if kind is None:
            raise self._unsupported(node, where, f"class {name} is neither a TypedDict nor a @dataclass")
        key = f"{reader.label}:{name}"
        if key in reader.active:
            raise self._unsupported(node, where, f"{name} refers to itself")
        reader.active.add(key)
        try:
            return reader._object(cls, kind)
        finally:
            reader.active.discard(key)

    def _find_class(self, name: str) -> tuple[_Reader, ast.ClassDef | None]:
        if name in self.classes:
            return self, self.classes[name]
        imported = self.imports.get(name)
        if imported is None or self.folder is None:
            return self, None
        module_name, original = imported
        base = self.folder.joinpath(*module_name.split("."))
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                other = _Reader(self.folder, str(path), _parse(path.read_bytes(), str(path)))
                other.active = self.active
                return other._find_class(original)
        return self, None

    def _object(self, cls: ast.ClassDef, kind: str) -> dict[str, Any]:
        total = kind != "typeddict" or not any(
            k.arg == "total" and isinstance(k.value, ast.Constant) and k.value.value is False for k in cls.keywords)
        properties: dict[str, Any] = {}
        required: list[str] = []
        body = cls.body
        for index, node in enumerate(body):
            if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
                continue
            field, annotation = node.target.id, node.annotation
            if _name(annotation.value if isinstance(annotation, ast.Subscript) else annotation) in ("ClassVar",
                                                                                                 "InitVar"):
                continue
            schema = self.schema(annotation, f"{cls.name}.{field}")
            following = body[index + 1] if index + 1 < len(body) else None
            if (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str) and "description" not in schema):
                schema["description"] = _clean(following.value.value)
            wrapper = _name(annotation.value) if isinstance(annotation, ast.Subscript) else None
            if kind == "dataclass":
                default = _dataclass_default(node.value)
                is_required = node.value is None or default is _REQUIRED
                if default not in (_REQUIRED, _UNKNOWN):
                    schema["default"] = default
            else:
                is_required = wrapper == "Required" or (total and wrapper != "NotRequired")
            properties[field] = schema
            if is_required:
                required.append(field)
        result: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            result["required"] = required
        doc = ast.get_docstring(cls)
        if doc:
            result["description"] = _clean(doc)
        return result

    def _unsupported(self, node: ast.expr, where: str, why: str = "") -> SchemaProblem:
        return SchemaProblem(f"{self.label}: {where} is typed {ast.unparse(node)}"
                             + (f", {why}" if why else ", which has no JSON-schema equivalent here"))


_REQUIRED = object()
_UNKNOWN = object()


def _dataclass_default(value: ast.expr | None) -> Any:
    """The field's default as JSON, ``_REQUIRED`` for none, ``_UNKNOWN`` for one not written as a literal."""
    if value is None:
        return _REQUIRED
    if isinstance(value, ast.Call) and _name(value.func) == "field":
        keywords = {k.arg: k.value for k in value.keywords}
        if "default" in keywords:
            return _literal(keywords["default"])
        return _UNKNOWN if "default_factory" in keywords else _REQUIRED
    return _literal(value)


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _UNKNOWN


def _class_kind(cls: ast.ClassDef) -> str | None:
    for decorator in cls.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _name(target) == "dataclass":
            return "dataclass"
    if any(_name(base) == "TypedDict" for base in cls.bases):
        return "typeddict"
    return None


def _name(node: ast.expr) -> str | None:
    """``Name`` -> its id; ``typing.Name`` -> ``Name``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _union(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    flat: list[dict[str, Any]] = []
    for schema in schemas:
        flat.extend(schema["anyOf"] if set(schema) == {"anyOf"} else [schema])
    if all(set(s) == {"type"} and isinstance(s["type"], str) for s in flat):
        types = list(dict.fromkeys(s["type"] for s in flat))
        return {"type": types[0] if len(types) == 1 else types}
    nullable = [s for s in flat if s != {"type": "null"}]
    if len(nullable) == 1 and len(flat) == 2 and isinstance(nullable[0].get("type"), str):
        merged = {**nullable[0], "type": [nullable[0]["type"], "null"]}
        if "enum" in merged:
            merged["enum"] = [*merged["enum"], None]
        return merged
    return {"anyOf": flat}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "null"


def _clean(text: str) -> str:
    return " ".join(text.split())
