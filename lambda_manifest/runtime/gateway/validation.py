"""Request bodies: JSON decoding that never fails with anything but a 400, the chat completion and prompt
parameters, and the cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from . import context, prompts
from .config import GatewayConfig
from .errors import GatewayError, bad_request
from .providers import OPENAI_PASSTHROUGH
from .transport import Http

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

ROLES = ("system", "developer", "user", "assistant", "tool")
CACHE_PARAMS = (
    "temperature", "top_p", "max_tokens", "stop", "response_format", "tools", "tool_choice", *OPENAI_PASSTHROUGH,
)  # fmt: skip
PROMPT_BODY_KEYS = (
    "variables",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "user",
    "response_format",
    "conversation_id",
    "stream",
    "stream_options",
)
MAX_JSON_DEPTH = 64


def decode_json_body(http: Http, cfg: GatewayConfig) -> dict[str, Any]:
    """The body as a JSON object; any problem with the client's bytes is a 400, never an exception: invalid
    UTF-8, a lone surrogate (raw or as a ``\\ud800`` escape, which cannot be sent on to a provider), nesting
    deeper than ``MAX_JSON_DEPTH``, or anything that is not an object."""
    if http.too_large:
        raise GatewayError(413, f"request body exceeds {cfg.max_body_bytes} bytes", "request_too_large")
    if not http.body:
        raise bad_request("request body is required (JSON object)", "invalid_json")
    try:
        doc = json.loads(http.body)
    except RecursionError:
        raise bad_request(f"request body nests deeper than {MAX_JSON_DEPTH} levels", "invalid_json") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"request body is not valid JSON: {type(exc).__name__}", "invalid_json") from None
    # Depth first: Python 3.14's parser decodes nesting that 3.11's rejects with RecursionError, and a deep
    # array must get the same answer on both.
    _check_tree(doc)
    if not isinstance(doc, dict):
        raise bad_request("request body must be a JSON object", "invalid_json")
    return doc


def _check_tree(doc: Any) -> None:
    """Depth and strings of a decoded document, without recursion (a deep document must not exhaust the
    stack here either)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise bad_request(f"request body nests deeper than {MAX_JSON_DEPTH} levels", "invalid_json")
        if isinstance(value, dict):
            for k, v in value.items():
                _check_text(k)
                stack.append((v, depth + 1))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            _check_text(value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request("request body contains an unpaired UTF-16 surrogate (e.g. \\ud800)", "invalid_json") from None


def _num(doc: dict[str, Any], name: str, lo: float, hi: float) -> float | int | None:
    v = doc.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not (lo <= v <= hi):
        raise bad_request(f"{name} must be a number between {lo:g} and {hi:g}", "invalid_parameter", name)
    return v


def _int(doc: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    v = doc.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not (lo <= v <= hi):
        raise bad_request(f"{name} must be an integer between {lo} and {hi}", "invalid_parameter", name)
    return v


def validate_params(doc: dict[str, Any]) -> dict[str, Any]:
    """The sampling/format parameters shared by chat completions and prompt overrides."""
    params: dict[str, Any] = {}
    for name, lo, hi in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        v = _num(doc, name, lo, hi)
        if v is not None:
            params[name] = v
    mt = _int(doc, "max_tokens", 1, 10_000_000)
    mct = _int(doc, "max_completion_tokens", 1, 10_000_000)
    if mt is not None or mct is not None:
        params["max_tokens"] = mt if mt is not None else mct
    stop = doc.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not (
            isinstance(stop, list) and 1 <= len(stop) <= 4 and all(isinstance(s, str) and s for s in stop)
        ):
            raise bad_request(
                "stop must be a string or a list of 1-4 non-empty strings", "invalid_parameter", "stop"
            )
        params["stop"] = stop
    user = doc.get("user")
    if user is not None:
        if not isinstance(user, str) or len(user) > 256:
            raise bad_request("user must be a string (max 256 characters)", "invalid_parameter", "user")
        params["user"] = user
    rf = doc.get("response_format")
    if rf is not None:
        if not (isinstance(rf, dict) and rf.get("type") in ("text", "json_object", "json_schema")):
            raise bad_request(
                "response_format must be an object with type text, json_object or json_schema",
                "invalid_parameter",
                "response_format",
            )
        params["response_format"] = rf
    return params


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list", "invalid_parameter", "messages")
    if len(messages) > 2048:
        raise bad_request("too many messages (max 2048)", "invalid_parameter", "messages")
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        p = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad_request(f"{p} must be an object", "invalid_parameter", p)
        role = m.get("role")
        if role not in ROLES:
            raise bad_request(f"{p}.role must be one of {', '.join(ROLES)}", "invalid_parameter", f"{p}.role")
        content = m.get("content")
        tool_calls = m.get("tool_calls")
        if content is None:
            if not (role == "assistant" and tool_calls):
                raise bad_request(f"{p}.content is required", "invalid_parameter", f"{p}.content")
        elif isinstance(content, list):
            if not all(isinstance(part, dict) and isinstance(part.get("type"), str) for part in content):
                raise bad_request(
                    f"{p}.content parts must be objects with a type", "invalid_parameter", f"{p}.content"
                )
            for part in content:
                if part["type"] == "text" and not isinstance(part.get("text"), str):
                    raise bad_request(
                        f"{p}.content text parts need a text string", "invalid_parameter", f"{p}.content"
                    )
        elif not isinstance(content, str):
            raise bad_request(
                f"{p}.content must be a string or a list of parts", "invalid_parameter", f"{p}.content"
            )
        msg: dict[str, Any] = {"role": role, "content": content}
        if tool_calls is not None:
            if (
                role != "assistant"
                or not isinstance(tool_calls, list)
                or not all(
                    isinstance(tc, dict)
                    and isinstance(tc.get("function"), dict)
                    and isinstance(tc["function"].get("name"), str)
                    for tc in tool_calls
                )
            ):
                raise bad_request(f"{p}.tool_calls is malformed", "invalid_parameter", f"{p}.tool_calls")
            msg["tool_calls"] = tool_calls
        if role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                raise bad_request(
                    f"{p}.tool_call_id is required for tool messages",
                    "invalid_parameter",
                    f"{p}.tool_call_id",
                )
            msg["tool_call_id"] = m["tool_call_id"]
        if m.get("name") is not None:
            if not isinstance(m["name"], str):
                raise bad_request(f"{p}.name must be a string", "invalid_parameter", f"{p}.name")
            msg["name"] = m["name"]
        out.append(msg)
    return out


@dataclass
class ChatCall:
    """One completion request, whichever API it came through, in OpenAI chat terms."""

    alias: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    conversation_id: str | None = None  # the stored history this request continues
    prompt: str | None = None
    stream: bool = False
    include_usage: bool = False
    api: str = "chat"  # "chat" (chat completions, prompts), "responses" or "messages" (Anthropic)
    store_as: str | None = None  # the conversation item the exchange is stored under (None: not stored)
    native: dict[str, Any] | None = None  # the Anthropic Messages body, passed through to Anthropic
    response_id: str | None = None  # the answer's id when the API fixes it up front (Responses)
    echo: dict[str, Any] | None = None  # request fields the API's answer repeats (Responses: tools, text...)


def stream_flag(doc: dict[str, Any], cfg: GatewayConfig) -> bool:
    """The body's ``stream``, refused with a 400 that names the fix when the gateway does not stream."""
    stream = doc.get("stream")
    if stream not in (None, True, False):
        raise bad_request("stream must be a boolean", "invalid_parameter", "stream")
    if stream and not cfg.streaming.enabled:
        raise bad_request(
            "this gateway does not stream: deploy it with AiGatewayFunction(streaming=True) (a REST API), or "
            "send stream: false",
            "streaming_not_supported",
            "stream",
        )
    return bool(stream)


def _stream_options(doc: dict[str, Any], cfg: GatewayConfig) -> tuple[bool, bool]:
    stream = doc.get("stream")
    if stream not in (None, True, False):
        raise bad_request("stream must be a boolean", "invalid_parameter", "stream")
    options = doc.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, dict) or not all(k in ("include_usage",) for k in options) \
                or not isinstance(options.get("include_usage", False), bool):
            raise bad_request("stream_options must be {\"include_usage\": true|false}", "invalid_parameter",
                              "stream_options")  # fmt: skip
        if not stream:
            raise bad_request("stream_options is only allowed with stream: true", "invalid_parameter",
                              "stream_options")  # fmt: skip
        include_usage = bool(options.get("include_usage"))
    return stream_flag(doc, cfg), include_usage


def _conversation_id(http: Http, body_value: Any) -> str | None:
    header = http.headers.get("x-lm-conversation-id")
    if body_value is not None and not isinstance(body_value, str):
        raise bad_request("conversation_id must be a string", "invalid_parameter", "conversation_id")
    if header and body_value and header != body_value:
        raise bad_request(
            "x-lm-conversation-id and conversation_id disagree", "invalid_parameter", "conversation_id"
        )
    cid = body_value or header or None
    if cid is not None and not context.CONVERSATION_ID_RE.match(cid):
        raise bad_request(
            "conversation id must be 1-128 characters of letters, digits and ._:-",
            "invalid_parameter",
            "conversation_id",
        )
    return cid


def tool_params(tools: Any, tc: Any) -> dict[str, Any]:
    """``tools`` and ``tool_choice`` in OpenAI chat terms, checked."""
    params: dict[str, Any] = {}
    if tools is not None:
        if not isinstance(tools, list) or not all(
            isinstance(t, dict)
            and t.get("type") == "function"
            and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str)
            for t in tools
        ):
            raise bad_request(
                "tools must be a list of {type: function, function: {name, ...}}",
                "invalid_parameter",
                "tools",
            )
        if tools:
            params["tools"] = tools
    if tc is not None:
        if not (
            tc in ("none", "auto", "required")
            or (isinstance(tc, dict) and isinstance(tc.get("function"), dict))
        ):
            raise bad_request(
                "tool_choice must be none, auto, required or a function choice",
                "invalid_parameter",
                "tool_choice",
            )
        params["tool_choice"] = tc
    return params


def parse_chat(http: Http, cfg: GatewayConfig) -> ChatCall:
    doc = decode_json_body(http, cfg)
    stream, include_usage = _stream_options(doc, cfg)
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required", "missing_parameter", "model")
    n = doc.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise bad_request("only n=1 is supported", "unsupported_parameter", "n")
    messages = validate_messages(doc.get("messages"))
    params = validate_params(doc)
    params.update(tool_params(doc.get("tools"), doc.get("tool_choice")))
    for name in OPENAI_PASSTHROUGH:
        v = doc.get(name)
        if v is not None:
            if not isinstance(v, int | float | bool | dict):
                raise bad_request(f"{name} has an invalid type", "invalid_parameter", name)
            params[name] = v
    cid = _conversation_id(http, doc.get("conversation_id"))
    return ChatCall(model, messages, params, cid, None, stream, include_usage, store_as=cid)


def parse_prompt(http: Http, cfg: GatewayConfig, name: str, version: str | None) -> ChatCall:
    prompt = cfg.prompts.get(name)
    if prompt is None:
        raise GatewayError(404, f"prompt {name!r} does not exist", "prompt_not_found")
    if version is None:
        v = prompt.latest
    else:
        if not version.isdigit() or int(version) not in prompt.versions:
            raise GatewayError(404, f"prompt {name!r} has no version {version!r}", "prompt_version_not_found")
        v = int(version)
    pv = prompt.versions[v]
    doc = decode_json_body(http, cfg)
    unknown = sorted(k for k in doc if k not in PROMPT_BODY_KEYS)
    if unknown:
        raise bad_request(
            f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(PROMPT_BODY_KEYS)})",
            "unknown_parameter",
            unknown[0],
        )
    messages = prompts.render(pv, doc.get("variables", {}))
    params = {**pv.params, **validate_params(doc)}
    stream, include_usage = _stream_options(doc, cfg)
    cid = _conversation_id(http, doc.get("conversation_id"))
    return ChatCall(pv.model, messages, params, cid, f"{name}@{v}", stream, include_usage, store_as=cid)


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def cache_key(call: ChatCall) -> str:
    doc: dict[str, Any] = {
        "model": call.alias,
        "messages": call.messages,
        "params": {k: call.params[k] for k in CACHE_PARAMS if call.params.get(k) is not None},
    }
    if call.api != "chat":  # the cached answer is rendered per API; a pass-through body is part of the request
        doc["api"] = call.api
        if call.native is not None:
            doc["native"] = {k: v for k, v in call.native.items() if k not in ("stream", "model")}
    canonical = json.dumps(_canonical(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
