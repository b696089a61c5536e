"""Every API x every provider kind, buffered and streamed: the official ``openai`` SDK (chat completions,
Responses) and the official ``anthropic`` SDK (Messages) against the gateway handler over loopback HTTP, with a
loopback fake of each provider kind speaking its own wire format (OpenAI JSON and SSE, Anthropic JSON and
Messages events, Bedrock Converse JSON and event-stream frames read by boto3). Text, tool calls, structured
output, usage and what reached the provider are checked for each pair."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from gateway_fakes import FakeBedrock, GatewayEnv, bedrock_client, serve_handler

APIS = ("chat", "responses", "messages")
PROVIDERS = {"oa": "fast", "an": "claude", "br": "bedrock"}  # provider -> the alias it serves alone
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@dataclass
class Answer:
    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    stop: str = ""


@dataclass
class Clients:
    openai: openai.OpenAI
    anthropic: anthropic.Anthropic


@pytest.fixture
def env() -> Iterator[GatewayEnv]:
    with GatewayEnv() as e:
        yield e


@pytest.fixture
def bedrock(env: GatewayEnv) -> Iterator[FakeBedrock]:
    with bedrock_client("hi from bedrock") as fake:
        yield fake


@pytest.fixture
def clients(env: GatewayEnv, bedrock: FakeBedrock) -> Iterator[Clients]:
    key = env.create_key()
    with serve_handler() as base_url:
        yield Clients(openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=10),
                      anthropic.Anthropic(api_key=key, base_url=base_url.removesuffix("/v1"), max_retries=0,
                                          timeout=10))


def ask(c: Clients, api: str, model: str, *, stream: bool, tools: bool = False, schema: bool = False) -> Answer:
    """One request through ``api`` with its SDK, read into an ``Answer``."""
    prompt = "hello there"
    if api == "chat":
        kw: dict[str, Any] = {}
        if tools:
            kw["tools"] = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
        if schema:
            kw["response_format"] = {"type": "json_schema", "json_schema": {"name": "weather", "schema": WEATHER}}
        if not stream:
            r = c.openai.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], **kw)
            m = r.choices[0].message
            assert r.usage is not None
            return Answer(m.content or "", [(tc.function.name, json.loads(tc.function.arguments))
                                            for tc in m.tool_calls or []],
                          r.usage.prompt_tokens, r.usage.completion_tokens, r.choices[0].finish_reason)
        answer, args, names = Answer(), {}, {}
        for chunk in c.openai.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                                      stream=True, stream_options={"include_usage": True}, **kw):
            if chunk.usage is not None:
                answer.input_tokens, answer.output_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            for choice in chunk.choices:
                answer.text += choice.delta.content or ""
                answer.stop = choice.finish_reason or answer.stop
                for tc in choice.delta.tool_calls or []:
                    names[tc.index] = names.get(tc.index, "") + ((tc.function and tc.function.name) or "")
                    args[tc.index] = args.get(tc.index, "") + ((tc.function and tc.function.arguments) or "")
        answer.calls = [(names[i], json.loads(args[i])) for i in sorted(names)]
        return answer
    if api == "responses":
        kw = {}
        if tools:
            kw["tools"] = [{"type": "function", "name": "get_weather", "parameters": WEATHER, "strict": False}]
        if schema:
            kw["text"] = {"format": {"type": "json_schema", "name": "weather", "schema": WEATHER}}
        if stream:
            events = list(c.openai.responses.create(model=model, input=prompt, stream=True, **kw))
            types = [e.type for e in events]
            assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
            assert [e.sequence_number for e in events] == list(range(len(events)))
            response = events[-1].response
            deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            assert deltas == response.output_text
        else:
            response = c.openai.responses.create(model=model, input=prompt, **kw)
        assert response.usage is not None and response.status == "completed"
        calls = [(o.name, json.loads(o.arguments)) for o in response.output if o.type == "function_call"]
        return Answer(response.output_text, calls, response.usage.input_tokens, response.usage.output_tokens,
                      response.status)
    kw = {"tools": [{"name": "get_weather", "input_schema": WEATHER}]} if tools else {}
    params = {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": prompt}], **kw}
    if stream:
        with c.anthropic.messages.stream(**params) as s:  # the SDK's own accumulator checks the event order
            message = s.get_final_message()
    else:
        message = c.anthropic.messages.create(**params)
    text = "".join(b.text for b in message.content if b.type == "text")
    calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
    usage = message.usage
    input_tokens = usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    return Answer(text, calls, input_tokens, usage.output_tokens, message.stop_reason or "")


def upstream(env: GatewayEnv, bedrock: FakeBedrock, provider: str) -> dict[str, Any]:
    fake = {"oa": env.oa, "an": env.an}.get(provider)
    body: dict[str, Any] = (fake.requests if fake is not None else bedrock.requests)[-1]["body"]
    return body


EXPECTED_USAGE = {"oa": (11, 7), "an": (11, 7), "br": (9, 4)}


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("api", APIS)
def test_text(clients: Clients, env: GatewayEnv, bedrock: FakeBedrock, api: str, provider: str, stream: bool) -> None:
    answer = ask(clients, api, PROVIDERS[provider], stream=stream)
    assert answer.text == ("hi from bedrock" if provider == "br" else f"{provider}: hello there")
    assert (answer.input_tokens, answer.output_tokens) == EXPECTED_USAGE[provider]
    assert answer.stop in ("stop", "completed", "end_turn")
    sent = upstream(env, bedrock, provider)
    if api == "messages" and provider == "an":  # passed through: the body the SDK wrote, model replaced
        assert sent["messages"] == [{"role": "user", "content": "hello there"}] and sent["max_tokens"] == 100
    assert sent.get("model", sent.get("modelId")) in ("gpt-4o-mini", "claude-haiku", None)


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("api", APIS)
def test_tool_calls(
    clients: Clients, env: GatewayEnv, bedrock: FakeBedrock, api: str, provider: str, stream: bool
) -> None:
    call = {"name": "get_weather", "input": {"city": "Paris"}}
    env.oa.tool_call = env.an.tool_call = bedrock.tool_call = call
    answer = ask(clients, api, PROVIDERS[provider], stream=stream, tools=True)
    assert answer.calls == [("get_weather", {"city": "Paris"})]
    sent = upstream(env, bedrock, provider)
    if provider == "oa":
        assert sent["tools"][0]["function"]["name"] == "get_weather"
        assert sent["tools"][0]["function"]["parameters"] == WEATHER
    elif provider == "an":
        assert sent["tools"] == [{"name": "get_weather", "input_schema": WEATHER} | (
            {} if api == "messages" else {"description": ""})]
    elif api == "messages":  # Claude on Bedrock: the Messages body passed through with InvokeModel
        assert sent["tools"] == [{"name": "get_weather", "input_schema": WEATHER}]
        assert sent["anthropic_version"] == "bedrock-2023-05-31"
        assert bedrock.requests[-1]["path"].endswith("/invoke-with-response-stream" if stream else "/invoke")
    else:
        spec = sent["toolConfig"]["tools"][0]["toolSpec"]
        assert spec["name"] == "get_weather" and spec["inputSchema"] == {"json": WEATHER}


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_structured_output(
    clients: Clients, env: GatewayEnv, bedrock: FakeBedrock, api: str, provider: str, stream: bool
) -> None:
    """A JSON schema: OpenAI-compatible providers get response_format; Anthropic and Bedrock, which have none,
    are made to call one tool whose input schema is the schema, and its input is the answer's text."""
    doc = {"city": "Oslo"}
    env.oa.reply = json.dumps(doc)
    env.an.tool_call = bedrock.tool_call = {"name": "json_output", "input": doc}
    answer = ask(clients, api, PROVIDERS[provider], stream=stream, schema=True)
    assert json.loads(answer.text) == doc and answer.calls == []
    sent = upstream(env, bedrock, provider)
    if provider == "oa":
        assert sent["response_format"]["json_schema"]["schema"] == WEATHER
    elif provider == "an":
        assert sent["tool_choice"] == {"type": "tool", "name": "json_output"}
        assert sent["tools"][0]["input_schema"] == WEATHER
    else:
        assert sent["toolConfig"]["toolChoice"] == {"tool": {"name": "json_output"}}


def test_a_provider_that_cannot_do_it_is_a_clear_400_and_a_fallback_that_can_answers(
    clients: Clients, env: GatewayEnv
) -> None:
    env.reconfigure(lambda c: c["providers"]["oa"].update(supports_tools=False))
    with pytest.raises(openai.BadRequestError) as refused:
        ask(clients, "chat", "fast", stream=False, tools=True)
    assert refused.value.code == "unsupported_parameter" and "cannot do tools" in refused.value.message
    assert env.oa.calls == 0  # refused before anything was sent
    with pytest.raises(anthropic.BadRequestError):
        ask(clients, "messages", "fast", stream=True, tools=True)
    # "smart" is gpt-4o (no tools here) then Claude: Claude answers, the first target is skipped, not failed.
    env.an.tool_call = {"name": "get_weather", "input": {"city": "Rome"}}
    assert ask(clients, "responses", "smart", stream=False, tools=True).calls == [("get_weather", {"city": "Rome"})]
    assert env.oa.calls == 0 and env.an.calls == 1
    # Structured output together with tools cannot be forced on Anthropic: 400, nothing sent.
    with pytest.raises(openai.BadRequestError):
        clients.openai.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": WEATHER}}],
            response_format={"type": "json_object"})
    assert env.an.calls == 1


def test_a_document_block_goes_to_claude_and_is_a_400_for_the_others(clients: Clients, env: GatewayEnv) -> None:
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "the doc"}}
    content = [document, {"type": "text", "text": "summarize"}]
    reply = clients.anthropic.messages.create(model="claude", max_tokens=50,
                                              messages=[{"role": "user", "content": content}])
    assert reply.content[0].text == "an: summarize"  # type: ignore[union-attr]
    assert env.an.requests[-1]["body"]["messages"][0]["content"][0] == document
    with pytest.raises(anthropic.BadRequestError) as refused:
        clients.anthropic.messages.create(model="fast", max_tokens=50, messages=[{"role": "user", "content": content}])
    assert "document" in str(refused.value) and env.oa.calls == 0


def test_multi_turn_tool_results_translate_to_each_provider(
    clients: Clients, env: GatewayEnv, bedrock: FakeBedrock
) -> None:
    """A tool call and its result, sent back in Anthropic's form, reach OpenAI as a tool message and a Bedrock
    model other than Claude (Converse) as a toolResult block; Claude on Bedrock gets them as written."""
    env.reconfigure(lambda c: c["models"].update(nova={"targets": [{"provider": "br", "model": "amazon.nova-lite-v1:0"}]}))
    messages: Any = [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_9", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_9", "content": "sunny"},
                                     {"type": "text", "text": "and so?"}]},
    ]
    tools: Any = [{"name": "get_weather", "input_schema": WEATHER}]
    clients.anthropic.messages.create(model="fast", max_tokens=50, messages=messages, tools=tools)
    sent = env.oa.requests[-1]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_9"
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert sent[2] == {"role": "tool", "tool_call_id": "call_9", "content": "sunny"}
    assert sent[3]["role"] == "user"
    clients.anthropic.messages.create(model="bedrock", max_tokens=50, messages=messages, tools=tools)
    assert bedrock.requests[-1]["body"]["messages"] == messages  # Claude on Bedrock: passed through
    clients.anthropic.messages.create(model="nova", max_tokens=50, messages=messages, tools=tools)
    turns = bedrock.requests[-1]["body"]["messages"]
    assert turns[1]["content"][0]["toolUse"] == {"toolUseId": "call_9", "name": "get_weather",
                                                 "input": {"city": "Paris"}}
    assert turns[2]["content"][0] == {"toolResult": {"toolUseId": "call_9", "content": [{"text": "sunny"}]}}
