"""ItemsApiStack handler: CRUD over items, HTTP API (payload 2.0), one function for all routes.

Handler string: ``items_api.handler.main``. Environment: ``ITEMS_TABLE_NAME`` (required), the DynamoDB
table, partition key ``pk`` (string), no sort key; item shape in ``items_api.service.ItemStore``.

Routes (every item is owned by the caller: the authorizer's ``tenant`` if set, else its ``sub``; other
owners' items answer 404 exactly like missing ones):

* ``GET /items?limit=1..100&cursor=...``: ``{"items": [...], "next_cursor": str | null}`` (scan order).
* ``POST /items``: body ``{name, description?, price?, tags?}``; 201, ``Location: /items/<id>``, ``ETag``.
* ``GET /items/{id}``: the item with ``ETag: "<version>"``; 404 ``ITEM_NOT_FOUND``.
* ``PUT /items/{id}``: full replace of the mutable fields (absent optional fields are removed);
  optimistic concurrency via ``If-Match: "<version>"`` and/or body ``version``; 409 ``VERSION_CONFLICT``.
* ``DELETE /items/{id}``: 204; honours ``If-Match`` too.
"""
