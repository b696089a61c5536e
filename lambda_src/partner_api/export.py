"""Lambda entry point: ``partner_api.export.main`` (``GET /catalog/export``, a streaming REST route).

The whole active catalogue as NDJSON, one product per line, streamed page by page: each page of the scan
reaches the partner as soon as it is read, so the export is bounded neither by API Gateway's 10 MB and 29 s
for a buffered answer nor by the function's memory.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from lambda_manifest.runtime.http import to_json
from lambda_manifest.runtime.http.dynamodb import client, table_name
from lambda_manifest.runtime.stream import StreamingResponse

from .service import CATALOG_TABLE_ENV, CatalogStore

PAGE_SIZE = 100


@functools.cache
def catalog() -> CatalogStore:
    return CatalogStore(table_name(CATALOG_TABLE_ENV), client())


def lines(store: CatalogStore) -> Iterator[str]:
    start: dict[str, str] | None = None
    while True:
        page = store.list(limit=PAGE_SIZE, start_key=start)
        yield "".join(to_json(product) + "\n" for product in page.items)
        if page.next_key is None:
            return
        start = page.next_key


def main(event: Any, context: Any) -> StreamingResponse:
    return StreamingResponse(lines(catalog()), headers={"content-type": "application/x-ndjson",
                                                        "cache-control": "no-store"})
