"""lambda-manifest: AWS CDK constructs that turn a Lambda function into a production service.

The public API is what this module exports.
"""

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
from lambda_manifest.compliance import ALL_PACKS, Pack, acknowledge, apply_compliance_packs
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
    "ModelAlias",
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
    "UsagePlan",
    "Waf",
    "acknowledge",
    "apply_compliance_packs",
]

__version__ = "0.1.0"
