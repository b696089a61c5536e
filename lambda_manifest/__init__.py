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

    from lambda_manifest._api_auth import Authorizer
    from lambda_manifest._api_options import (
        ApiType,
        Canary,
        Cors,
        CustomDomain,
        QueueSend,
        ResponseCache,
        RouteCache,
        Throttle,
        UsagePlan,
        Waf,
    )
    from lambda_manifest._api_props import HttpApiOptions, RestApiOptions
    from lambda_manifest._assets import python_code
    from lambda_manifest._function_props import FunctionOptions
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
    from lambda_manifest.http_serverless_api import HttpServerlessApi
    from lambda_manifest.mcp_gateway import McpTool, McpToolGateway, ToolAnnotations
    from lambda_manifest.observation import Observation, observe
    from lambda_manifest.observed_function import ObservedFunction
    from lambda_manifest.rest_serverless_api import RestServerlessApi
    from lambda_manifest.serverless_api import ApiRoute, IServerlessApi, RouteGroup, ServerlessApiBase
    from lambda_manifest.shared import StackResources

_EXPORTS: dict[str, str] = {
    "ALL_PACKS": "lambda_manifest.compliance",
    "AiGatewayFunction": "lambda_manifest.ai_gateway",
    "ApiRoute": "lambda_manifest.serverless_api",
    "ApiType": "lambda_manifest._api_options",
    "AsyncWorker": "lambda_manifest.async_worker",
    "AuditOptions": "lambda_manifest.ai_gateway",
    "Authorizer": "lambda_manifest._api_auth",
    "CacheOptions": "lambda_manifest.ai_gateway",
    "Canary": "lambda_manifest._api_options",
    "ContextOptions": "lambda_manifest.ai_gateway",
    "Cors": "lambda_manifest._api_options",
    "CustomDomain": "lambda_manifest._api_options",
    "DataTable": "lambda_manifest.data_table",
    "FunctionOptions": "lambda_manifest._function_props",
    "HttpApiOptions": "lambda_manifest._api_props",
    "HttpServerlessApi": "lambda_manifest.http_serverless_api",
    "IServerlessApi": "lambda_manifest.serverless_api",
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
    "QueueSend": "lambda_manifest._api_options",
    "ResponseCache": "lambda_manifest._api_options",
    "RestApiOptions": "lambda_manifest._api_props",
    "RestServerlessApi": "lambda_manifest.rest_serverless_api",
    "RouteCache": "lambda_manifest._api_options",
    "RouteGroup": "lambda_manifest.serverless_api",
    "RoutingOptions": "lambda_manifest.ai_gateway",
    "ServerlessApiBase": "lambda_manifest.serverless_api",
    "StackResources": "lambda_manifest.shared",
    "Target": "lambda_manifest.ai_gateway",
    "TenantQuota": "lambda_manifest.ai_gateway",
    "Throttle": "lambda_manifest._api_options",
    "ToolAnnotations": "lambda_manifest.mcp_gateway",
    "UsagePlan": "lambda_manifest._api_options",
    "Waf": "lambda_manifest._api_options",
    "acknowledge": "lambda_manifest.compliance",
    "acknowledge_checkov": "lambda_manifest.compliance",
    "apply_compliance_packs": "lambda_manifest.compliance",
    "observe": "lambda_manifest.observation",
    "python_code": "lambda_manifest._assets",
}


# Names of earlier releases, with what replaced them. ImportError (not AttributeError) because
# ``from lambda_manifest import X`` replaces an AttributeError's message with its own.
_MOVED = {
    "ServerlessApi": (
        "ServerlessApi was split in two: HttpServerlessApi for an HTTP API (the old default) and RestServerlessApi "
        "for a REST API (the old api_type=ApiType.REST, with WAF, caching, API keys and streaming routes); their "
        "props and construct ids are the same. See 'Props that changed shape in 0.1.0' in the README."
    ),
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        raise ImportError(_MOVED[name], name=name)
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
    "FunctionOptions",
    "HttpApiOptions",
    "HttpServerlessApi",
    "IServerlessApi",
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
    "QueueSend",
    "ResponseCache",
    "RestApiOptions",
    "RestServerlessApi",
    "RouteCache",
    "RouteGroup",
    "RoutingOptions",
    "ServerlessApiBase",
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
