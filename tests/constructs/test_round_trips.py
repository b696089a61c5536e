"""Synth cost, counted rather than timed: the jsii round trips to Node one more ObservedFunction adds.

Each round trip costs about half a millisecond and is most of a construct's synth time
(README, "Synth cost"). Counting them is deterministic for a pinned aws-cdk-lib, so a change that adds
reads across the bridge fails here instead of showing up as noise in the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from jsii._kernel.providers import process

from lambda_manifest import Authorizer, HttpServerlessApi, ObservedFunction, RestServerlessApi, Waf

# Measured 47 per function with aws-cdk-lib 2.275 (hand-written code with the same resources: 57).
LIMIT_PER_FUNCTION = 49
# Per route of an HttpServerlessApi: the route and its key, as plain aws-cdk-lib code makes them (2).
LIMIT_PER_ROUTE = 2
# Per route of a RestServerlessApi (measured 11): its resource, method, and the method's acknowledgement
# (a non-Cognito authorizer: AwsSolutions-COG4 with its Checkov counterpart).
LIMIT_PER_REST_ROUTE = 11


@pytest.fixture
def count_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls = [0]
    send = process._NodeProcess.send

    def counting(self: process._NodeProcess, request: object, response_type: object) -> object:
        calls[0] += 1
        return send(self, request, response_type)  # type: ignore[arg-type]

    monkeypatch.setattr(process._NodeProcess, "send", counting)
    yield calls


CODE = "def main(event, context):\n    return event\n"


def per_unit(calls: list[int], build: Callable[[int], None]) -> float:
    """Round trips each further unit adds: ``build(11)`` against ``build(1)``, after ``build(2)`` has loaded every
    module and jsii type involved (as the first stack of a synth does)."""
    build(2)
    calls[0] = 0
    build(1)
    one = calls[0]
    calls[0] = 0
    build(11)
    return (calls[0] - one) / 10


def _functions(functions: int) -> None:
    stack = cdk.Stack(cdk.App(), "RoundTrips")
    code = lambda_.Code.from_inline(CODE)
    for index in range(functions):
        ObservedFunction(stack, f"Fn{index}", handler="index.main", code=code, powertools=False)


def _http_routes(routes: int) -> None:
    stack = cdk.Stack(cdk.App(), "RouteTrips")
    function = ObservedFunction(stack, "Fn", handler="index.main", powertools=False,
                                code=lambda_.Code.from_inline(CODE))
    api = HttpServerlessApi(stack, "Api", authorizer=Authorizer.jwt(issuer="https://issuer.example.com/",
                                                                     audience=["bench"]))
    for index in range(routes):
        api.add_route(f"GET /r{index}/{{id}}", function)


def _rest_routes(routes: int) -> None:
    stack = cdk.Stack(cdk.App(), "RestTrips")
    function = ObservedFunction(stack, "Fn", handler="index.main", powertools=False, timeout=cdk.Duration.seconds(29),
                                code=lambda_.Code.from_inline(CODE))
    api = RestServerlessApi(stack, "Api", authorizer=Authorizer.iam(),
                            waf=Waf.disabled("counting synth round trips, never deployed"))
    for index in range(routes):
        api.add_route(f"GET /r{index}/{{id}}", function)


def test_each_further_function_stays_within_its_round_trip_budget(count_calls: list[int]) -> None:
    assert 40 <= per_unit(count_calls, _functions) <= LIMIT_PER_FUNCTION


def test_each_further_route_stays_within_its_round_trip_budget(count_calls: list[int]) -> None:
    assert 1 <= per_unit(count_calls, _http_routes) <= LIMIT_PER_ROUTE


def test_each_further_rest_route_stays_within_its_round_trip_budget(count_calls: list[int]) -> None:
    assert 3 <= per_unit(count_calls, _rest_routes) <= LIMIT_PER_REST_ROUTE
