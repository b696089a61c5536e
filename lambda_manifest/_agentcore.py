"""``McpToolGateway(mode="agentcore")``: the same tools as an Amazon Bedrock AgentCore Gateway with Lambda targets.

AWS then runs the MCP endpoint: it authenticates callers (IAM, SigV4, by default), lists the tools and invokes
the functions itself (AgentCore names a tool ``<target>___<tool>``). What the library's runtime adds is gone
there: virtual keys, per-key allowlists and rates, the audit line and the per-tool metrics (AgentCore publishes
its own gateway metrics). AgentCore's inline tool schemas know ``type``, ``description``, ``properties``,
``required`` and ``items``; other keywords (``enum``, ``format``, ``default``, ``additionalProperties``) are
dropped, and a union keeps its first non-null type.
"""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from lambda_manifest._role import ManagedPolicyRole
from lambda_manifest.shared import StackResources

_TYPES = {
    "object": agentcore.SchemaDefinitionType.OBJECT, "array": agentcore.SchemaDefinitionType.ARRAY,
    "string": agentcore.SchemaDefinitionType.STRING, "integer": agentcore.SchemaDefinitionType.INTEGER,
    "number": agentcore.SchemaDefinitionType.NUMBER, "boolean": agentcore.SchemaDefinitionType.BOOLEAN,
}  # fmt: skip


def gateway(owner: Construct, *, instructions: str | None) -> agentcore.Gateway:
    """The AgentCore Gateway: IAM-authorized MCP endpoint, encrypted with the stack's key. Its role is the
    library's managed-policy role (exact actions, no inline policy), assumable by AgentCore for this account
    only."""
    account = cdk.Stack.of(owner).account
    role = ManagedPolicyRole(
        owner, "AgentCoreGatewayRole", description=f"Role AgentCore assumes to invoke the tools of {owner.node.path}",
        assumed_by=iam.ServicePrincipal("bedrock-agentcore.amazonaws.com",
                                        conditions={"StringEquals": {"aws:SourceAccount": account}}))
    return agentcore.Gateway(
        owner, "AgentCoreGateway",
        gateway_name=target_name(cdk.Names.unique_resource_name(owner, max_length=48, separator="-")),
        description=f"MCP tools of {owner.node.path}",
        authorizer_configuration=agentcore.GatewayAuthorizer.using_aws_iam(),
        protocol_configuration=agentcore.McpProtocolConfiguration(
            instructions=instructions,
            supported_versions=[agentcore.MCPProtocolVersion.MCP_2025_06_18,
                                agentcore.MCPProtocolVersion.MCP_2025_03_26]),
        kms_key=StackResources.of(owner).key,
        role=role,
    )


def add_target(owner: Construct, gw: agentcore.Gateway, definition: dict[str, Any],
               function: lambda_.IFunction) -> agentcore.GatewayTarget:
    name = definition["name"]
    tool = agentcore.ToolDefinition(
        name=name, description=definition["description"],
        input_schema=to_schema(definition["inputSchema"]),
        output_schema=to_schema(definition["outputSchema"]) if "outputSchema" in definition else None,
    )
    return gw.add_lambda_target(
        f"{re.sub(r'[^A-Za-z0-9]', '', name.title()) or 'Tool'}Target",
        gateway_target_name=target_name(name), description=definition["description"][:200],
        lambda_function=function, tool_schema=agentcore.ToolSchema.from_inline([tool]),
    )


def target_name(name: str) -> str:
    """A target name AgentCore accepts: letters, digits and single hyphens, at most 100 characters."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", name)).strip("-")
    return (cleaned or "tool")[:100]


def to_schema(schema: dict[str, Any]) -> agentcore.SchemaDefinition:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((t for t in kind if t != "null"), "string")
    if kind is None and isinstance(schema.get("anyOf"), list):
        first = next((s for s in schema["anyOf"] if s.get("type") != "null"), {"type": "string"})
        return to_schema({**first, **({"description": schema["description"]} if "description" in schema else {})})
    props: dict[str, Any] = {"type": _TYPES.get(str(kind), agentcore.SchemaDefinitionType.STRING)}
    if isinstance(schema.get("description"), str):
        props["description"] = schema["description"]
    if kind == "object" and isinstance(schema.get("properties"), dict):
        props["properties"] = {k: to_schema(v) for k, v in schema["properties"].items() if isinstance(v, dict)}
        if schema.get("required"):
            props["required"] = list(schema["required"])
    if kind == "array" and isinstance(schema.get("items"), dict):
        props["items"] = to_schema(schema["items"])
    return agentcore.SchemaDefinition(**props)
