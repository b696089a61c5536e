#!/usr/bin/env python3
"""The CDK app: every example stack, checked by all five cdk-nag packs.

Set ``LAMBDA_MANIFEST_PACKS=none`` to synthesize without the compliance gate (never in CI).
"""

from __future__ import annotations

import os

import aws_cdk as cdk

from lambda_manifest import ALL_PACKS, apply_compliance_packs
from stacks.content_moderation import ContentModerationStack
from stacks.items_api import ItemsApiStack
from stacks.mcp_tools import McpToolsStack
from stacks.nightly_report import NightlyReportStack
from stacks.orders import OrdersStack
from stacks.partner_api import PartnerApiStack

# Every example stack, by construct id; the tests snapshot and compliance-check each one.
EXAMPLE_STACKS = ["NightlyReportStack", "OrdersStack", "ItemsApiStack", "PartnerApiStack", "ContentModerationStack",
                  "McpToolsStack"]


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    NightlyReportStack(app, "NightlyReportStack", description="lambda-manifest example: nightly batch job")
    OrdersStack(app, "OrdersStack", description="lambda-manifest example: order queue, workers, fan-out")
    ItemsApiStack(app, "ItemsApiStack", description="lambda-manifest example: items CRUD over an HTTP API")
    PartnerApiStack(app, "PartnerApiStack", description="lambda-manifest example: partner REST API with keys and WAF")
    ContentModerationStack(app, "ContentModerationStack",
                           description="lambda-manifest example: content moderation through the AI gateway")
    McpToolsStack(app, "McpToolsStack", description="lambda-manifest example: Lambda functions as MCP tools")
    if os.environ.get("LAMBDA_MANIFEST_PACKS", "all") != "none":
        apply_compliance_packs(app, packs=ALL_PACKS)
    return app


if __name__ == "__main__":
    build_app().synth()
