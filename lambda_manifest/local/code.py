"""Where a function's code and layers are on this machine, for the local runner.

A function runs from its source folder when one matches its ``cdk.out`` asset (so edits take effect), else from
the asset itself (unzipped when it is a zip); inline code is written to a scratch folder. Layers of the same
template run from their asset's ``python`` folder, or, when two layers share a package (two of this library's
runtimes share ``lambda_manifest/``), from one folder that overlays them in order, as Lambda extracts every layer
into the one ``/opt``.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_manifest.local.cfn import NO_VALUE, ResolveError, Resolver, Stack
from lambda_manifest.local.synth import find_source_dir

if TYPE_CHECKING:
    from lambda_manifest.local.runner import Options


class CodeLocator:
    """Finds code folders and layer paths; ``scratch`` holds unzipped assets, inline code and merged layers."""

    def __init__(self, options: Options, resolver: Resolver, scratch: Path, warnings: list[str]) -> None:
        self._options = options
        self._resolver = resolver
        self._scratch = scratch
        self._warnings = warnings

    @staticmethod
    def _asset(stack: Stack, logical: str, code: dict[str, Any]) -> Path | None:
        """The cdk.out asset (folder or zip) behind a function's ``Code`` or a layer's ``Content``."""
        metadata = stack.resources[logical].get("Metadata", {}) or {}
        if metadata.get("aws:asset:path"):
            return stack.artifact.directory / str(metadata["aws:asset:path"])
        asset: Path | None = None
        if isinstance(code.get("S3Key"), str):
            digest = str(code["S3Key"]).split("/")[-1].removesuffix(".zip")
            for candidate in (stack.artifact.directory / f"asset.{digest}", stack.artifact.directory / f"asset.{digest}.zip"):
                if candidate.exists():
                    asset = candidate
        return asset

    def _unzipped(self, asset: Path) -> Path:
        if asset.is_file() and asset.suffix == ".zip":
            folder = self._scratch / asset.stem
            if not folder.exists():
                with zipfile.ZipFile(asset) as archive:
                    archive.extractall(folder)
            return folder
        return asset

    def code_dir(self, stack: Stack, logical: str, props: dict[str, Any]) -> tuple[Path, Path | None]:
        code = props.get("Code", {}) or {}
        asset = self._asset(stack, logical, code)
        if isinstance(code.get("ZipFile"), str):
            folder = self._scratch / f"{stack.name}-{logical}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "index.py").write_text(self._resolver.resolve_str(stack, code["ZipFile"]) if self._resolver else "")
            return folder, None
        if asset is None:
            raise ResolveError("no asset folder (image or S3 code is not emulated)")
        if asset.is_file() and asset.suffix == ".zip":
            return self._unzipped(asset), asset
        if not self._options.from_assets:
            source = find_source_dir(asset, self._options.app_dir.resolve(), self._options.assembly.resolve())
            if source is not None:
                return source, asset
        return asset, asset

    def layers(self, stack: Stack, props: dict[str, Any], runtime: str,
                cache: dict[str, list[Path]]) -> tuple[list[str], list[Path]]:
        """A function's ``Layers``: (ARNs served by the venv, sys.path folders of the template's own layers).

        A ``Ref`` to an ``AWS::Lambda::LayerVersion`` of the same template with a local asset runs from that
        asset's ``python`` folder (and ``python/lib/<runtime>/site-packages``), which Lambda mounts as
        /opt/python. Lambda extracts layers into /opt in order, a later layer's files replacing an earlier
        one's, so later layers come first on sys.path; all layers' site-packages folders precede all
        ``python`` folders, as in Lambda's own sys.path.
        """
        assert self._resolver is not None
        remote: list[str] = []
        local: list[list[Path]] = []
        raw = props.get("Layers", [])
        for entry in raw if isinstance(raw, list) else self._resolver.resolve(stack, raw):
            target = entry.get("Ref") if isinstance(entry, dict) and len(entry) == 1 else None
            resource = stack.resources.get(str(target)) if isinstance(target, str) else None
            if resource is None or resource.get("Type") != "AWS::Lambda::LayerVersion":
                value = self._resolver.resolve(stack, entry)
                if value is not NO_VALUE:
                    remote.append(str(value))
                continue
            layer = str(target)
            key = f"{stack.name}/{layer}/{runtime}"
            if key not in cache:
                cache[key] = self._layer_paths(stack, layer, runtime)
            if cache[key]:
                local.append(cache[key])
        roots = [paths[-1] for paths in local]
        tops = [{entry.name for entry in root.iterdir() if entry.name != "lib"} for root in roots]
        if any(a & b for i, a in enumerate(tops) for b in tops[i + 1:]):
            # Lambda extracts every layer into the one /opt, so two layers' files can meet in one package (two
            # runtimes of this library share lambda_manifest/); separate sys.path folders cannot do that.
            return remote, self._merged_layers(roots, runtime)
        site = [p for paths in reversed(local) for p in paths if p.name == "site-packages"]
        python = [p for paths in reversed(local) for p in paths if p.name != "site-packages"]
        return remote, site + python

    def _merged_layers(self, roots: list[Path], runtime: str) -> list[Path]:
        """The layers' ``python`` folders overlaid in order (a later layer's file replaces an earlier one's), as
        symlinks in one folder; its sys.path entries as ``_layer_paths`` gives them."""
        key = hashlib.sha1("\0".join(str(r) for r in roots).encode()).hexdigest()[:16]
        merged = self._scratch / f"layers-{key}" / "python"
        if not merged.is_dir():
            for root in roots:
                for directory, _dirs, files in os.walk(root):
                    relative = Path(directory).relative_to(root)
                    (merged / relative).mkdir(parents=True, exist_ok=True)
                    for name in files:
                        target = merged / relative / name
                        if target.is_symlink() or target.exists():
                            target.unlink()
                        target.symlink_to(Path(directory) / name)
        site = merged / "lib" / runtime / "site-packages"
        return [site, merged] if site.is_dir() else [merged]

    def _layer_paths(self, stack: Stack, layer: str, runtime: str) -> list[Path]:
        content = (stack.resources[layer].get("Properties") or {}).get("Content") or {}
        asset = self._asset(stack, layer, content if isinstance(content, dict) else {})
        label = stack.label(layer)
        if asset is None or not asset.exists():
            self._warnings.append(f"{stack.name}/{label}: layer without a local asset is not emulated")
            return []
        root = self._unzipped(asset) / "python"
        if not root.is_dir():
            self._warnings.append(f"{stack.name}/{label}: layer has no python/ folder; Python functions see nothing of it")
            return []
        site = root / "lib" / runtime / "site-packages"
        return [site, root] if site.is_dir() else [root]
