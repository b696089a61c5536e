"""lambda_manifest.runtime.mcp: Lambda functions published as MCP tools over Streamable HTTP (stdlib + boto3).

``handler.main`` is the gateway function ``McpToolGateway`` deploys; ``contract`` is what the construct and this
runtime share. Callers authenticate with the AI gateway's virtual keys (its ``auth`` and ``store`` modules).
"""
