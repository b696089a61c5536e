"""Lambda entry point: ``partner_api.handler.main`` (REST API, payload 1.0)."""

from __future__ import annotations

import functools
from typing import Any

from lambda_manifest.runtime.http import App, Response, create_app, current_request, lambda_handler, to_json
from lambda_manifest.runtime.http.dynamodb import client, table_name
from lambda_manifest.runtime.http.pagination import decode_cursor, encode_cursor, parse_limit

from .service import (
    CATALOG_TABLE_ENV,
    ORDER_SCHEMA,
    ORDERS_TABLE_ENV,
    CatalogStore,
    OrderStore,
    partner_of,
    submit_order,
)

app: App = create_app("1.0")


@functools.cache
def catalog() -> CatalogStore:
    return CatalogStore(table_name(CATALOG_TABLE_ENV), client())


@functools.cache
def orders() -> OrderStore:
    return OrderStore(table_name(ORDERS_TABLE_ENV), client())


@app.get("/catalog")
def list_catalog() -> dict[str, Any]:
    # Cached by API Gateway: its cache key must include the limit and cursor query parameters.
    request = current_request()
    limit = parse_limit(request.query_param("limit"))
    cursor = request.query_param("cursor")
    start_key = decode_cursor(cursor, ("pk",)) if cursor is not None else None
    page = catalog().list(limit=limit, start_key=start_key)
    return {"items": page.items, "next_cursor": encode_cursor(page.next_key) if page.next_key else None}


@app.get("/catalog/<sku>")
def get_product(sku: str) -> dict[str, Any]:
    return catalog().get(sku)


@app.post("/orders")
def create_order() -> Response:
    request = current_request()
    partner = partner_of(request.api_key_id())
    order, created = submit_order(catalog(), orders(), partner, request.json(ORDER_SCHEMA))
    # 201 for a new order, 200 when a retry found the original: either way the client gets the order.
    return Response(status_code=201 if created else 200, content_type="application/json", body=to_json(order))


main = lambda_handler(app)
