"""Lambda REQUEST authorizer for HTTP APIs (payload 2.0, simple responses) and REST APIs (IAM policy).

Handler string: ``lambda_manifest.runtime.authorizer.handler.main``.

Credentials, tried in this order:

1. ``Authorization: Bearer <JWT>`` (or a REST TOKEN authorizer's ``authorizationToken``): RS256 against
   the JWKS at ``LM_AUTH_JWKS_URL`` and/or HS256 against the Secrets Manager secret
   ``LM_AUTH_HS256_SECRET_ARN``; only configured algorithms are accepted (``alg: none`` never).
   ``exp`` and ``sub`` are required; ``exp``/``nbf``/``iat`` are checked with ``LM_AUTH_LEEWAY_SECONDS``
   of leeway; ``iss`` must equal ``LM_AUTH_ISSUER`` and ``aud`` must contain one of ``LM_AUTH_AUDIENCE``.
2. ``x-api-key``: looked up by SHA-256 in the DynamoDB table ``LM_AUTH_API_KEY_TABLE`` (item shape in
   ``lambda_manifest.runtime.authorizer.apikeys``).

Anything else, and any failure, is a deny. On allow the context is ``{"sub", "tenant", "scopes"
(space-separated), "auth_type" ("jwt" | "api_key")}``. Logs carry the decision, a fixed reason and a
12-hex-digit SHA-256 fingerprint of the credential, never the credential itself. See
``lambda_manifest.runtime.authorizer.config.AuthConfig`` for every environment variable.

``lambda_manifest.runtime.authorizer.jwt`` also mints tokens (``sign_hs256``, ``sign_rs256``) for tests and the local runner.
"""
