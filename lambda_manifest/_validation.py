"""Synth-time validation helpers: collect every problem, then raise once with all of them.

Messages follow one shape: ``<prop> must be <allowed>, got <value>; <how to fix>``. Values that are
unresolved CDK tokens are skipped, because their value is only known at deploy time.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

import aws_cdk as cdk


class PropsError(ValueError):
    """Raised at synth time when construct props are invalid. The message lists every problem found."""


class Problems:
    """Collects validation problems for one construct instance."""

    def __init__(self, construct: str, id: str) -> None:
        self._where = f"{construct} '{id}'"
        self._items: list[str] = []

    def add(self, prop: str, allowed: str, got: Any, fix: str) -> None:
        self._items.append(f"{prop} must be {allowed}, got {got!r}; {fix}")

    def note(self, message: str) -> None:
        self._items.append(message)

    def check_range(self, prop: str, value: float | None, low: float, high: float, unit: str, fix: str) -> None:
        if value is None or is_token(value):
            return
        if not low <= value <= high:
            self.add(prop, f"between {low:g} and {high:g} {unit}".rstrip(), value, fix)

    def raise_if_any(self) -> None:
        if self._items:
            lines = "\n".join(f"  - {item}" for item in self._items)
            raise PropsError(f"{self._where} has invalid props:\n{lines}")


def pick(value: Any, default: Any) -> Any:
    """``value`` unless it is unset (``None``): ``0`` and ``False`` are values, not requests for the default."""
    return default if value is None else value


# CDK encodes a token in a string as "${Token[...]}" (in a list element, "#{Token[...]}") and in a number as a
# double near -1.9e289. Anything else is resolved, which Python can tell without a jsii round trip (each
# costs about half a millisecond, and construct validation asks for every prop).
_STRING_MARKERS = ("${Token[", "#{Token[")
_NUMBER_TOKEN_LIMIT = -1e288


def is_token(value: Any) -> bool:
    if isinstance(value, str):
        if not any(marker in value for marker in _STRING_MARKERS):
            return False
    elif isinstance(value, bool | int) or (isinstance(value, float) and value > _NUMBER_TOKEN_LIMIT):
        return False
    return bool(cdk.Token.is_unresolved(value))


# Durations already converted (weakly held, by identity: jsii classes keep object equality): a function's
# timeout is read by its validation, its alarms and its queue's visibility timeout.
_SECONDS: weakref.WeakKeyDictionary[cdk.Duration, float | None] = weakref.WeakKeyDictionary()


@functools.cache
def known_seconds(value: int) -> cdk.Duration:
    """``Duration.seconds(value)`` for a default: one object per value (a Duration is immutable), whose
    seconds :func:`seconds` then knows without asking Node."""
    duration = cdk.Duration.seconds(value)
    _SECONDS[duration] = float(value)
    return duration


def seconds(duration: cdk.Duration | None) -> float | None:
    """A duration in seconds, or None when it is unset or a token."""
    if duration is None:
        return None
    if duration in _SECONDS:
        return _SECONDS[duration]
    value = None if duration.is_unresolved() else float(duration.to_seconds())
    _SECONDS[duration] = value
    return value
