"""``@tool``: a Lambda handler from a function whose first parameter is a dataclass.

An MCP tool's function gets the arguments object as its event, a dict. Typing the handler's first parameter as
a ``TypedDict`` says exactly that; a ``@dataclass`` says more (defaults, methods) but is not what Lambda passes.
``@tool`` closes the gap: Lambda calls the wrapper with ``(event, context)``, the wrapper builds the dataclass
from the event and calls the function with it. ``McpToolGateway`` reads the same annotation at synth for the
tool's input schema, so the schema and the type the code uses are one.

    @tool
    def summarize_text(request: SummarizeText, context) -> dict: ...

Arguments the dataclass does not take (or a missing required one) raise ``InvalidArguments``, a tool error of
that type.
"""

from __future__ import annotations

import functools

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class InvalidArguments(TypeError):
    """The arguments object does not fit the tool's dataclass."""


def tool(function: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    @functools.wraps(function)
    def handler(event: Any, context: Any) -> Any:
        cls = _argument_type(function)
        if not isinstance(event, dict):
            raise InvalidArguments(f"the arguments must be an object, got {type(event).__name__}")
        try:
            arguments = cls(**event)
        except TypeError as error:
            raise InvalidArguments(str(error).replace("__init__() ", "")) from None
        return function(arguments, context)

    return handler


@functools.cache
def _argument_type(function: Callable[..., Any]) -> Any:
    import dataclasses
    import typing

    hints = typing.get_type_hints(function)
    first = next(iter(function.__code__.co_varnames[: function.__code__.co_argcount]), None)
    cls = hints.get(first) if first else None
    if cls is None or not dataclasses.is_dataclass(cls):
        raise TypeError(f"@tool needs {function.__qualname__}'s first parameter typed with a @dataclass")
    return cls
