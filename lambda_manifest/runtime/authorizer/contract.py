"""The contract between the authorizer runtime and the constructs that deploy it (``Authorizer.lambda_``).

Both sides import this module normally: the construct sets the handler, the environment, the API-key table's
key and the grants from it, and the runtime reads the same names. The local runner mints credentials with it.
Standard library only: nothing is imported.
"""

HANDLER = "lambda_manifest.runtime.authorizer.handler.main"

# -- Environment (the runtime's reading of each is in config.AuthConfig) ---------------------------------------
ENV_JWKS_URL = "LM_AUTH_JWKS_URL"
ENV_HS256_SECRET_ARN = "LM_AUTH_HS256_SECRET_ARN"
ENV_ISSUER = "LM_AUTH_ISSUER"
ENV_AUDIENCE = "LM_AUTH_AUDIENCE"  # comma-separated
ENV_LEEWAY_SECONDS = "LM_AUTH_LEEWAY_SECONDS"
ENV_API_KEY_TABLE = "LM_AUTH_API_KEY_TABLE"
ENV_CACHE_TTL_SECONDS = "LM_AUTH_CACHE_TTL_SECONDS"
ENV_TENANT_CLAIM = "LM_AUTH_TENANT_CLAIM"

# -- Request headers it reads (the API's identity sources name them) -------------------------------------------
AUTHORIZATION_HEADER = "Authorization"
API_KEY_HEADER = "x-api-key"

# -- The API-key table (apikeys.py documents every attribute) ---------------------------------------------------
API_KEY_PARTITION_KEY = "pk"  # string: API_KEY_PREFIX + sha256 hex of the key
API_KEY_PREFIX = "APIKEY#"

# -- What an allow hands downstream (requestContext.authorizer[.lambda]); strings only ---------------------------
CONTEXT_KEYS = ("sub", "tenant", "scopes", "auth_type")

# -- AWS actions the runtime calls, by the resource they are granted on ------------------------------------------
# The API-key table: one GetItem per key lookup, never a write.
API_KEY_TABLE_ACTIONS = ("dynamodb:GetItem",)
# The HS256 signing secret: its value only.
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
