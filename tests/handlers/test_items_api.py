"""Items CRUD handler (HTTP API payload 2.0) against moto's DynamoDB."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from api_events import (
    FakeLambdaContext,
    assert_error_response,
    http_event,
    response_header,
    response_json,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from items_api import handler
from items_api.service import ItemStore, expected_version, owner_of, parse_if_match
from moto import mock_aws

from lambda_manifest.runtime.aws import reset_clients
from lambda_manifest.runtime.http import Principal
from lambda_manifest.runtime.http.dynamodb import client
from lambda_manifest.runtime.http.pagination import encode_cursor

TABLE = "items"


@pytest.fixture(scope="module")
def table() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("ITEMS_TABLE_NAME", TABLE)
        reset_clients()
        handler.store.cache_clear()
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield TABLE
        reset_clients()
        handler.store.cache_clear()


class Caller:
    """A caller with its own tenant, so tests never see each other's items."""

    def __init__(self, tenant: str | None = None, sub: str = "user-1") -> None:
        self.tenant = tenant if tenant is not None else f"tenant-{uuid.uuid4().hex[:8]}"
        self.sub = sub

    def __call__(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        route = path if not path.startswith("/items/") else "/items/{id}"
        params = {"id": path.split("/")[2]} if route == "/items/{id}" else None
        event = http_event(
            method,
            path,
            route_key=f"{method} {route}",
            path_parameters=params,
            body=body,
            headers=headers,
            query=query,
            authorizer={
                "lambda": {
                    "sub": self.sub,
                    "tenant": self.tenant,
                    "scopes": "items:write",
                    "auth_type": "jwt",
                }
            },
        )
        return handler.main(event, FakeLambdaContext())


@pytest.fixture
def caller(table: str) -> Caller:
    return Caller()


def create(caller: Caller, **fields: Any) -> dict[str, Any]:
    response = caller("POST", "/items", body={"name": "widget", **fields})
    assert response["statusCode"] == 201, response
    return response_json(response)


# --- Create --------------------------------------------------------------------------------------------------


def test_create_returns_201_with_location_etag_and_server_fields(caller: Caller) -> None:
    response = caller(
        "POST", "/items", body={"name": "Lamp", "description": "Bright", "price": 19.99, "tags": ["home"]}
    )
    assert response["statusCode"] == 201
    item = response_json(response)
    assert uuid.UUID(item["id"]).version == 4
    assert response_header(response, "Location") == f"/items/{item['id']}"
    assert response_header(response, "ETag") == '"1"'
    assert item["version"] == 1
    assert item["created_at"] == item["updated_at"] and item["created_at"].endswith("Z")
    assert {k: item[k] for k in ("name", "description", "price", "tags")} == {
        "name": "Lamp",
        "description": "Bright",
        "price": 19.99,
        "tags": ["home"],
    }
    assert "owner" not in item and "pk" not in item


def test_create_with_only_a_name_omits_optional_fields(caller: Caller) -> None:
    item = create(caller)
    assert set(item) == {"id", "name", "created_at", "updated_at", "version"}


def test_price_round_trips_exactly(caller: Caller) -> None:
    for price in (0, 0.1, 12.5, 1_000_000_000_000):
        assert create(caller, price=price)["price"] == price


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "$.name"),
        ({"name": ""}, "$.name"),
        ({"name": "x" * 201}, "$.name"),
        ({"name": 5}, "$.name"),
        ({"name": "a", "description": "d" * 2001}, "$.description"),
        ({"name": "a", "price": -0.01}, "$.price"),
        ({"name": "a", "price": "1"}, "$.price"),
        ({"name": "a", "price": True}, "$.price"),
        ({"name": "a", "price": 5e-324}, "$.price"),
        ({"name": "a", "tags": ["t"] * 21}, "$.tags"),
        ({"name": "a", "tags": [1]}, "$.tags[0]"),
        ({"name": "a", "tags": "solo"}, "$.tags"),
        ({"name": "a", "id": "mine"}, "$.id"),
        ({"name": "a", "version": 3}, "$.version"),
    ],
)
def test_create_validation(caller: Caller, body: dict[str, Any], path: str) -> None:
    error = assert_error_response(caller("POST", "/items", body=body), 400, "VALIDATION_FAILED")
    assert path in {d["path"] for d in error["details"]}


def test_create_rejects_non_object_and_malformed_bodies(caller: Caller) -> None:
    assert_error_response(caller("POST", "/items", body=["name"]), 400, "VALIDATION_FAILED")
    event = http_event(
        "POST", "/items", raw_body="{nope", authorizer={"lambda": {"sub": "u", "tenant": caller.tenant}}
    )
    assert_error_response(handler.main(event, FakeLambdaContext()), 400, "MALFORMED_JSON")


def test_unauthenticated_request_is_401(table: str) -> None:
    response = handler.main(http_event("POST", "/items", body={"name": "x"}), FakeLambdaContext())
    assert_error_response(response, 401, "UNAUTHENTICATED")


def test_owner_can_come_from_a_jwt_authorizer(table: str) -> None:
    authorizer = {"jwt": {"claims": {"sub": f"jwt-user-{uuid.uuid4()}"}, "scopes": None}}
    created = handler.main(
        http_event("POST", "/items", body={"name": "x"}, authorizer=authorizer), FakeLambdaContext()
    )
    assert created["statusCode"] == 201
    listed = handler.main(http_event("GET", "/items", authorizer=authorizer), FakeLambdaContext())
    assert [i["id"] for i in response_json(listed)["items"]] == [response_json(created)["id"]]


# --- Read ------------------------------------------------------------------------------------------------------


def test_get_returns_the_item_with_etag(caller: Caller) -> None:
    item = create(caller, price=3)
    response = caller("GET", f"/items/{item['id']}")
    assert response["statusCode"] == 200
    assert response_json(response) == item
    assert response_header(response, "ETag") == '"1"'


def test_get_missing_or_malformed_id_is_404(caller: Caller) -> None:
    assert_error_response(caller("GET", f"/items/{uuid.uuid4()}"), 404, "ITEM_NOT_FOUND")
    assert_error_response(caller("GET", "/items/not-a-uuid"), 404, "ITEM_NOT_FOUND")
    assert_error_response(caller("GET", "/items/" + "a" * 3000), 404, "ITEM_NOT_FOUND")


def test_tenants_cannot_see_or_touch_each_others_items(table: str) -> None:
    alice, mallory = Caller(), Caller()
    item = create(alice)
    path = f"/items/{item['id']}"
    assert_error_response(mallory("GET", path), 404, "ITEM_NOT_FOUND")
    assert_error_response(mallory("PUT", path, body={"name": "pwned"}), 404, "ITEM_NOT_FOUND")
    assert_error_response(mallory("DELETE", path), 404, "ITEM_NOT_FOUND")
    assert response_json(mallory("GET", "/items"))["items"] == []
    assert response_json(alice("GET", path))["name"] == "widget"


def test_users_of_the_same_tenant_share_items(table: str) -> None:
    tenant = f"shared-{uuid.uuid4().hex[:6]}"
    item = create(Caller(tenant, sub="a"))
    assert Caller(tenant, sub="b")("GET", f"/items/{item['id']}")["statusCode"] == 200


# --- List ------------------------------------------------------------------------------------------------------


def test_list_paginates_with_an_opaque_cursor(caller: Caller) -> None:
    created = {create(caller, description=str(i))["id"] for i in range(7)}
    create(Caller())  # someone else's item must never show up
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = response_json(caller("GET", "/items", query=query))
        assert len(body["items"]) <= 3
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created)
    assert pages == 3


def test_list_default_limit_is_20(caller: Caller) -> None:
    for _ in range(21):
        create(caller)
    body = response_json(caller("GET", "/items"))
    assert len(body["items"]) == 20 and body["next_cursor"]


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-5"])
def test_list_bad_limit_is_400(caller: Caller, limit: str) -> None:
    assert_error_response(caller("GET", "/items", query={"limit": limit}), 400, "INVALID_LIMIT")


@pytest.mark.parametrize("cursor", ["garbage!", "eyJub3QiOiJrZXkifQ", encode_cursor({"sk": "x"}), "x" * 4000])
def test_list_bad_cursor_is_400(caller: Caller, cursor: str) -> None:
    assert_error_response(caller("GET", "/items", query={"cursor": cursor}), 400, "INVALID_CURSOR")


# --- Replace ---------------------------------------------------------------------------------------------------


def test_put_replaces_all_mutable_fields_and_bumps_version(caller: Caller) -> None:
    item = create(caller, description="old", price=5, tags=["a"])
    response = caller("PUT", f"/items/{item['id']}", body={"name": "renamed", "price": 7.5})
    assert response["statusCode"] == 200
    updated = response_json(response)
    assert updated["name"] == "renamed" and updated["price"] == 7.5
    assert "description" not in updated and "tags" not in updated  # full replace
    assert updated["version"] == 2 and updated["created_at"] == item["created_at"]
    assert response_header(response, "ETag") == '"2"'
    assert response_json(caller("GET", f"/items/{item['id']}")) == updated


def test_put_with_matching_if_match_succeeds_and_stale_one_conflicts(caller: Caller) -> None:
    item = create(caller)
    path = f"/items/{item['id']}"
    assert caller("PUT", path, body={"name": "v2"}, headers={"If-Match": '"1"'})["statusCode"] == 200
    error = assert_error_response(
        caller("PUT", path, body={"name": "v3"}, headers={"If-Match": '"1"'}), 409, "VERSION_CONFLICT"
    )
    assert error["details"] == {"current_version": 2}
    assert caller("PUT", path, body={"name": "v3"}, headers={"If-Match": 'W/"2"'})["statusCode"] == 200
    assert caller("PUT", path, body={"name": "v4"}, headers={"If-Match": "*"})["statusCode"] == 200


def test_put_with_body_version(caller: Caller) -> None:
    item = create(caller)
    path = f"/items/{item['id']}"
    assert_error_response(caller("PUT", path, body={"name": "x", "version": 7}), 409, "VERSION_CONFLICT")
    assert response_json(caller("PUT", path, body={"name": "x", "version": 1}))["version"] == 2


def test_put_with_disagreeing_preconditions_is_400(caller: Caller) -> None:
    item = create(caller)
    response = caller(
        "PUT", f"/items/{item['id']}", body={"name": "x", "version": 1}, headers={"If-Match": '"2"'}
    )
    assert_error_response(response, 400, "CONFLICTING_PRECONDITIONS")


def test_put_bad_if_match_is_400(caller: Caller) -> None:
    item = create(caller)
    response = caller("PUT", f"/items/{item['id']}", body={"name": "x"}, headers={"If-Match": "banana"})
    assert_error_response(response, 400, "INVALID_IF_MATCH")


def test_put_missing_item_is_404(caller: Caller) -> None:
    assert_error_response(caller("PUT", f"/items/{uuid.uuid4()}", body={"name": "x"}), 404, "ITEM_NOT_FOUND")
    assert_error_response(
        caller("PUT", f"/items/{uuid.uuid4()}", body={"name": "x"}, headers={"If-Match": '"1"'}),
        404,
        "ITEM_NOT_FOUND",
    )


def test_put_validates_the_body(caller: Caller) -> None:
    item = create(caller)
    assert_error_response(caller("PUT", f"/items/{item['id']}", body={"price": 1}), 400, "VALIDATION_FAILED")


# --- Delete ----------------------------------------------------------------------------------------------------


def test_delete_is_204_then_404(caller: Caller) -> None:
    item = create(caller)
    response = caller("DELETE", f"/items/{item['id']}")
    assert response["statusCode"] == 204 and not response["body"]
    assert_error_response(caller("GET", f"/items/{item['id']}"), 404, "ITEM_NOT_FOUND")
    assert_error_response(caller("DELETE", f"/items/{item['id']}"), 404, "ITEM_NOT_FOUND")


def test_delete_honours_if_match(caller: Caller) -> None:
    item = create(caller)
    path = f"/items/{item['id']}"
    assert_error_response(caller("DELETE", path, headers={"If-Match": '"9"'}), 409, "VERSION_CONFLICT")
    assert caller("DELETE", path, headers={"If-Match": '"1"'})["statusCode"] == 204


def test_method_not_allowed_and_unknown_route(caller: Caller) -> None:
    response = caller("PATCH", "/items")
    assert_error_response(response, 405, "METHOD_NOT_ALLOWED")
    assert response_header(response, "Allow") == "GET, POST"
    assert_error_response(caller("GET", "/widgets"), 404, "ROUTE_NOT_FOUND")


def test_missing_table_env_is_a_logged_500(monkeypatch: pytest.MonkeyPatch, caller: Caller) -> None:
    monkeypatch.delenv("ITEMS_TABLE_NAME")
    handler.store.cache_clear()
    try:
        assert_error_response(caller("GET", "/items"), 500, "INTERNAL_ERROR")
    finally:
        handler.store.cache_clear()


# --- Service functions, called directly ----------------------------------------------------------------------


def test_owner_of() -> None:
    assert owner_of(Principal(sub="u", tenant="t")) == "tenant#t"
    assert owner_of(Principal(sub="u")) == "sub#u"
    with pytest.raises(Exception, match="authenticated"):
        owner_of(None)


def test_if_match_parsing() -> None:
    assert parse_if_match(None) is None
    assert parse_if_match("*") is None
    assert parse_if_match('"12"') == 12
    assert parse_if_match('W/"3"') == 3
    assert parse_if_match("4") == 4
    for bad in ('"0"', '"-1"', "abc", '"1.5"', '"' + "9" * 20 + '"', ""):
        with pytest.raises(Exception, match="If-Match"):
            parse_if_match(bad)
    assert expected_version(None, 3) == 3
    assert expected_version('"3"', 3) == 3


def test_store_directly(table: str) -> None:
    store = ItemStore(TABLE, client())
    item = store.create("sub#direct", {"name": "n", "tags": []}, now="2025-01-01T00:00:00.000Z")
    assert item["tags"] == [] and item["created_at"] == "2025-01-01T00:00:00.000Z"
    assert store.get("sub#direct", item["id"]) == item
    replaced = store.replace(
        "sub#direct", item["id"], {"name": "m"}, expected_version=1, now="2025-01-02T00:00:00.000Z"
    )
    assert replaced["updated_at"] == "2025-01-02T00:00:00.000Z" and replaced["version"] == 2
    store.delete("sub#direct", item["id"], expected_version=2)


# --- Property: malformed input never escapes ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)
item_like = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=250), json_values)},
    optional={
        "description": st.one_of(st.text(max_size=50), json_values),
        "price": st.one_of(st.floats(), st.integers(), json_values),
        "tags": st.one_of(st.lists(st.text(max_size=120), max_size=25), json_values),
        "version": st.one_of(st.integers(), json_values),
    },
)
valid_items = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=200)},
    optional={
        "description": st.text(max_size=100),
        "price": st.floats(min_value=0, max_value=1e12) | st.integers(0, 10**12),
        "tags": st.lists(st.text(min_size=1, max_size=100), max_size=20),
    },
)
bodies = st.one_of(
    st.none(),
    valid_items.map(json.dumps),
    st.text(max_size=100),
    item_like.map(lambda v: json.dumps(v, allow_nan=True)),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.just(json.dumps({"name": "n" * 500_000})),
)
SEED_ID = "00000000-0000-4000-8000-000000000001"
ids = st.one_of(st.just(SEED_ID), st.uuids().map(str), st.text(max_size=40), st.just("x" * 5000))
headers = st.dictionaries(
    st.sampled_from(["If-Match", "if-match", "Content-Type", "X-Other"]),
    st.one_of(st.text(max_size=30), st.integers(0, 5).map(lambda v: f'"{v}"')),
    max_size=3,
)
valid_authorizers = st.sampled_from(
    [{"lambda": {"sub": "prop-user", "tenant": "prop-tenant"}}, {"jwt": {"claims": {"sub": "prop-jwt"}}}]
)
queries = st.dictionaries(
    st.sampled_from(["limit", "cursor"]),
    st.one_of(st.text(max_size=20), st.integers(-5, 200).map(str)),
    max_size=2,
)


def seed_item(table: str) -> None:
    # A known item owned by the property tests' tenant, so PUT and DELETE also hit existing rows.
    client().put_item(
        TableName=table,
        Item={
            "pk": {"S": f"ITEM#{SEED_ID}"},
            "id": {"S": SEED_ID},
            "owner": {"S": "tenant#prop-tenant"},
            "name": {"S": "seed"},
            "created_at": {"S": "2025-01-01T00:00:00.000Z"},
            "updated_at": {"S": "2025-01-01T00:00:00.000Z"},
            "version": {"N": "1"},
        },
    )


@st.composite
def routed_item_events(draw: st.DrawFn) -> Any:
    """Well-formed events on real routes from an authenticated caller, with hostile bodies and parameters."""
    method, route = draw(
        st.sampled_from(
            [("GET", "/items"), ("POST", "/items"), ("GET", "id"), ("PUT", "id"), ("DELETE", "id")]
        )
    )
    item_id = draw(ids)
    path = "/items" if route == "/items" else f"/items/{item_id}"
    return http_event(
        method,
        path,
        route_key=f"{method} {'/items' if route == '/items' else '/items/{id}'}",
        path_parameters=None if route == "/items" else {"id": item_id},
        query=draw(queries) or None,
        headers=draw(headers),
        raw_body=draw(bodies),
        authorizer=draw(valid_authorizers),
    )


@st.composite
def malformed_item_events(draw: st.DrawFn) -> Any:
    """Unknown routes, missing or junk authorizer contexts, fields replaced by random JSON, non-events."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]) | st.text(max_size=6))
    path = draw(
        st.sampled_from(["/items", f"/items/{draw(ids)}", "/items/", "/other"]) | st.text(max_size=20)
    )
    authorizer = draw(
        st.one_of(st.none(), valid_authorizers, json_values.filter(lambda v: isinstance(v, dict)))
    )
    event: Any = http_event(method, path, headers=draw(headers), raw_body=draw(bodies), authorizer=authorizer)
    fields = [
        "headers",
        "body",
        "requestContext",
        "rawPath",
        "pathParameters",
        "queryStringParameters",
        "version",
    ]
    for field in draw(st.lists(st.sampled_from(fields), max_size=2, unique=True)):
        event[field] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        event = draw(json_values)
    return event


@settings(max_examples=150, deadline=None)
@given(routed_item_events())
def test_property_hostile_requests_on_real_routes_are_never_5xx(table: str, event: Any) -> None:
    seed_item(table)
    response = handler.main(event, FakeLambdaContext())
    assert isinstance(response, dict) and isinstance(response["statusCode"], int)
    # A 5xx here would mean unvalidated input reached DynamoDB or the code.
    assert response["statusCode"] < 500, response
    if response["statusCode"] >= 400:
        assert_error_response(response)


@settings(max_examples=100, deadline=None)
@given(malformed_item_events())
def test_property_malformed_events_never_escape(table: str, event: Any) -> None:
    response = handler.main(event, FakeLambdaContext())
    assert isinstance(response, dict) and isinstance(response["statusCode"], int)
    if response["statusCode"] >= 400:
        error = assert_error_response(response)
        assert response["statusCode"] < 500 or error["code"] == "INVALID_EVENT", error
