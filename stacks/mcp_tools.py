"""McpToolsStack: two Lambda functions published as MCP tools, behind the AI gateway's virtual keys.

* ``lookup_item`` (``mcp_tools.items.lookup_item``) reads the items table; an unknown id is a tool error of
  type ``ItemNotFound``.
* ``summarize_text`` (``mcp_tools.summarize.summarize_text``) asks the AI gateway's ``summary`` model for a
  summary, with its own virtual key from Secrets Manager.
* ``McpToolGateway`` serves both at ``<api>/mcp`` (Streamable HTTP: the stateless 2026-07-28 revision and the
  2025-11-25 handshake). Callers present a virtual key of the same AI gateway; a key reaches the tools its
  ``--tools`` lists, and its calls count against its ``--rpm``. Each tool's input schema is read from its
  handler's type hints at synth.

After deploying: put the provider key into ``OpenAiApiKey``, create a key for the summarize tool (``KeyCommand``
output, ``--tenant agents``) into ``SummarizeToolKey``, and give each agent a key with ``--tools``:
``python -m lambda_manifest.keys create --table <table> --tenant agents --tools lookup_item,summarize_text``.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lambda_manifest import (
    AiGatewayFunction,
    DataTable,
    McpToolGateway,
    ModelAlias,
    ObservedFunction,
    Pack,
    Provider,
    StackResources,
    Target,
    TenantQuota,
    ToolAnnotations,
    acknowledge,
)
from stacks.code import app_code

AGENTS_TENANT = "agents"


class McpToolsStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        key = StackResources.of(self).key
        code = app_code("mcp_tools")

        self.openai_key = secretsmanager.Secret(
            self, "OpenAiApiKey", encryption_key=key, description="OpenAI API key of the AI gateway")
        self.tool_key = secretsmanager.Secret(
            self, "SummarizeToolKey", encryption_key=key,
            description="Virtual key the summarize_text tool presents to the AI gateway")
        self.gateway = AiGatewayFunction(
            self, "Gateway",
            providers={"openai": Provider.openai_compatible(base_url="https://api.openai.com/v1",
                                                            secret=self.openai_key)},
            models={"summary": ModelAlias(targets=[Target(provider="openai", model="gpt-4o-mini")],
                                          description="Short summaries for the summarize_text tool")},
            track_cost=False,
            # Every key of the agents tenant together: 120 requests a minute, model calls and tool calls alike.
            quotas={AGENTS_TENANT: TenantQuota(rpm=120)},
        )

        self.items = DataTable(
            self, "ItemsTable", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))
        self.lookup = ObservedFunction(
            self, "LookupItem", handler="mcp_tools.items.lookup_item", code=code,
            description="MCP tool lookup_item: one item of the items table",
            timeout=cdk.Duration.seconds(10), environment={"ITEMS_TABLE": self.items.table_name})
        self.items.grant(self.lookup, "dynamodb:GetItem")
        key.grant(self.lookup, "kms:Decrypt")

        self.summarize = ObservedFunction(
            self, "SummarizeText", handler="mcp_tools.summarize.summarize_text", code=code,
            description="MCP tool summarize_text: a summary written by the AI gateway's summary model",
            timeout=cdk.Duration.seconds(20))
        self.gateway.add_client(self.summarize, self.tool_key)

        self.tools = McpToolGateway(
            self, "Tools", keys=self.gateway, server_name="items-and-summaries",
            instructions="Look items up by id with lookup_item; summarize long texts with summarize_text.")
        self.tools.add_tool(
            "lookup_item", self.lookup, title="Look up an item",
            description="Read one item of the catalogue (name, price, tags) by its id.",
            annotations=ToolAnnotations(read_only=True, idempotent=True, open_world=False))
        self.tools.add_tool(
            "summarize_text", self.summarize, title="Summarize a text",
            description="Summarize a text in a few sentences; give max_words to bound the length.",
            annotations=ToolAnnotations(read_only=True, open_world=True))

        for secret, what in (
            (self.openai_key, "an OpenAI API key, which only OpenAI can issue: rotate it in the OpenAI console"),
            (self.tool_key, "a virtual key of the AI gateway: rotate it with 'python -m lambda_manifest.keys "
                            "create', put it here, then 'keys revoke' the old one"),
        ):
            reason = f"{secret.node.path} holds {what}. A Secrets Manager rotation Lambda cannot create it."
            acknowledge(secret, Pack.AWS_SOLUTIONS, "AwsSolutions-SMG4", reason)
            for pack in (Pack.HIPAA_SECURITY, Pack.NIST_800_53_R5, Pack.PCI_DSS_321):
                acknowledge(secret, pack, f"{pack.value}-SecretsManagerRotationEnabled", reason)
        cdk.CfnOutput(self, "McpUrl", value=self.tools.url,
                      description="MCP endpoint: connect an MCP client with 'Authorization: Bearer <virtual key>'")
