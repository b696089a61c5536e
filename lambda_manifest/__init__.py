"""lambda-manifest: AWS CDK constructs that turn a Lambda function into a production service.

The public API is what this module exports. Exports are resolved on first use (PEP 562), so the command-line
tools in this package (``python -m lambda_manifest.redrive``, ``.keys``, ``.local``) start without loading
aws-cdk-lib and its Node runtime, which costs seconds.
"""

from __future__ import annotations

import importlib

# Not ``from typing import TYPE_CHECKING``: the runtimes the constructs deploy live in this package, so every
# cold start runs this file, and ``typing`` is a module the handlers otherwise never load. mypy treats a
# constant named TYPE_CHECKING as typing's.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lambda_manifest._assets import python_code
    from lambda_manifest._validation import PropsError
    from lambda_manifest.ai_gateway import (
        AiGatewayFunction,
        AuditOptions,
        CacheOptions,
        ContextOptions,
        ModelAlias,
        Price,
        Prompt,
        PromptTemplate,
        Provider,
        RoutingOptions,
        Target,
        TenantQuota,
    )
    from lambda_manifest.async_worker import AsyncWorker
    from lambda_manifest.compliance import (
        ALL_PACKS,
        Pack,
        acknowledge,
        acknowledge_checkov,
        apply_compliance_packs,
    )
    from lambda_manifest.data_table import DataTable
    from lambda_manifest.mcp_gateway import McpTool, McpToolGateway, ToolAnnotations
    from lambda_manifest.observation import Observation, observe
    from lambda_manifest.observed_function import ObservedFunction
    from lambda_manifest.serverless_api import (
        ApiRoute,
        ApiType,
        Authorizer,
        Canary,
        Cors,
        CustomDomain,
        ResponseCache,
        RouteCache,
        RouteGroup,
        ServerlessApi,
        Throttle,
        UsagePlan,
        Waf,
    )
    from lambda_manifest.shared import StackResources

_EXPORTS: dict[str, str] = {
    "ALL_PACKS": "lambda_manifest.compliance",
    "AiGatewayFunction": "lambda_manifest.ai_gateway",
    "ApiRoute": "lambda_manifest.serverless_api",
    "ApiType": "lambda_manifest.serverless_api",
    "AsyncWorker": "lambda_manifest.async_worker",
    "AuditOptions": "lambda_manifest.ai_gateway",
    "Authorizer": "lambda_manifest.serverless_api",
    "CacheOptions": "lambda_manifest.ai_gateway",
    "Canary": "lambda_manifest.serverless_api",
    "ContextOptions": "lambda_manifest.ai_gateway",
    "Cors": "lambda_manifest.serverless_api",
    "CustomDomain": "lambda_manifest.serverless_api",
    "DataTable": "lambda_manifest.data_table",
    "McpTool": "lambda_manifest.mcp_gateway",
    "McpToolGateway": "lambda_manifest.mcp_gateway",
    "ModelAlias": "lambda_manifest.ai_gateway",
    "Observation": "lambda_manifest.observation",
    "ObservedFunction": "lambda_manifest.observed_function",
    "Pack": "lambda_manifest.compliance",
    "Price": "lambda_manifest.ai_gateway",
    "Prompt": "lambda_manifest.ai_gateway",
    "PromptTemplate": "lambda_manifest.ai_gateway",
    "PropsError": "lambda_manifest._validation",
    "Provider": "lambda_manifest.ai_gateway",
    "ResponseCache": "lambda_manifest.serverless_api",
    "RouteCache": "lambda_manifest.serverless_api",
    "RouteGroup": "lambda_manifest.serverless_api",
    "RoutingOptions": "lambda_manifest.ai_gateway",
    "ServerlessApi": "lambda_manifest.serverless_api",
    "python_code": "lambda_manifest._assets",
    "StackResources": "lambda_manifest.shared",
    "Target": "lambda_manifest.ai_gateway",
    "TenantQuota": "lambda_manifest.ai_gateway",
    "ToolAnnotations": "lambda_manifest.mcp_gateway",
    "Throttle": "lambda_manifest.serverless_api",
    "UsagePlan": "lambda_manifest.serverless_api",
    "Waf": "lambda_manifest.serverless_api",
    "acknowledge": "lambda_manifest.compliance",
    "acknowledge_checkov": "lambda_manifest.compliance",
    "observe": "lambda_manifest.observation",
    "apply_compliance_packs": "lambda_manifest.compliance",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "ALL_PACKS",
    "AiGatewayFunction",
    "ApiRoute",
    "ApiType",
    "AsyncWorker",
    "AuditOptions",
    "Authorizer",
    "CacheOptions",
    "Canary",
    "ContextOptions",
    "Cors",
    "CustomDomain",
    "DataTable",
    "McpTool",
    "McpToolGateway",
    "ModelAlias",
    "Observation",
    "ObservedFunction",
    "Pack",
    "Price",
    "Prompt",
    "PromptTemplate",
    "PropsError",
    "Provider",
    "ResponseCache",
    "RouteCache",
    "RouteGroup",
    "RoutingOptions",
    "ServerlessApi",
    "StackResources",
    "Target",
    "TenantQuota",
    "Throttle",
    "ToolAnnotations",
    "UsagePlan",
    "Waf",
    "acknowledge",
    "acknowledge_checkov",
    "apply_compliance_packs",
    "observe",
    "python_code",
]

__version__ = "0.1.0"
