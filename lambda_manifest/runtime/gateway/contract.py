"""The contract between the gateway runtime and the ``AiGatewayFunction`` construct, in one place.

Both sides import this module normally: the construct names its environment variables, routes, table key
layout, alarms and IAM grants from it, and the runtime reads the same names. Standard library only, and cheap
to import (the handler imports it at cold start).
"""

from __future__ import annotations

# -- Environment ---------------------------------------------------------------------------------------------
CONFIG_ENV = "LM_GATEWAY_CONFIG"  # the configuration JSON itself
CONFIG_FILE_ENV = "LM_GATEWAY_CONFIG_FILE"  # or a path to it (relative to LAMBDA_TASK_ROOT)
TABLE_ENV = "LM_GATEWAY_TABLE"  # the DynamoDB table
CONFIG_FILE_NAME = "lm_gateway_config.json"

# -- Routes: (method, path) under the deployment's prefix ------------------------------------------------------
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/responses"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{id}"),
    ("GET", "/v1/usage"),
    ("POST", "/v1/prompts/{name}"),
    ("POST", "/v1/prompts/{name}/versions/{v}"),
    ("GET", "/v1/conversations/{id}"),
    ("DELETE", "/v1/conversations/{id}"),
)
# Every other path under /v1 reaches the function too, which answers a JSON 404 listing ROUTES (API Gateway's
# own 404 would be a bare {"message": "Not Found"} that no SDK maps).
CATCH_ALL_ROUTE = ("ANY", "/v1/{proxy+}")

# -- The single table (store.py) ------------------------------------------------------------------------------
PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"

# -- AWS actions the runtime calls, by the resource they are granted on -----------------------------------------
# The table: GetItem (keys, cache, usage, conversations), PutItem/DeleteItem (conversations), UpdateItem (the
# conditional ADDs of admission); TransactWriteItems is authorized per item action (Update, Put). No Query/Scan.
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
# Provider secrets.
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
# Bedrock models: Converse and InvokeModel (embeddings, Claude's Messages) are InvokeModel; ConverseStream and
# InvokeModelWithResponseStream (Claude's streamed Messages) are InvokeModelWithResponseStream.
# tests/handlers/test_gateway_iam.py records the calls the runtime makes and holds the grants to them.
BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")

# -- CloudWatch EMF metrics (accounting.py) ---------------------------------------------------------------------
# By Tenant, Model, Provider and Tenant+Model (Provider: the one that answered, "cache", or "none").
DIMENSIONS = (("Tenant",), ("Model",), ("Provider",), ("Tenant", "Model"))
DIMENSIONED_METRICS = (
    ("Requests", "Count"),
    ("PromptTokens", "Count"),
    ("CompletionTokens", "Count"),
    ("CostUSD", "None"),
    ("LatencyMs", "Milliseconds"),
    ("Fallbacks", "Count"),
    ("CacheHits", "Count"),
    ("QuotaRejections", "Count"),
    ("Errors", "Count"),
    ("UpstreamFailures", "Count"),
)
# Also published with no dimension, for alarms that must not enumerate providers.
GATEWAY_WIDE_METRICS = (
    "Requests", "Served", "Errors", "UpstreamFailures", "ProviderFailures", "Fallbacks", "QuotaRejections",
    "CacheHits",
)  # fmt: skip
# By Provider only: failed attempts, including those a retry or fallback made good.
PROVIDER_FAILURES_METRIC = "ProviderFailures"
# OpenTelemetry GenAI semantic-convention metrics, by operation and requested model.
GENAI_DIMENSIONS = ("gen_ai.operation.name", "gen_ai.request.model")
GENAI_DURATION_METRIC = "gen_ai.client.operation.duration"  # seconds
GENAI_TTFT_METRIC = "gen_ai.server.time_to_first_token"  # seconds, streamed answers
GENAI_TOKEN_USAGE_METRIC = "gen_ai.client.token.usage"  # by gen_ai.token.type: input | output
