"""Lambda entry point: ``items_api.handler.main`` (HTTP API, payload 2.0, one function for all routes)."""

from __future__ import annotations

import functools
from typing import Any

from lambda_manifest.runtime.http import App, Response, create_app, current_request, lambda_handler, to_json
from lambda_manifest.runtime.http.dynamodb import client, table_name
from lambda_manifest.runtime.http.pagination import decode_cursor, encode_cursor, parse_limit

from .service import (
    CREATE_SCHEMA,
    REPLACE_SCHEMA,
    TABLE_ENV,
    ItemStore,
    expected_version,
    owner_of,
    validated,
)

app: App = create_app("2.0")


@functools.cache
def store() -> ItemStore:
    """The container's store, built on first use (tests call ``store.cache_clear()``)."""
    return ItemStore(table_name(TABLE_ENV), client())


def _owner() -> str:
    return owner_of(current_request().principal())


def _item_response(
    item: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    # The ETag is the version, so a client can send it straight back as If-Match.
    return Response(
        status_code=status,
        content_type="application/json",
        body=to_json(item),
        headers={"ETag": f'"{item["version"]}"', **(headers or {})},
    )


@app.get("/items")
def list_items() -> dict[str, Any]:
    request = current_request()
    owner = _owner()
    limit = parse_limit(request.query_param("limit"))
    cursor = request.query_param("cursor")
    start_key = decode_cursor(cursor, ("pk",)) if cursor is not None else None
    page = store().list(owner, limit=limit, start_key=start_key)
    return {"items": page.items, "next_cursor": encode_cursor(page.next_key) if page.next_key else None}


@app.post("/items")
def create_item() -> Response:
    owner = _owner()
    fields = validated(current_request().json(), CREATE_SCHEMA)
    item = store().create(owner, fields)
    return _item_response(item, 201, {"Location": f"/items/{item['id']}"})


@app.get("/items/<item_id>")
def get_item(item_id: str) -> Response:
    return _item_response(store().get(_owner(), item_id))


@app.put("/items/<item_id>")
def replace_item(item_id: str) -> Response:
    request = current_request()
    owner = _owner()
    fields = validated(request.json(), REPLACE_SCHEMA)
    version = expected_version(request.header("if-match"), fields.get("version"))
    return _item_response(store().replace(owner, item_id, fields, expected_version=version))


@app.delete("/items/<item_id>")
def delete_item(item_id: str) -> Response:
    request = current_request()
    owner = _owner()
    store().delete(owner, item_id, expected_version=expected_version(request.header("if-match"), None))
    return Response(status_code=204, body="")


main = lambda_handler(app)
