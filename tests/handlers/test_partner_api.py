"""Partner API handler (REST API payload 1.0) against moto's DynamoDB."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from api_events import FakeLambdaContext, assert_error_response, response_header, response_json, rest_event
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from partner_api import handler
from partner_api.service import CatalogStore, OrderStore, submit_order

from lambda_manifest.runtime.aws import reset_clients
from lambda_manifest.runtime.http.dynamodb import client

CATALOG = "catalog"
ORDERS = "partner-orders"
PRODUCTS = [
    {"pk": {"S": f"SKU-{i:03d}"}, "name": {"S": f"Product {i}"}, "price": {"N": f"{i}.50"}}
    for i in range(1, 26)
] + [
    {
        "pk": {"S": "WIDGET-1"},
        "name": {"S": "Widget"},
        "description": {"S": "Blue"},
        "price": {"N": "9.99"},
        "currency": {"S": "EUR"},
        "active": {"BOOL": True},
    },
    {"pk": {"S": "RETIRED-1"}, "name": {"S": "Old"}, "price": {"N": "1"}, "active": {"BOOL": False}},
]


@pytest.fixture(scope="module")
def tables() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("CATALOG_TABLE_NAME", CATALOG)
        patch.setenv("PARTNER_ORDERS_TABLE_NAME", ORDERS)
        reset_clients()
        handler.catalog.cache_clear()
        handler.orders.cache_clear()
        ddb = boto3.client("dynamodb")
        for name in (CATALOG, ORDERS):
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for product in PRODUCTS:
            ddb.put_item(TableName=CATALOG, Item=product)
        yield
        reset_clients()
        handler.catalog.cache_clear()
        handler.orders.cache_clear()


def call(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    api_key_id: str | None = "partner-key-1",
) -> dict[str, Any]:
    event = rest_event(
        method,
        path,
        resource=resource,
        path_parameters=path_parameters,
        body=body,
        raw_body=raw_body,
        query=query,
        api_key_id=api_key_id,
    )
    return handler.main(event, FakeLambdaContext())


def order(**overrides: Any) -> dict[str, Any]:
    return {"sku": "WIDGET-1", "quantity": 2, "partner_reference": f"PO-{uuid.uuid4().hex[:10]}", **overrides}


# --- Catalogue ----------------------------------------------------------------------------------------------
def test_catalog_export_streams_every_active_product_as_ndjson_page_by_page(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from partner_api import export

    from lambda_manifest.runtime.stream import StreamingResponse

    monkeypatch.setattr(export, "PAGE_SIZE", 10)
    export.catalog.cache_clear()
    response = export.main(rest_event("GET", "/catalog/export", api_key_id="partner-key-1"), FakeLambdaContext())
    assert isinstance(response, StreamingResponse)
    assert response.headers["content-type"] == "application/x-ndjson"
    pieces = list(response.body)
    assert len(pieces) >= 3  # one piece per page of the scan, each sent as soon as it is read
    products = [json.loads(line) for line in "".join(pieces).splitlines()]
    assert sorted(p["sku"] for p in products) == sorted(
        [f"SKU-{i:03d}" for i in range(1, 26)] + ["WIDGET-1"])  # the retired product is not exported
    assert next(p for p in products if p["sku"] == "WIDGET-1")["price"] == 9.99




def test_catalog_lists_active_products_across_pages(tables: None) -> None:
    skus: list[str] = []
    cursor = None
    while True:
        query = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        response = call("GET", "/catalog", query=query)
        assert response["statusCode"] == 200
        body = response_json(response)
        assert len(body["items"]) <= 10
        skus += [p["sku"] for p in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(skus) == sorted(p["pk"]["S"] for p in PRODUCTS if p["pk"]["S"] != "RETIRED-1")


def test_catalog_default_page_and_shape(tables: None) -> None:
    body = response_json(call("GET", "/catalog"))
    assert len(body["items"]) == 20 and body["next_cursor"]
    assert all(set(p) >= {"sku", "name", "price", "currency"} for p in body["items"])


def test_catalog_bad_paging_parameters(tables: None) -> None:
    assert_error_response(call("GET", "/catalog", query={"limit": "1000"}), 400, "INVALID_LIMIT")
    assert_error_response(call("GET", "/catalog", query={"cursor": "%%%"}), 400, "INVALID_CURSOR")


def test_get_product(tables: None) -> None:
    response = call(
        "GET", "/catalog/WIDGET-1", resource="/catalog/{sku}", path_parameters={"sku": "WIDGET-1"}
    )
    assert response["statusCode"] == 200
    assert response_json(response) == {
        "sku": "WIDGET-1",
        "name": "Widget",
        "description": "Blue",
        "price": 9.99,
        "currency": "EUR",
    }


@pytest.mark.parametrize("sku", ["NOPE-1", "RETIRED-1", "lowercase", "A" * 40])
def test_unknown_inactive_or_invalid_sku_is_404(tables: None, sku: str) -> None:
    response = call("GET", f"/catalog/{sku}", resource="/catalog/{sku}", path_parameters={"sku": sku})
    assert_error_response(response, 404, "PRODUCT_NOT_FOUND")


# --- Orders -------------------------------------------------------------------------------------------------


def test_new_order_is_201(tables: None) -> None:
    payload = order()
    response = call("POST", "/orders", body=payload)
    assert response["statusCode"] == 201
    created = response_json(response)
    assert uuid.UUID(created["order_id"])
    assert {k: created[k] for k in ("sku", "quantity", "partner_reference", "status")} == {
        "sku": "WIDGET-1",
        "quantity": 2,
        "partner_reference": payload["partner_reference"],
        "status": "RECEIVED",
    }
    assert response_header(response, "Content-Type") == "application/json"


def test_repeated_reference_is_idempotent_200_with_the_original(tables: None) -> None:
    payload = order()
    first = response_json(call("POST", "/orders", body=payload))
    again = call("POST", "/orders", body=payload)
    assert again["statusCode"] == 200
    assert response_json(again) == first


def test_same_reference_from_another_partner_is_a_new_order(tables: None) -> None:
    payload = order()
    first = response_json(call("POST", "/orders", body=payload, api_key_id="partner-a"))
    other = call("POST", "/orders", body=payload, api_key_id="partner-b")
    assert other["statusCode"] == 201
    assert response_json(other)["order_id"] != first["order_id"]


def test_reused_reference_with_different_content_is_409(tables: None) -> None:
    payload = order()
    first = response_json(call("POST", "/orders", body=payload))
    error = assert_error_response(
        call("POST", "/orders", body={**payload, "quantity": 3}), 409, "IDEMPOTENCY_CONFLICT"
    )
    assert error["details"] == {"order_id": first["order_id"]}


def test_order_for_unknown_or_retired_sku_is_422(tables: None) -> None:
    assert_error_response(call("POST", "/orders", body=order(sku="NOPE-99")), 422, "UNKNOWN_SKU")
    assert_error_response(call("POST", "/orders", body=order(sku="RETIRED-1")), 422, "UNKNOWN_SKU")


def test_order_without_api_key_is_403(tables: None) -> None:
    assert_error_response(call("POST", "/orders", body=order(), api_key_id=None), 403, "API_KEY_REQUIRED")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"quantity": 1, "partner_reference": "r"}, "$.sku"),
        (order(sku="wid"), "$.sku"),
        (order(sku="AB"), "$.sku"),
        (order(sku="A" * 33), "$.sku"),
        (order(sku="WIDGET_1"), "$.sku"),
        (order(quantity=0), "$.quantity"),
        (order(quantity=1001), "$.quantity"),
        (order(quantity=1.0), "$.quantity"),
        (order(quantity="2"), "$.quantity"),
        (order(quantity=True), "$.quantity"),
        (order(partner_reference=""), "$.partner_reference"),
        (order(partner_reference="r" * 65), "$.partner_reference"),
        (order(notes="hi"), "$.notes"),
    ],
)
def test_order_validation(tables: None, body: dict[str, Any], path: str) -> None:
    error = assert_error_response(call("POST", "/orders", body=body), 400, "VALIDATION_FAILED")
    assert path in {d["path"] for d in error["details"]}


def test_order_malformed_json_is_400(tables: None) -> None:
    assert_error_response(call("POST", "/orders", raw_body='{"sku": '), 400, "MALFORMED_JSON")


def test_wrong_method_is_405(tables: None) -> None:
    response = call("DELETE", "/catalog")
    assert_error_response(response, 405, "METHOD_NOT_ALLOWED")
    assert response_header(response, "Allow") == "GET"


def test_service_functions_directly(tables: None) -> None:
    catalog, orders = CatalogStore(CATALOG, client()), OrderStore(ORDERS, client())
    payload = order(quantity=5)
    created, is_new = submit_order(catalog, orders, "direct-partner", payload)
    again, is_new_again = submit_order(catalog, orders, "direct-partner", payload)
    assert (is_new, is_new_again) == (True, False) and created == again
    assert created["quantity"] == 5


# --- Property -----------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)
order_like = st.fixed_dictionaries(
    {},
    optional={
        "sku": st.one_of(
            st.from_regex(r"\A[A-Z0-9-]{3,32}\Z"), st.sampled_from(["WIDGET-1", "RETIRED-1"]), json_values
        ),
        "quantity": st.one_of(st.integers(-5, 2000), st.integers(), json_values),
        "partner_reference": st.one_of(st.text(max_size=70), json_values),
    },
)
bodies = st.one_of(
    st.none(),
    st.text(max_size=100),
    order_like.map(lambda v: json.dumps(v, allow_nan=True)),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
)


valid_orders = st.fixed_dictionaries(
    {
        "sku": st.sampled_from(["WIDGET-1", "SKU-001", "RETIRED-1", "NOPE-404"]),
        "quantity": st.integers(1, 1000),
        "partner_reference": st.sampled_from(["PO-1", "PO-2"]) | st.text(min_size=1, max_size=64),
    }
)
ROUTES = [("GET", "/catalog", "/catalog"), ("GET", "sku", "/catalog/{sku}"), ("POST", "/orders", "/orders")]


@st.composite
def routed_partner_events(draw: st.DrawFn) -> Any:
    """Well-formed events on real routes from a keyed partner, with hostile bodies and parameters."""
    method, path, resource = draw(st.sampled_from(ROUTES))
    sku = draw(
        st.one_of(
            st.sampled_from(["WIDGET-1", "RETIRED-1"]),
            st.from_regex(r"\A[A-Z0-9-]{1,40}\Z"),
            st.text(max_size=40),
        )
    )
    query = draw(
        st.dictionaries(
            st.sampled_from(["limit", "cursor"]),
            st.text(max_size=20) | st.integers(-5, 200).map(str),
            max_size=2,
        )
    )
    body = draw(st.one_of(bodies, valid_orders.map(json.dumps)))
    return rest_event(
        method,
        f"/catalog/{sku}" if path == "sku" else path,
        resource=resource,
        path_parameters={"sku": sku} if path == "sku" else None,
        query=query or None,
        raw_body=body,
        api_key_id=draw(st.sampled_from(["prop-partner-a", "prop-partner-b"])),
    )


@st.composite
def malformed_partner_events(draw: st.DrawFn) -> Any:
    """Unknown routes, missing API key ids, fields replaced by random JSON, non-events."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]) | st.text(max_size=6))
    path = draw(
        st.sampled_from(["/catalog", "/catalog/WIDGET-1", "/orders", "/orders/1"]) | st.text(max_size=30)
    )
    api_key_id = draw(st.one_of(st.none(), st.just("prop-partner"), st.text(min_size=1, max_size=20)))
    event: Any = rest_event(method, path, raw_body=draw(bodies), api_key_id=api_key_id)
    fields = [
        "headers",
        "body",
        "requestContext",
        "path",
        "httpMethod",
        "multiValueHeaders",
        "queryStringParameters",
    ]
    for field in draw(st.lists(st.sampled_from(fields), max_size=2, unique=True)):
        event[field] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        event = draw(json_values)
    return event


@settings(max_examples=150, deadline=None)
@given(routed_partner_events())
def test_property_hostile_requests_on_real_routes_are_never_5xx(tables: None, event: Any) -> None:
    response = handler.main(event, FakeLambdaContext())
    assert isinstance(response, dict) and isinstance(response["statusCode"], int)
    assert response["statusCode"] < 500, response
    if response["statusCode"] >= 400:
        assert_error_response(response)


@settings(max_examples=100, deadline=None)
@given(malformed_partner_events())
def test_property_malformed_events_never_escape(tables: None, event: Any) -> None:
    response = handler.main(event, FakeLambdaContext())
    assert isinstance(response, dict) and isinstance(response["statusCode"], int)
    if response["statusCode"] >= 400:
        error = assert_error_response(response)
        assert response["statusCode"] < 500 or error["code"] == "INVALID_EVENT", error
