"""The contract between ``McpToolGateway`` (the construct) and this runtime: what one writes and the other reads.

Both sides import this module normally: the construct names the handler, the environment, the route methods,
the metrics and alarms and the IAM grants from it, and the runtime reads the same names. Standard library only
and nothing imported: the construct reads it at synth time and the runtime at every cold start.
"""

from __future__ import annotations

HANDLER = "lambda_manifest.runtime.mcp.handler.main"

# Environment of the gateway function.
CONFIG_ENV = "LM_MCP_CONFIG"  # the tool catalogue and settings: JSON, or "zlib:" + base64 of compressed JSON
FUNCTIONS_ENV = "LM_MCP_FUNCTIONS"  # JSON: tool name -> the ARN of the function that runs it
KEYS_TABLE_ENV = "LM_MCP_KEYS_TABLE"  # the AI gateway's table, when callers use its virtual keys
# Every variable the runtime reads, so the construct can refuse to let an app set them behind its back.
ENV_NAMES = (CONFIG_ENV, FUNCTIONS_ENV, KEYS_TABLE_ENV)

# The one route (its path is the construct's ``path``): Streamable HTTP is a single endpoint that takes POST
# (and answers GET/DELETE with 405: this server keeps no sessions and offers no server-to-client stream).
ENDPOINT_METHODS = ("POST", "GET", "DELETE")

# Protocol revisions. The stateless one takes each request on its own (version in params._meta); the
# handshake ones start with initialize (Streamable HTTP exists since 2025-03-26).
MODERN_VERSIONS = ("2026-07-28",)
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[0]

# Metrics (CloudWatch embedded metric format), each by the dimension ``Tool`` and gateway-wide.
METRIC_CALLS = "ToolCalls"
METRIC_ERRORS = "ToolErrors"  # isError results: the tool raised, timed out, or could not be invoked
METRIC_LATENCY = "ToolLatencyMs"  # from the gateway's call to the tool's answer
METRIC_REJECTED = "ToolCallsRejected"  # unknown tool, not in the key's allowlist, over the key's rpm
TOOL_DIMENSION = "Tool"

# Authentication modes.
AUTH_KEYS = "keys"  # the AI gateway's virtual keys (its DynamoDB table), each with a tool allowlist
AUTH_AUTHORIZER = "authorizer"  # the API's authorizer; scopes "tools:<name>" / "tools:*" narrow the tools
TOOL_SCOPE_PREFIX = "tools:"

# DynamoDB actions this runtime performs on the AI gateway's table: GetItem of the key item; UpdateItem (one
# conditional ADD, or a transaction of them with a tenant limit) of the minute window that counts calls
# against the key's rpm.
KEYS_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
# Lambda actions on each tool's function (granted on exactly its ARN): one synchronous Invoke per tools/call.
TOOL_ACTIONS = ("lambda:InvokeFunction",)
# Seconds the gateway waits beyond a tool's own timeout for its answer (Invoke's reply travels after the tool
# stops); the construct keeps every tool's timeout this far under the gateway function's.
INVOKE_MARGIN_SECONDS = 2

# The error type of a tool function's failure, in the tool result's ``_meta`` (and its text).
ERROR_TYPE_META = "io.lambda-manifest/errorType"

# Tool names: what MCP clients accept everywhere (the spec allows 1-128 characters of A-Z a-z 0-9 _ - .). The
# keys CLI takes the same names (or ``*``) for a key's allowlist.
TOOL_NAME = r"[A-Za-z0-9_.-]{1,128}"
TOOL_NAME_PATTERN = rf"^{TOOL_NAME}$"
