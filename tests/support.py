"""Helpers for construct tests (synthesize a throwaway stack and inspect it), and for reading the streams of the
OpenAI and Anthropic SDKs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from lambda_manifest import ALL_PACKS, apply_compliance_packs

INLINE = lambda_.Code.from_inline("def main(event, context):\n    return event\n")


def new_stack(name: str = "TestStack") -> cdk.Stack:
    return cdk.Stack(cdk.App(), name)


def template_of(build: Callable[[cdk.Stack], Any]) -> Template:
    stack = new_stack()
    build(stack)
    return Template.from_stack(stack)


def nag_findings(build: Callable[[cdk.Stack], Any], outdir: Path) -> list[str]:
    """Synthesize ``build`` with all five packs; return the unacknowledged findings as 'rule @ path'."""
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "NagStack")
    build(stack)
    apply_compliance_packs(app, packs=ALL_PACKS)
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error) and "Validation failed" not in str(error):
            raise
    report = outdir / "validation-report.json"
    if not report.exists():
        return []
    data = json.loads(report.read_text())
    return sorted(
        f"{violation['ruleName']} @ {construct['constructPath']}"
        for plugin in data.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    )


def resources_of_type(template: Template, type_: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(type_)
    return found


@dataclass
class Streamed:
    """What a client read from a stream: when its first text arrived (``time.monotonic()``, the machine's clock,
    comparable across processes), the text pieces, and the usage, event types and final message it saw."""

    first_at: float | None = None
    pieces: list[str] = field(default_factory=list)
    usage: Any = None
    types: list[str] = field(default_factory=list)
    final: Any = None

    def text(self, piece: str) -> None:
        self.first_at = self.first_at or time.monotonic()
        self.pieces.append(piece)


def openai_stream(client: Any, model: str, prompt: str) -> Streamed:
    """``chat.completions.create(stream=True)`` with usage, read to its end."""
    out = Streamed()
    for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                                stream=True, stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            out.text(chunk.choices[0].delta.content)
        out.usage = chunk.usage or out.usage
    return out


def anthropic_stream(client: Any, model: str, prompt: str, max_tokens: int = 200) -> Streamed:
    """``messages.stream(...)`` read to its end, with the SDK's accumulated final message."""
    out = Streamed()
    with client.messages.stream(model=model, max_tokens=max_tokens,
                                messages=[{"role": "user", "content": prompt}]) as stream:
        for event in stream:
            out.types.append(event.type)
            if event.type == "text":
                out.text(event.text)
        out.final = stream.get_final_message()
    out.usage = out.final.usage
    return out
