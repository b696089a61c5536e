"""PartnerApiStack handler: catalogue and orders for partners, REST API (payload 1.0).

Handler string: ``partner_api.handler.main``. Environment: ``CATALOG_TABLE_NAME`` and
``PARTNER_ORDERS_TABLE_NAME`` (both required), DynamoDB tables with partition key ``pk`` (string) only;
item shapes in ``partner_api.service.CatalogStore`` and ``partner_api.service.OrderStore``.

The partner is identified by ``requestContext.identity.apiKeyId``: the id of the REST API key that API
Gateway validated against the usage plan (the method must have ``apiKeyRequired``); without it,
``POST /orders`` answers 403 ``API_KEY_REQUIRED``.

Routes:

* ``GET /catalog?limit=1..100&cursor=...``: active products, ``{"items", "next_cursor"}``. Cached at the
  API, so the stage's cache key must include ``limit`` and ``cursor``.
* ``GET /catalog/{sku}``: one active product; 404 ``PRODUCT_NOT_FOUND``.
* ``POST /orders``: body ``{sku, quantity (1-1000), partner_reference (1-64 chars)}``; 201 with the new
  order, 200 with the original order when the same partner repeats a ``partner_reference`` with the same
  ``sku`` and ``quantity``, 409 ``IDEMPOTENCY_CONFLICT`` when they differ, 422 ``UNKNOWN_SKU`` for a
  product not in the catalogue.
"""
