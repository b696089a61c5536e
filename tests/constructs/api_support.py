"""What the API construct tests share: a function that fits behind both kinds, authorizers, builders."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from lambda_manifest import (
    Authorizer,
    FunctionOptions,
    HttpServerlessApi,
    ObservedFunction,
    PropsError,
    RestServerlessApi,
)
from tests.support import INLINE, new_stack

ISSUER = "https://issuer.example.com/"
FN_OPTIONS = FunctionOptions(code=INLINE)
REASON = "Load balancer health checks carry no credentials and return no data."


def function(stack: cdk.Stack, id: str = "Fn") -> ObservedFunction:
    # 29 s fits behind both API kinds (the REST integration timeout is 29 s, HTTP's 30 s).
    return ObservedFunction(stack, id, handler="index.main", code=INLINE, timeout=cdk.Duration.seconds(29))


def jwt() -> Authorizer:
    return Authorizer.jwt(issuer=ISSUER, audience=["items"])


def lambda_auth(**options: Any) -> Authorizer:
    options.setdefault("jwks_url", "https://issuer.example.com/.well-known/jwks.json")
    options.setdefault("issuer", ISSUER)
    options.setdefault("audience", ["items"])
    return Authorizer.lambda_(function_options=FN_OPTIONS, **options)


def http_api(stack: cdk.Stack, **props: Any) -> HttpServerlessApi:
    props.setdefault("authorizer", jwt())
    return HttpServerlessApi(stack, "Api", **props)


def rest_api(stack: cdk.Stack, **props: Any) -> RestServerlessApi:
    props.setdefault("authorizer", Authorizer.cognito())
    return RestServerlessApi(stack, "Api", **props)


def only(template: Template, type_: str) -> dict[str, Any]:
    found = template.find_resources(type_)
    assert len(found) == 1, f"expected one {type_}, found {list(found)}"
    return dict(next(iter(found.values())))


def props_of(template: Template, type_: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template.find_resources(type_).values()]


def fails(build: Any) -> str:
    with pytest.raises(PropsError) as error:
        build(new_stack())
    return str(error.value)
