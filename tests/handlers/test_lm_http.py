"""The API toolkit: error contract, 404/405, JSON parsing, validation, pagination, logging, request view."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from api_events import (
    FakeLambdaContext,
    assert_error_response,
    captured_logs,
    http_event,
    response_header,
    response_json,
    rest_event,
)
from aws_lambda_powertools.event_handler.exceptions import BadRequestError
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_manifest.runtime.http import (
    Conflict,
    Principal,
    Schema,
    SchemaError,
    create_app,
    current_request,
    lambda_handler,
    logger,
    parse_json,
    to_json,
)
from lambda_manifest.runtime.http.errors import MalformedJson
from lambda_manifest.runtime.http.pagination import collect_page, decode_cursor, encode_cursor, parse_limit

THING = Schema(
    {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 10},
            "size": {"type": "integer", "minimum": 1, "maximum": 5},
        },
        "additionalProperties": False,
    }
)


def build(payload: str) -> Any:
    app = create_app(payload)  # type: ignore[arg-type]

    @app.get("/things")
    def list_things() -> dict[str, Any]:
        request = current_request()
        return {
            "limit": parse_limit(request.query_param("limit")),
            "price": Decimal("1.50"),
            "count": Decimal("3"),
        }

    @app.post("/things")
    def create_thing() -> tuple[dict[str, Any], int]:
        return current_request().json(THING), 201

    @app.get("/things/<thing_id>")
    def get_thing(thing_id: str) -> dict[str, Any]:
        request = current_request()
        principal = request.principal()
        return {
            "id": thing_id,
            "principal": principal.__dict__ if principal else None,
            "key": request.api_key_id(),
        }

    @app.put("/things/<thing_id>")
    def put_thing(thing_id: str) -> dict[str, Any]:
        raise Conflict("changed", code="VERSION_CONFLICT", details={"current_version": 2})

    @app.delete("/things/<thing_id>")
    def delete_thing(thing_id: str) -> dict[str, Any]:
        raise BadRequestError("powertools style")

    @app.get("/boom")
    def boom() -> dict[str, Any]:
        raise RuntimeError("database password is hunter2")

    return lambda_handler(app)


HTTP = build("2.0")
REST = build("1.0")


def call(handler: Any, event: Any) -> dict[str, Any]:
    response = handler(event, FakeLambdaContext())
    assert isinstance(response, dict)
    return response


# --- Success paths -----------------------------------------------------------------------------------------


def test_get_returns_json_with_decimals_as_numbers() -> None:
    response = call(HTTP, http_event("GET", "/things", query={"limit": "7"}))
    assert response["statusCode"] == 200
    assert response_json(response) == {"limit": 7, "price": 1.5, "count": 3}


def test_post_with_valid_body_on_both_payloads() -> None:
    for handler, event in (
        (HTTP, http_event("POST", "/things", body={"name": "a", "size": 2})),
        (REST, rest_event("POST", "/things", body={"name": "a", "size": 2})),
    ):
        response = call(handler, event)
        assert response["statusCode"] == 201
        assert response_json(response) == {"name": "a", "size": 2}


def test_base64_encoded_body_is_decoded() -> None:
    response = call(HTTP, http_event("POST", "/things", body={"name": "b64"}, base64_body=True))
    assert response["statusCode"] == 201
    assert response_json(response) == {"name": "b64"}


# --- Error contract ---------------------------------------------------------------------------------------


def test_unknown_route_is_404_on_both_payloads() -> None:
    event = http_event("GET", "/nowhere", request_id="req-404")
    error = assert_error_response(call(HTTP, event), 404, "ROUTE_NOT_FOUND")
    assert error["request_id"] == "req-404"
    assert_error_response(call(REST, rest_event("GET", "/nowhere")), 404, "ROUTE_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/things", "GET, POST"),
        ("PATCH", "/things/42", "DELETE, GET, PUT"),
        ("POST", "/boom", "GET"),
        ("HEAD", "/things", "GET, POST"),
    ],
)
def test_wrong_method_on_known_path_is_405_with_allow(method: str, path: str, allow: str) -> None:
    for handler, event in ((HTTP, http_event(method, path)), (REST, rest_event(method, path))):
        response = call(handler, event)
        assert_error_response(response, 405, "METHOD_NOT_ALLOWED")
        assert response_header(response, "Allow") == allow


@pytest.mark.parametrize(
    "raw_body",
    [
        "{bad json",
        "",
        "   ",
        "[1, 2",
        "NaN",
        '{"name": Infinity}',
        "[" * 5000 + "]" * 5000,
        "1" * 5000,
        "\udcff",
    ],
)
def test_malformed_json_is_400(raw_body: str) -> None:
    assert_error_response(call(HTTP, http_event("POST", "/things", raw_body=raw_body)), 400, "MALFORMED_JSON")


def test_missing_body_is_400() -> None:
    assert_error_response(call(REST, rest_event("POST", "/things")), 400, "MALFORMED_JSON")


def test_base64_body_that_is_not_utf8_is_400() -> None:
    event = http_event("POST", "/things", raw_body=base64.b64encode(b"\xff\xfe\x00").decode())
    event["isBase64Encoded"] = True
    assert_error_response(call(HTTP, event), 400, "MALFORMED_JSON")
    event["body"] = "!!!not base64!!!"
    assert_error_response(call(HTTP, event), 400, "MALFORMED_JSON")


def test_validation_failure_is_400_with_details() -> None:
    response = call(HTTP, http_event("POST", "/things", body={"size": 9, "extra": True}))
    error = assert_error_response(response, 400, "VALIDATION_FAILED")
    assert {d["path"] for d in error["details"]} == {"$.name", "$.size", "$.extra"}


def test_api_error_keeps_code_and_details() -> None:
    error = assert_error_response(
        call(HTTP, http_event("PUT", "/things/1", body={})), 409, "VERSION_CONFLICT"
    )
    assert error["details"] == {"current_version": 2}


def test_powertools_service_errors_get_the_same_shape() -> None:
    error = assert_error_response(call(HTTP, http_event("DELETE", "/things/1")), 400, "BAD_REQUEST")
    assert error["message"] == "powertools style"


def test_bad_limit_is_400() -> None:
    for limit in ("0", "101", "abc", "-1", "1.5", "²"):
        assert_error_response(
            call(HTTP, http_event("GET", "/things", query={"limit": limit})), 400, "INVALID_LIMIT"
        )


def test_unexpected_exception_is_500_without_leaking_and_logged_with_request_id() -> None:
    with captured_logs(logger) as logs:
        response = call(HTTP, http_event("GET", "/boom", request_id="req-500"))
    error = assert_error_response(response, 500, "INTERNAL_ERROR")
    assert "hunter2" not in response["body"] and "RuntimeError" not in response["body"]
    assert error["request_id"] == "req-500"
    record = json.loads(logs.getvalue().strip().splitlines()[-1])
    assert record["level"] == "ERROR"
    assert record["request_id"] == "req-500"
    assert record["function_request_id"]
    assert "hunter2" in record["exception"]


def test_every_log_line_has_both_request_ids() -> None:
    context = FakeLambdaContext(aws_request_id="lambda-req-1")
    with captured_logs(logger) as logs:
        HTTP(http_event("POST", "/things", raw_body="{", request_id="api-req-1"), context)
        HTTP(http_event("POST", "/things", body={"name": ""}, request_id="api-req-1"), context)
        logger.info("from inside the invocation's log context")
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert len(lines) == 3
    assert all(line["request_id"] == "api-req-1" for line in lines)
    assert all(line["function_request_id"] == "lambda-req-1" for line in lines)


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "string",
        {},
        {"version": "2.0"},
        {
            "version": "2.0",
            "rawPath": "/things",
            "requestContext": {"http": {"method": 3, "path": "/"}, "stage": "$default"},
        },
    ],
)
def test_malformed_events_are_500_invalid_event(event: Any) -> None:
    response = call(HTTP, event)
    error = assert_error_response(response, 500, "INVALID_EVENT")
    assert error["request_id"]


def test_payload_version_mismatch_is_500_invalid_event() -> None:
    assert_error_response(call(HTTP, rest_event("GET", "/things")), 500, "INVALID_EVENT")
    assert_error_response(call(REST, http_event("GET", "/things")), 500, "INVALID_EVENT")


def test_wrong_typed_fields_are_500_invalid_event() -> None:
    for field, value in (
        ("headers", ["x"]),
        ("body", {"a": 1}),
        ("queryStringParameters", {"a": 1}),
        ("isBase64Encoded", "yes"),
    ):
        event = http_event("GET", "/things")
        event[field] = value
        assert_error_response(call(HTTP, event), 500, "INVALID_EVENT")


def test_create_app_rejects_unknown_payload() -> None:
    with pytest.raises(ValueError, match="payload"):
        create_app("3.0")  # type: ignore[arg-type]


def test_current_request_outside_a_handler_raises() -> None:
    with pytest.raises(RuntimeError, match="lambda_handler"):
        current_request()


# --- Request view ------------------------------------------------------------------------------------------


def principal_of(handler: Any, event: dict[str, Any]) -> Any:
    return response_json(call(handler, event))["principal"]


def test_principal_from_http_lambda_authorizer() -> None:
    event = http_event(
        "GET", "/things/1", authorizer={"lambda": {"sub": "u1", "tenant": "t1", "scopes": "a b"}}
    )
    assert principal_of(HTTP, event) == {"sub": "u1", "tenant": "t1", "scopes": ["a", "b"]}


def test_principal_from_http_jwt_authorizer() -> None:
    authorizer = {"jwt": {"claims": {"sub": "u2", "custom:tenant": "t2"}, "scopes": ["items:read"]}}
    assert principal_of(HTTP, http_event("GET", "/things/1", authorizer=authorizer)) == {
        "sub": "u2",
        "tenant": "t2",
        "scopes": ["items:read"],
    }


def test_principal_from_rest_lambda_authorizer_and_cognito() -> None:
    flat = {"principalId": "u3", "sub": "u3", "tenant": "", "scopes": "x"}
    assert principal_of(REST, rest_event("GET", "/things/1", authorizer=flat)) == {
        "sub": "u3",
        "tenant": "",
        "scopes": ["x"],
    }
    cognito = {"claims": {"sub": "u4", "scope": "s1 s2"}}
    assert principal_of(REST, rest_event("GET", "/things/1", authorizer=cognito))["sub"] == "u4"


def test_no_principal_without_authorizer() -> None:
    assert principal_of(HTTP, http_event("GET", "/things/1")) is None
    assert principal_of(HTTP, http_event("GET", "/things/1", authorizer={"iam": {}})) is None


def test_rest_api_key_id() -> None:
    body = response_json(call(REST, rest_event("GET", "/things/1", api_key_id="key-123")))
    assert body["key"] == "key-123"
    assert response_json(call(REST, rest_event("GET", "/things/1")))["key"] is None


def test_principal_dataclass_defaults() -> None:
    assert Principal(sub="s") == Principal(sub="s", tenant="", scopes=())


# --- Validator ---------------------------------------------------------------------------------------------


def errors(schema: dict[str, Any], value: Any) -> list[str]:
    return [f"{i.path} {i.message}" for i in Schema(schema).errors(value)]


def test_validator_types_are_strict() -> None:
    assert errors({"type": "integer"}, True) == ["$ must be of type integer"]
    assert errors({"type": "integer"}, 1.0) == ["$ must be of type integer"]
    assert errors({"type": "number"}, False) == ["$ must be of type number"]
    assert errors({"type": "number"}, 1) == []
    assert errors({"type": ["string", "null"]}, None) == []
    assert errors({"type": "array"}, {}) == ["$ must be of type array"]


def test_validator_keywords() -> None:
    assert errors({"enum": [1, "a"]}, True) == ["$ must be one of [1, 'a']"]
    assert errors({"enum": [1, "a"]}, 1) == []
    assert errors({"minLength": 2, "maxLength": 3}, "a") == ["$ must be at least 2 character(s) long"]
    assert errors({"maxLength": 3, "pattern": "^x"}, "yyyy") == ["$ must be at most 3 character(s) long"]
    assert errors({"pattern": "^[A-Z]+$"}, "abc") == ["$ must match the pattern ^[A-Z]+$"]
    assert errors({"minimum": 0, "maximum": 1}, -1) == ["$ must be >= 0"]
    assert errors({"minimum": 0, "maximum": 1}, 2.5) == ["$ must be <= 1"]
    assert errors({"minItems": 1}, []) == ["$ must have at least 1 item(s)"]
    assert errors({"maxItems": 1, "items": {"type": "string"}}, [1, 2]) == ["$ must have at most 1 item(s)"]
    assert errors({"items": {"type": "string"}}, ["a", 2]) == ["$[1] must be of type string"]
    assert errors({"additionalProperties": {"type": "integer"}}, {"a": 1, "b": "x"}) == [
        "$.b must be of type integer"
    ]


def test_validator_caps_issues_and_long_names() -> None:
    schema = {"type": "object", "additionalProperties": False}
    assert len(Schema(schema).errors({f"k{i}": i for i in range(1000)})) == 20  # the first 20, not 1,000
    (issue,) = Schema(schema).errors({"x" * 10_000: 1})
    assert len(issue.path) < 80


def test_schema_typos_fail_at_definition_time() -> None:
    with pytest.raises(SchemaError, match="maxLenght"):
        Schema({"type": "object", "properties": {"name": {"type": "string", "maxLenght": 3}}})
    with pytest.raises(SchemaError, match="unknown type"):
        Schema({"type": "str"})


def test_parse_json_rejects_non_json_constants() -> None:
    with pytest.raises(MalformedJson):
        parse_json('{"a": NaN}')
    assert parse_json('{"a": 1.5}') == {"a": 1.5}


# --- Pagination --------------------------------------------------------------------------------------------


def test_cursor_round_trip_and_rejections() -> None:
    cursor = encode_cursor({"pk": "ITEM#1"})
    assert "=" not in cursor
    assert decode_cursor(cursor, ("pk",)) == {"pk": "ITEM#1"}
    bad = [
        "",
        "!!!",
        "x" * 5000,
        encode_cursor({"other": "x"}),
        encode_cursor({"pk": ""}),
        base64.urlsafe_b64encode(b"[1]").decode(),
        base64.urlsafe_b64encode(b'{"pk": 5}').decode(),
        base64.urlsafe_b64encode(b"[" * 1500).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]
    for value in bad:
        with pytest.raises(Exception, match="cursor") as info:
            decode_cursor(value, ("pk",))
        assert getattr(info.value, "code", None) == "INVALID_CURSOR"


def test_parse_limit_defaults_and_bounds() -> None:
    assert parse_limit(None) == 20
    assert parse_limit("") == 20
    assert parse_limit("1") == 1
    assert parse_limit("100") == 100


def _fetcher(batches: list[tuple[list[int], str | None]]) -> tuple[Any, list[Any]]:
    seen: list[Any] = []

    def fetch(key: dict[str, str] | None) -> tuple[list[int], dict[str, str] | None]:
        seen.append(key)
        items, last = batches[len(seen) - 1]
        return items, ({"pk": last} if last else None)

    return fetch, seen


def key_of(item: int) -> dict[str, str]:
    return {"pk": str(item)}


def test_collect_page_keeps_fetching_through_sparse_batches() -> None:
    fetch, seen = _fetcher([([], "a"), ([1], "b"), ([2, 3], None)])
    page = collect_page(fetch, start_key=None, limit=10, key_of=key_of)
    assert page.items == [1, 2, 3] and page.next_key is None
    assert seen == [None, {"pk": "a"}, {"pk": "b"}]


def test_collect_page_cursor_points_at_last_returned_item_mid_batch() -> None:
    fetch, _ = _fetcher([([1, 2, 3, 4], None)])
    page = collect_page(fetch, start_key=None, limit=2, key_of=key_of)
    assert page.items == [1, 2] and page.next_key == {"pk": "2"}


def test_collect_page_full_at_end_of_table_has_no_cursor() -> None:
    fetch, _ = _fetcher([([1, 2], None)])
    assert collect_page(fetch, start_key=None, limit=2, key_of=key_of).next_key is None


def test_collect_page_stops_after_max_fetches() -> None:
    fetch, seen = _fetcher([([], str(i)) for i in range(20)])
    page = collect_page(fetch, start_key={"pk": "s"}, limit=5, key_of=key_of, max_fetches=3)
    assert page.items == [] and page.next_key == {"pk": "2"} and len(seen) == 3


def test_to_json_handles_dynamodb_types() -> None:
    assert (
        to_json({"a": Decimal("2"), "b": Decimal("0.25"), "c": {"y", "x"}, "d": "é"})
        == '{"a":2,"b":0.25,"c":["x","y"],"d":"é"}'
    )


# --- Property: nothing escapes ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)
bodies = st.one_of(
    st.none(),
    st.text(max_size=200),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.fixed_dictionaries({"name": json_values, "size": json_values}).map(json.dumps),
    st.just('{"name": "' + "n" * 100_000 + '"}'),
    st.integers(min_value=10**100, max_value=10**200).map(str),
)
ROUTES = [
    ("GET", "/things"),
    ("POST", "/things"),
    ("GET", "/things/1"),
    ("PUT", "/things/1"),
    ("DELETE", "/things/1"),
]
paths = st.sampled_from(
    ["/things", "/things/1", "/things/x%20y", "/boom", "/", "/nowhere", "//", "/things/1/extra"]
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
MUTABLE_FIELDS = [
    "headers",
    "queryStringParameters",
    "pathParameters",
    "body",
    "isBase64Encoded",
    "requestContext",
    "rawPath",
    "version",
    "cookies",
    "httpMethod",
    "path",
    "multiValueHeaders",
]


@st.composite
def routed_events(draw: st.DrawFn) -> tuple[str, Any]:
    """Well-formed events for real routes, with hostile bodies, query strings and headers."""
    payload = draw(st.sampled_from(["2.0", "1.0"]))
    method, path = draw(st.sampled_from(ROUTES))
    query = draw(st.dictionaries(st.sampled_from(["limit", "cursor", "x"]), st.text(max_size=12), max_size=3))
    headers = draw(
        st.dictionaries(
            st.sampled_from(["Content-Type", "If-Match", "X-Any"]), st.text(max_size=20), max_size=2
        )
    )
    make = http_event if payload == "2.0" else rest_event
    return payload, make(method, path, query=query or None, headers=headers, raw_body=draw(bodies))


@st.composite
def malformed_events(draw: st.DrawFn) -> tuple[str, Any]:
    """Events with unknown methods/paths, fields deleted or replaced by random JSON, or no event at all."""
    payload = draw(st.sampled_from(["2.0", "1.0"]))
    method = draw(methods | st.text(max_size=8))
    path = draw(paths | st.text(max_size=30))
    make = http_event if payload == "2.0" else rest_event
    event: Any = make(method, path, raw_body=draw(bodies))
    for field in draw(st.lists(st.sampled_from(MUTABLE_FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            event.pop(field, None)
        else:
            event[field] = draw(json_values)
    if draw(st.booleans()):
        event = draw(json_values)
    return payload, event


def assert_contract(response: Any) -> None:
    assert isinstance(response, dict)
    assert isinstance(response["statusCode"], int)
    if response["statusCode"] >= 400:
        assert_error_response(response)


@settings(max_examples=150, deadline=None)
@given(routed_events())
def test_property_hostile_input_on_real_routes_is_never_a_5xx(case: tuple[str, Any]) -> None:
    payload, event = case
    response = (HTTP if payload == "2.0" else REST)(event, FakeLambdaContext())
    assert_contract(response)
    assert response["statusCode"] < 500, response


@settings(max_examples=150, deadline=None)
@given(malformed_events())
def test_property_malformed_events_get_a_well_formed_response(case: tuple[str, Any]) -> None:
    payload, event = case
    assert_contract((HTTP if payload == "2.0" else REST)(event, FakeLambdaContext()))
