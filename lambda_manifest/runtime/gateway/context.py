"""Conversation context: stored history prepended, trimmed to the model's token budget.

Budget = ``context_window`` of the alias - (request ``max_tokens`` or ``context.reserve_output_tokens``).
System messages (the request's, else the stored one) and the new turn are always kept; whole turns (a user
message and the assistant/tool messages after it) are dropped oldest first. When ``context.summarize_with``
names an alias, dropped turns (and the previous summary) are summarized by that model into a system note that
is kept in the conversation; if the summary itself does not fit, more turns are dropped, then the summary.
If the system messages + new turn alone exceed the budget the request is refused with 400
``context_length_exceeded``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .accounting import estimate_message_tokens
from .errors import GatewayError

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

CONVERSATION_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SUMMARY_PREFIX = "Summary of the earlier conversation: "


@dataclass
class ContextPlan:
    messages: list[dict[str, Any]]  # what is sent to the model
    kept: list[dict[str, Any]]  # stored history that survived trimming
    dropped: list[dict[str, Any]]
    summary: str | None
    system: str | None  # system text to store with the conversation


def split_turns(history: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    turns: list[list[dict[str, Any]]] = []
    for m in history:
        if m.get("role") == "user" or not turns:
            turns.append([m])
        else:
            turns[-1].append(m)
    return turns


def _tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_message_tokens(m) for m in messages)


def summary_message(summary: str) -> dict[str, Any]:
    return {"role": "system", "content": SUMMARY_PREFIX + summary}


def build(
    request_messages: list[dict[str, Any]],
    stored: dict[str, Any] | None,
    history: list[dict[str, Any]],
    budget: int,
    summarize: Callable[[list[dict[str, Any]], str | None], str | None] | None,
) -> ContextPlan:
    system_msgs = [m for m in request_messages if m.get("role") in ("system", "developer")]
    new_msgs = [m for m in request_messages if m.get("role") not in ("system", "developer")]
    stored_system = (stored or {}).get("system")
    if not system_msgs and stored_system:
        system_msgs = [{"role": "system", "content": stored_system}]
    system_text = "\n\n".join(str(m.get("content") or "") for m in system_msgs) or None
    summary: str | None = (stored or {}).get("summary")
    turns = split_turns(history)
    fixed = _tokens(system_msgs) + _tokens(new_msgs)

    def total() -> int:
        return (
            fixed + sum(_tokens(t) for t in turns) + (_tokens([summary_message(summary)]) if summary else 0)
        )

    if fixed > budget:
        raise GatewayError(
            400,
            f"the new messages need ~{fixed} tokens but the model's budget is {budget}",
            "context_length_exceeded",
        )
    dropped: list[dict[str, Any]] = []
    while total() > budget and turns:
        dropped.extend(turns.pop(0))
    if dropped and summarize is not None:
        new_summary = summarize(dropped, summary)
        if new_summary:
            summary = new_summary
        while total() > budget and turns:
            dropped.extend(turns.pop(0))
    if total() > budget:
        summary = None
    kept = [m for t in turns for m in t]
    messages = list(system_msgs) + ([summary_message(summary)] if summary else []) + kept + new_msgs
    return ContextPlan(messages=messages, kept=kept, dropped=dropped, summary=summary, system=system_text)


def cap_history(
    history: list[dict[str, Any]], max_messages: int, max_bytes: int = 350_000
) -> list[dict[str, Any]]:
    """Keep at most ``max_messages`` (and ~``max_bytes`` of JSON: a DynamoDB item is at most 400 KB), dropping
    whole turns from the front."""
    import json

    turns = split_turns(history)
    while len(turns) > 1 and (
        sum(len(t) for t in turns) > max_messages
        or len(json.dumps(turns, separators=(",", ":"), ensure_ascii=False).encode()) > max_bytes
    ):
        turns.pop(0)
    flat = [m for t in turns for m in t]
    return flat[-max_messages:]


def transcript(messages: list[dict[str, Any]], previous_summary: str | None) -> str:
    lines = []
    if previous_summary:
        lines.append(f"(earlier summary) {previous_summary}")
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else str(content or "")
        lines.append(f"{m.get('role', '?')}: {text}")
    return "\n".join(lines)
