"""Construct paths known in Python.

A construct's path never changes once it exists, and reading ``node.path`` is two round trips to Node (the
node, then its path). The constructs name their scope's path in messages, descriptions and
acknowledgements, and most of them share one scope (the stack), so the path is read once per scope object.
"""

from __future__ import annotations

import weakref

from constructs import IConstruct

_PATHS: weakref.WeakKeyDictionary[IConstruct, str] = weakref.WeakKeyDictionary()


def path_of(construct: IConstruct) -> str:
    """``construct.node.path``, read from Node once per construct object."""
    path = _PATHS.get(construct)
    if path is None:
        path = _PATHS[construct] = construct.node.path
    return path


def child_path(scope: IConstruct, id: str) -> str:
    """The path a construct with ``id`` in ``scope`` has (or will have), without asking Node."""
    parent = path_of(scope)
    return f"{parent}/{id}" if parent else id
