"""Two MCP tools published by ``McpToolsStack``: ``lookup_item`` reads the items table, ``summarize_text`` asks
the AI gateway. Each is a plain Lambda handler; the tool's input schema is read from its first parameter's type."""
