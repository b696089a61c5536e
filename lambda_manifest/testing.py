"""Snapshot testing for stacks built with lambda-manifest (or any CDK stack).

A synthesized template carries values that change when nothing about the infrastructure did: asset hashes
move with every edit to handler code, the ``AWS::CDK::Metadata`` resource encodes the CDK version and the
constructs in use, and asset metadata records where a machine staged its files. ``normalized_template``
normalizes exactly those, so a snapshot changes when the infrastructure changes and stays put otherwise::

    from lambda_manifest.testing import assert_matches_file, normalized_template

    assert normalized_template(stack) == snapshot(extension_class=JSONSnapshotExtension)  # syrupy
    assert_matches_file(stack, Path(__file__).parent / "snapshots" / "orders.json")  # plain pytest

What is normalized, and nothing else:

* Every run of exactly 64 lowercase hex digits (an asset hash: ``S3Key``, container image tags,
  ``aws:asset:path``, legacy ``AssetParameters...`` names, anywhere in a key or string) becomes
  ``<asset-hash>``. The 8-character suffix CDK derives from that hash in legacy asset parameter names is
  dropped with it, since it changes whenever the hash does.
* The 32-digit hash CDK appends to the logical ID of a function's ``current_version`` (used by aliases and
  provisioned concurrency) becomes ``<version-hash>``: it covers the function's code, so it would move on
  every handler edit. A configuration change still shows in the function's own properties.
* Resources of type ``AWS::CDK::Metadata`` and the ``CDKMetadataAvailable`` condition are removed, and
  ``Conditions`` with them if nothing else is left. They are the only place the CDK version appears.
* Resource ``Metadata`` keys starting with ``aws:asset:`` are removed (and ``Metadata`` when that empties
  it): they describe how an asset was staged, which differs between the CLI, in-process synthesis and
  tools that disable staging (where the path is absolute). ``aws:cdk:path`` and other metadata are kept.

The ``BootstrapVersion`` parameter and ``CheckBootstrapVersion`` rule are kept: they only change when the
required bootstrap version does, which is worth seeing in a review. Keys are sorted at every level, so the
result (and its ``repr``) is the same on every machine and run.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

from aws_cdk import Stack
from aws_cdk.assertions import Template

__all__ = [
    "ASSET_HASH",
    "UPDATE_ENV_VAR",
    "VERSION_HASH",
    "TemplateSource",
    "assert_matches_file",
    "normalized_template",
    "template_snapshot",
]

TemplateSource: TypeAlias = Stack | Template | Mapping[str, Any]
"""A stack to synthesize, an ``aws_cdk.assertions.Template``, or a template already loaded from cdk.out."""

ASSET_HASH = "<asset-hash>"
VERSION_HASH = "<version-hash>"
UPDATE_ENV_VAR = "LAMBDA_MANIFEST_UPDATE_SNAPSHOTS"

# Order matters: the legacy parameter pattern must see the raw hash before the generic one replaces it.
# The hex lookarounds keep longer hex strings (a SHA-512 in a user's config, say) intact rather than
# cutting a 64-digit window out of them.
_LEGACY_ASSET_PARAMETER = re.compile(
    r"AssetParameters[0-9a-f]{64}(S3Bucket|S3VersionKey|ArtifactHash)[0-9A-F]{8}(?![0-9A-Za-z])"
)
_ASSET_HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_CURRENT_VERSION = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}(?![0-9a-f])")

_CDK_METADATA_TYPE = "AWS::CDK::Metadata"
_CDK_METADATA_CONDITION = "CDKMetadataAvailable"
_ASSET_METADATA_PREFIX = "aws:asset:"

_DIFF_LINE_LIMIT = 60


def normalized_template(stack_or_template: TemplateSource) -> dict[str, Any]:
    """A deep copy of the template with machine- and code-dependent values normalized (see the module
    docstring for the exact list). The input is never modified.

    A ``Stack`` is synthesized with ``Template.from_stack``, which also runs CDK's cyclic dependency check.
    Raises ``TypeError`` for anything that is not a stack, a ``Template`` or a JSON mapping, and
    ``ValueError`` if two keys that differed only by a hash would collapse into one with different content.
    """
    template = _template_json(stack_or_template)
    body = dict(template)
    body["Resources"] = {
        logical_id: _without_asset_metadata(resource)
        for logical_id, resource in template.get("Resources", {}).items()
        if not (isinstance(resource, Mapping) and resource.get("Type") == _CDK_METADATA_TYPE)
    }
    if "Conditions" in template:
        conditions = {k: v for k, v in template["Conditions"].items() if k != _CDK_METADATA_CONDITION}
        if conditions:
            body["Conditions"] = conditions
        else:
            del body["Conditions"]
    normalized: dict[str, Any] = _scrub(body, "$")
    return normalized


def template_snapshot(stack_or_template: TemplateSource) -> dict[str, Any]:
    """The value to compare with a syrupy snapshot: ``assert template_snapshot(stack) == snapshot``.

    It is ``normalized_template``; syrupy compares plain dicts, and with ``JSONSnapshotExtension`` the
    stored file is the template as CloudFormation would read it.
    """
    return normalized_template(stack_or_template)


def assert_matches_file(stack_or_template: TemplateSource, path: Path, *, update: bool | None = None) -> None:
    """Compare the normalized template with the JSON file at ``path`` (sorted keys, indent 2).

    The file is written instead of compared when it does not exist yet, when ``update`` is true, or when
    ``update`` is left as ``None`` and the environment variable ``LAMBDA_MANIFEST_UPDATE_SNAPSHOTS`` is
    ``1``. ``update=False`` never writes, so a missing file fails too: use it in CI, where a snapshot
    created on the fly would pass without having been reviewed.

    On a mismatch raises ``AssertionError`` with a unified diff of the JSON text and how to update.
    """
    path = Path(path)
    actual = _dump(normalized_template(stack_or_template))
    strict = update is False
    if update is None:
        update = os.environ.get(UPDATE_ENV_VAR) == "1"
    if update or (not strict and not path.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    how_to_update = (
        "If the change is intended, "
        + ("pass update=True" if strict else f"rerun with {UPDATE_ENV_VAR}=1")
        + " and review the file's diff before committing it."
    )
    if not path.exists():
        raise AssertionError(f"snapshot {path} does not exist and update=False. {how_to_update}")
    stored_text = path.read_text(encoding="utf-8")
    try:
        stored = json.loads(stored_text)
    except json.JSONDecodeError as error:
        raise AssertionError(f"snapshot {path} is not valid JSON ({error}). {how_to_update}") from None
    # Compared as data, not text, so a file reformatted by an editor still matches; the diff is taken
    # between both re-dumped the same way, so it shows content changes only.
    expected = _dump(stored)
    if expected == actual:
        return
    raise AssertionError(
        f"synthesized template does not match snapshot {path}:\n{_short_diff(expected, actual, path)}\n"
        f"{how_to_update}"
    )


def _template_json(stack_or_template: TemplateSource) -> Mapping[str, Any]:
    if isinstance(stack_or_template, Stack):
        return Template.from_stack(stack_or_template).to_json()
    if isinstance(stack_or_template, Template):
        return stack_or_template.to_json()
    if isinstance(stack_or_template, Mapping):
        return stack_or_template
    raise TypeError(
        "expected an aws_cdk.Stack, an aws_cdk.assertions.Template or a template dict, "
        f"got {type(stack_or_template).__name__}"
    )


def _without_asset_metadata(resource: Any) -> Any:
    if not isinstance(resource, Mapping) or not isinstance(resource.get("Metadata"), Mapping):
        return resource
    metadata = resource["Metadata"]
    kept = {k: v for k, v in metadata.items() if not str(k).startswith(_ASSET_METADATA_PREFIX)}
    if len(kept) == len(metadata):
        return resource
    result = dict(resource)
    if kept:
        result["Metadata"] = kept
    else:
        del result["Metadata"]
    return result


def _scrub_string(text: str) -> str:
    text = _LEGACY_ASSET_PARAMETER.sub(rf"AssetParameters{ASSET_HASH}\1", text)
    text = _ASSET_HASH.sub(ASSET_HASH, text)
    return _CURRENT_VERSION.sub(rf"\1{VERSION_HASH}", text)


def _scrub(value: Any, where: str) -> Any:
    """Rebuild ``value`` with every key and string scrubbed; building new containers is the deep copy."""
    if isinstance(value, str):
        return _scrub_string(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_scrub(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        scrubbed: dict[str, Any] = {}
        for key, item in value.items():
            new_key = _scrub_string(str(key))
            new_value = _scrub(item, f"{where}.{key}")
            # Legacy asset parameters of two assets collapse into one name with identical content, which
            # is harmless; anything else colliding would silently lose part of the template.
            if new_key in scrubbed and scrubbed[new_key] != new_value:
                raise ValueError(
                    f"{where}: keys {new_key!r} differ only by a hash but have different content, so "
                    "normalizing them would drop one; compare these templates without normalization"
                )
            scrubbed[new_key] = new_value
        return dict(sorted(scrubbed.items()))
    raise TypeError(f"{where}: {type(value).__name__} is not a JSON value")


def _dump(template: Any) -> str:
    return json.dumps(template, sort_keys=True, indent=2) + "\n"


def _short_diff(expected: str, actual: str, path: Path) -> str:
    lines = list(
        difflib.unified_diff(
            expected.splitlines(),
            actual.splitlines(),
            fromfile=f"{path} (snapshot)",
            tofile="synthesized",
            lineterm="",
        )
    )
    if len(lines) > _DIFF_LINE_LIMIT:
        hidden = len(lines) - _DIFF_LINE_LIMIT
        lines = [*lines[:_DIFF_LINE_LIMIT], f"... and {hidden} more diff lines"]
    return "\n".join(lines)
