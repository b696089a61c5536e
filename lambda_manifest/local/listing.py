"""What the local runner prints and serves about itself: the start-up table, the routes with curl lines, and
the ready file's JSON (``--ready-file``, ``GET /_local/ready``)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_manifest.local.http_api import HttpApi
from lambda_manifest.local.rest_api import RestApi

if TYPE_CHECKING:
    from lambda_manifest.local.runner import LocalRunner
    from lambda_manifest.local.tokens import Credential


def routes(runner: LocalRunner) -> list[dict[str, Any]]:
    """One entry per route with a ready-to-paste curl line."""
    out: list[dict[str, Any]] = []
    for entry in runner.apis:
        api = entry.api
        base = f"http://127.0.0.1:{entry.server.port}"
        if isinstance(api, HttpApi):
            stage = next(iter(api.stages.values()))
            prefix = base + api.stage_prefix(stage)
            for route in sorted(api.routes, key=lambda r: (r.path, r.method)):
                method = "GET" if route.method in ("ANY", "*") else route.method
                auth = route.authorizer.logical_id if route.authorizer else None
                credential = runner._credential_for(api.stack.name, auth)
                function = route.integration.function if route.integration else None
                if credential is None and function is not None and function.spec.label in runner._gateway_hosts:
                    found = runner._gateway_credential(api.stack.name)
                    if found:
                        auth, credential = found
                target = route.integration.description if route.integration else "no integration"
                out.append(_route_entry(api, entry.kind, route.key, method,
                                             prefix + _sample_path(route.path if route.segments is not None else "/"),
                                             credential, auth, target, route.authorization))
        else:
            stage_name = next(iter(api.stages))
            prefix = f"{base}/{stage_name}"
            api_key = runner.api_keys.get(f"{api.stack.name}/{api.logical_id}")
            for rest_method in sorted(api.methods, key=lambda m: (m.resource_path, m.http_method)):
                if rest_method.http_method == "OPTIONS" and rest_method.integration_type == "MOCK":
                    continue
                verb = "GET" if rest_method.http_method == "ANY" else rest_method.http_method
                auth = rest_method.authorizer.logical_id if rest_method.authorizer else None
                credential = runner._credential_for(api.stack.name, auth)
                target = f"Lambda {rest_method.function.spec.label}" if rest_method.function else rest_method.integration_type
                item = _route_entry(api, entry.kind, f"{rest_method.http_method} {rest_method.resource_path}", verb,
                                         prefix + _sample_path(rest_method.resource_path), credential, auth, target,
                                         rest_method.authorization)
                if rest_method.api_key_required:
                    item["api_key"] = api_key
                    item["curl"] += f" -H 'x-api-key: {api_key or '<no key in the template>'}'"
                out.append(item)
    return out


def _route_entry(api: HttpApi | RestApi, kind: str, key: str, method: str, url: str, credential: Credential | None,
                 authorizer: str | None, target: str, authorization: str) -> dict[str, Any]:
    curl = "curl -s" + ("" if method == "GET" else f" -X {method}") + f" '{url}'"
    if credential is not None:
        curl += f' -H "{credential.header}: ${_variable(api.stack.name, authorizer or "")}"'
    elif authorization not in ("NONE", ""):
        curl += " -H 'Authorization: <a credential your authorizer accepts>'"
    if method in ("POST", "PUT", "PATCH"):
        curl += " -H 'content-type: application/json' -d '{}'"
    return {"api": f"{api.stack.name}/{api.label}", "type": kind, "route": key, "url": url, "target": target,
            "authorization": authorization if authorization != "CUSTOM" else f"Lambda authorizer {authorizer}",
            "credential": credential.value if credential else None,
            "credential_header": credential.header if credential else None, "curl": curl}

def ready_info(runner: LocalRunner) -> dict[str, Any]:
    """What the runner serves, as JSON."""
    return {
        "pid": os.getpid(),
        "moto": runner.moto.endpoint,
        "admin": f"http://127.0.0.1:{runner.admin.port}" if runner.admin else None,
        "apis": [{"label": e.api.label, "stack": e.api.stack.name, "logical_id": e.api.logical_id, "type": e.kind,
                  "port": e.server.port, "url": f"http://127.0.0.1:{e.server.port}" + (
                      e.api.stage_prefix(next(iter(e.api.stages.values()))) if isinstance(e.api, HttpApi)
                      else f"/{next(iter(e.api.stages))}")} for e in runner.apis],
        "routes": routes(runner),
        "credentials": {k: {"header": c.header, "value": c.value, "note": c.note} for k, c in runner.credentials.items()},
        "api_keys": runner.api_keys,
        "functions": [{"label": h.spec.label, "stack": h.spec.stack, "logical_id": h.spec.logical_id,
                       "name": h.spec.name, "handler": h.spec.handler, "code_dir": str(h.spec.code_dir),
                       "layer_paths": [str(p) for p in h.spec.layer_paths], "layers": h.spec.layers,
                       "timeout": h.spec.timeout} for h in runner.hosts],
        "resources": [{"stack": c.stack, "logical_id": c.logical_id, "label": c.label, "kind": c.kind,
                       "name": c.name, "detail": c.detail} for c in runner.provisioned.created],
        "workers": [{"function": p.mapping.host.spec.label, "queue": p.mapping.queue_arn.split(":")[-1],
                     "batch_size": p.mapping.batch_size, "window": p.mapping.window,
                     "report_batch_item_failures": p.mapping.report_failures}
                    for p in runner.pollers if p.mapping.host is not None],
        "schedules": [{"stack": s.stack, "label": s.label, "logical_id": s.logical_id, "expression": s.expression}
                      for s in runner.schedules],
        "child_pids": runner.child_pids(),
        "warnings": runner.warnings,
    }

def table(runner: LocalRunner) -> str:
    """The start-up table: services, APIs, credentials, routes with curl lines, functions, workers, schedules."""
    lines: list[str] = []
    elapsed = time.monotonic() - runner.started_at
    stacks = ", ".join(s.name for s in runner.stacks)
    lines.append(f"lambda-manifest local: {stacks} (ready in {elapsed:.1f} s, Ctrl-C stops everything)")
    lines.append("")
    lines.append(f"AWS services (moto)   {runner.moto.endpoint}   fake account 123456789012, us-east-1")
    lines.append(f"  e.g. AWS_ENDPOINT_URL={runner.moto.endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
                 "AWS_REGION=us-east-1 aws s3 ls")
    groups: dict[str, list[str]] = {}
    for created in runner.provisioned.created:
        text = f"{created.name}" + (f"  ({created.detail})" if created.detail else "")
        groups.setdefault(created.kind, []).append(text)
    for kind in ("table", "queue", "topic", "subscription", "bucket", "secret", "parameter", "event bus", "rule"):
        for index, text in enumerate(groups.get(kind, [])):
            lines.append(f"  {(kind + 's') if index == 0 else '':<15} {text}")
    if runner.apis:
        lines.append("")
        lines.append("APIs")
        for entry in runner.apis:
            name = f"{entry.api.stack.name}/{entry.api.label}"
            lines.append(f"  {entry.kind:<5} {name:<40} http://127.0.0.1:{entry.server.port}")
    if runner.credentials or runner.api_keys:
        lines.append("")
        lines.append("Credentials (paste into your shell)")
        for key, credential in runner.credentials.items():
            stack, _, logical = key.partition("/")
            lines.append(f"  export {_variable(stack, logical)}='{credential.value}'   # {credential.note}")
        for label, value in runner.api_keys.items():
            lines.append(f"  # {label}: x-api-key {value}  (from the template's ApiKey and UsagePlan)")
        for entry in runner.apis:
            targets = {r.integration.function.spec.label for r in getattr(entry.api, "routes", [])
                       if r.integration is not None and r.integration.function is not None}
            found = runner._gateway_credential(entry.api.stack.name)
            if targets & runner._gateway_hosts and found:
                variable = _variable(entry.api.stack.name, found[0])
                lines.append(f"  # OpenAI client: OpenAI(base_url='http://127.0.0.1:{entry.server.port}/v1', "
                             f"api_key=os.environ['{variable}'].removeprefix('Bearer '))")
        if runner.local_model is not None:
            lines.append(f"  # model providers answered by the local model at {runner.local_model.url}")
    entries = routes(runner)
    if entries:
        lines.append("")
        lines.append("Routes")
        current = None
        for route in entries:
            if route["api"] != current:
                current = route["api"]
                lines.append(f"  {current} ({route['type']})")
            lines.append(f"    {route['route']:<30} -> {route['target']}")
            lines.append(f"        {route['curl']}")
    if runner.hosts:
        lines.append("")
        lines.append("Functions (one worker process per concurrent request; edits reload on the next call)")
        for host in runner.hosts:
            layers = f"  {len(host.spec.layer_paths)} path(s) from the template's layers" if host.spec.layer_paths else ""
            layers += "  layers -> venv site-packages" if host.spec.layers else ""
            lines.append(f"  {host.spec.label:<34} {host.spec.handler:<36} timeout {host.spec.timeout:.0f} s  "
                         f"code {_short(host.spec.code_dir)}{layers}")
    workers = [p for p in runner.pollers if p.mapping.host is not None]
    if workers:
        lines.append("")
        lines.append("Queue workers")
        for poller in workers:
            m = poller.mapping
            extra = ", partial batch responses" if m.report_failures else ""
            lines.append(f"  {m.queue_arn.split(':')[-1]} -> {m.label}  (batch {m.batch_size}, window {m.window:.0f} s{extra})")
    if runner.schedules:
        lines.append("")
        lines.append("Schedules (not on a clock: fire by hand)")
        admin = f"http://127.0.0.1:{runner.admin.port}" if runner.admin else ""
        for schedule in runner.schedules:
            short = schedule.label.split("/")[-1]
            lines.append(f"  {schedule.stack}/{schedule.label}  {schedule.expression}")
            lines.append(f"      curl -s -X POST {admin}/_local/fire/{schedule.stack}/{schedule.label}"
                         f"    # or: python -m lambda_manifest.local --fire {short}")
    if runner.warnings:
        lines.append("")
        lines.append("Not emulated / warnings")
        lines.extend(f"  - {w}" for w in runner.warnings)
    return "\n".join(lines)


def _variable(stack: str, logical: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "_", f"{stack}_{logical}").upper()
    return f"TOKEN_{re.sub(r'_[0-9A-F]{8}$', '', name)}"


def _sample_path(path: str) -> str:
    path = re.sub(r"\{[^}/]+\+\}", "anything/here", path)
    return re.sub(r"\{[^}/]+\}", "1", path)


def _short(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
