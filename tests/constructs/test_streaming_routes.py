"""RestServerlessApi routes that stream (``add_route(..., stream=True)``): the REST integration, the stream runtime on
the function, and one ``test_fails_*`` per misuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from lambda_manifest import (
    Authorizer,
    FunctionOptions,
    HttpServerlessApi,
    ObservedFunction,
    PropsError,
    ResponseCache,
    RestServerlessApi,
)
from tests.support import INLINE, nag_findings, new_stack

REASON = "Public server-sent events feed of build statuses; it carries no private data."
APP = Path(__file__).resolve().parents[2] / "lambda_src"


def rest(stack: cdk.Stack, **options: Any) -> RestServerlessApi:
    return RestServerlessApi(stack, "Api", **options)


def methods(template: Template) -> dict[str, dict[str, Any]]:
    return {m["Properties"]["HttpMethod"] + " " + str(m["Properties"].get("ResourceId")): m["Properties"]
            for m in template.find_resources("AWS::ApiGateway::Method").values()
            if m["Properties"]["Integration"].get("Type") == "AWS_PROXY"}  # fmt: skip


def function_props(template: Template, handler: str) -> dict[str, Any]:
    for fn in template.find_resources("AWS::Lambda::Function").values():
        if fn["Properties"]["Handler"] == handler:
            return dict(fn["Properties"])
    raise AssertionError(handler)


def test_a_streaming_route_is_a_stream_integration_and_the_function_runs_the_stream_runtime() -> None:
    stack = new_stack()
    api = rest(stack)
    fn = ObservedFunction(stack, "Events", handler="index.main", code=INLINE, timeout=cdk.Duration.minutes(10))
    api.add_route("GET /events", fn, public_reason=REASON, stream=True)
    template = Template.from_stack(stack)
    (method,) = methods(template).values()
    assert method["Integration"]["ResponseTransferMode"] == "STREAM"
    assert method["Integration"]["TimeoutInMillis"] == 600_000  # as long as the function may run
    props = function_props(template, "index.main")
    assert props["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == (
        "/opt/python/lambda_manifest/runtime/stream/wrapper")
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    stream_layers = [logical for logical in layers if "Stream" in logical]
    assert len(stream_layers) == 1
    assert {"Ref": stream_layers[0]} in props["Layers"]


def test_function_options_stream_too_and_keep_their_own_timeout_limit_of_fifteen_minutes() -> None:
    stack = new_stack()
    api = rest(stack)
    route = api.add_route("POST /export", FunctionOptions(handler="index.main", code=INLINE,
                                                          timeout=cdk.Duration.minutes(15)),
                          public_reason=REASON, stream=True)  # fmt: skip
    assert isinstance(route.function, ObservedFunction)
    (method,) = methods(Template.from_stack(stack)).values()
    assert method["Integration"]["TimeoutInMillis"] == 900_000


def test_two_streaming_routes_of_one_function_add_one_layer() -> None:
    stack = new_stack()
    api = rest(stack)
    plain = lambda_.Function(stack, "Plain", runtime=lambda_.Runtime.PYTHON_3_14, handler="index.main",
                             code=INLINE, timeout=cdk.Duration.seconds(60))  # fmt: skip
    api.add_route("GET /a", plain, public_reason=REASON, stream=True)
    api.add_route("GET /b", plain, public_reason=REASON, stream=True)
    props = function_props(Template.from_stack(stack), "index.main")
    assert len(props["Layers"]) == 1
    assert props["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"].endswith("/stream/wrapper")


def test_a_node_function_streams_natively_without_the_wrapper() -> None:
    stack = new_stack()
    api = rest(stack)
    node = lambda_.Function(stack, "Node", runtime=lambda_.Runtime.NODEJS_22_X, handler="index.handler",
                            code=lambda_.Code.from_inline("exports.handler = async () => ({})"))  # fmt: skip
    api.add_route("GET /n", node, public_reason=REASON, stream=True)
    props = function_props(Template.from_stack(stack), "index.handler")
    assert "Layers" not in props and "Environment" not in props


def test_an_http_api_has_no_streaming_routes() -> None:
    stack = new_stack()
    api = HttpServerlessApi(stack, "Api")
    fn = ObservedFunction(stack, "Fn", handler="index.main", code=INLINE)
    with pytest.raises(TypeError, match="unexpected keyword argument 'stream'"):
        api.add_route("GET /events", fn, public_reason=REASON, stream=True)  # type: ignore[call-arg]


def test_fails_streaming_with_a_cache_an_imported_function_or_a_mixed_function() -> None:
    stack = new_stack()
    api = rest(stack, cache=ResponseCache())
    fn = ObservedFunction(stack, "Fn", handler="index.main", code=INLINE, timeout=cdk.Duration.seconds(29))
    with pytest.raises(PropsError, match="cache must be unset on a streaming route"):
        api.add_route("GET /events", fn, public_reason=REASON, stream=True, cache=True)
    imported = lambda_.Function.from_function_arn(stack, "Imported",
                                                  "arn:aws:lambda:us-east-1:111122223333:function:x")
    with pytest.raises(PropsError, match="handler must be a function defined in this app when stream=True"):
        api.add_route("GET /imported", imported, public_reason=REASON, stream=True)
    api.add_route("GET /plain", fn, public_reason=REASON)
    with pytest.raises(PropsError, match="give all its routes the same stream="):
        api.add_route("GET /stream", fn, public_reason=REASON, stream=True)


def test_nag_clean_streaming_rest_route(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        api = rest(stack, authorizer=Authorizer.cognito())
        fn = ObservedFunction(stack, "Events", handler="index.main", code=INLINE, timeout=cdk.Duration.minutes(5))
        api.add_route("GET /events", fn, stream=True)

    assert nag_findings(build, tmp_path) == []
