"""PartnerApiStack: a REST API for external partners, metered by API keys and protected by WAF.

Partners authenticate twice: an OAuth access token from the Cognito user pool (client-credentials grant,
scopes ``partner-api/catalog.read`` and ``partner-api/orders.write``) and an API key, which ties every
request to a usage plan with a monthly quota and identifies the partner to the handler
(``requestContext.identity.apiKeyId``). ``GET /catalog`` is answered from the encrypted stage cache;
``POST /orders`` bodies are validated by API Gateway before the function runs. ``GET /catalog/export`` streams
the whole catalogue as NDJSON (a streaming REST route: ``add_route(..., stream=True)``) from its own function,
page by page, however large it grows.

To issue tokens the pool needs a domain: pass ``auth_domain_prefix`` (globally unique per region).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from lambda_manifest import (
    Authorizer,
    DataTable,
    ObservedFunction,
    ResponseCache,
    RestServerlessApi,
    RouteCache,
    StackResources,
    UsagePlan,
)
from stacks.code import app_code

RESOURCE_SERVER = "partner-api"
# Mirrors partner_api.service.ORDER_SCHEMA (JSON schema draft 4, which API Gateway models use), so malformed
# orders are refused at the edge; the handler validates again with the same rules.
ORDER_MODEL = {
    "type": "object",
    "required": ["sku", "quantity", "partner_reference"],
    "properties": {
        "sku": {"type": "string", "pattern": "^[A-Z0-9-]{3,32}$"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
        "partner_reference": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "additionalProperties": False,
}


class PartnerApiStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        monthly_quota: int = 100_000,
        auth_domain_prefix: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        key = StackResources.of(self).key

        pk = dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
        self.catalog = DataTable(self, "CatalogTable", partition_key=pk)
        self.orders = DataTable(self, "OrdersTable", partition_key=pk)

        self.handler = ObservedFunction(
            self,
            "PartnerHandler",
            handler="partner_api.handler.main",
            code=app_code("partner_api"),
            description="Catalogue reads and idempotent order intake for partners",
            # Inside the REST API's 29 s integration timeout, so a slow call ends as the function's own error.
            timeout=cdk.Duration.seconds(29),
            environment={
                "CATALOG_TABLE_NAME": self.catalog.table_name,
                "PARTNER_ORDERS_TABLE_NAME": self.orders.table_name,
            },
        )
        # Exactly what partner_api.service calls: Scan/GetItem on the catalogue, a conditional PutItem on orders.
        self.catalog.grant(self.handler, "dynamodb:Scan", "dynamodb:GetItem")
        self.orders.grant(self.handler, "dynamodb:PutItem")
        key.grant_encrypt_decrypt(self.handler)

        self.api = RestServerlessApi(
            self,
            "PartnerApi",
            description="Partner catalogue and orders (lambda-manifest example)",
            authorizer=Authorizer.cognito(),
            cache=ResponseCache(size="0.5", ttl=cdk.Duration.minutes(5)),
            usage_plans=[UsagePlan(name="Standard", quota_limit=monthly_quota,
                                   quota_period=apigateway.Period.MONTH, api_keys=["ExamplePartner"])],
            # This example is the account's only REST API, so it also sets up execution logging.
            cloud_watch_role=True,
        )
        pool = self.api.authorizer.user_pool if self.api.authorizer else None
        assert isinstance(pool, cognito.UserPool)
        read = cognito.ResourceServerScope(scope_name="catalog.read", scope_description="Read the catalogue")
        write = cognito.ResourceServerScope(scope_name="orders.write", scope_description="Submit orders")
        server = pool.add_resource_server("PartnerScopes", identifier=RESOURCE_SERVER, scopes=[read, write])
        self.partner_client = pool.add_client(
            "ExamplePartnerClient",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[cognito.OAuthScope.resource_server(server, read),
                        cognito.OAuthScope.resource_server(server, write)],
            ),
            access_token_validity=cdk.Duration.hours(1),
        )
        if auth_domain_prefix:
            pool.add_domain("AuthDomain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=auth_domain_prefix))

        catalog_scope = [f"{RESOURCE_SERVER}/catalog.read"]
        # The handler pages with ?limit and ?cursor, so both are part of the cache key.
        self.api.add_route("GET /catalog", self.handler, authorization_scopes=catalog_scope,
                           cache=RouteCache(query_strings=["limit", "cursor"]))
        self.api.add_route("GET /catalog/{sku}", self.handler, authorization_scopes=catalog_scope)
        self.api.add_route("POST /orders", self.handler, authorization_scopes=[f"{RESOURCE_SERVER}/orders.write"],
                           request_model=ORDER_MODEL)
        # A function of its own: a streaming route's function answers every request in the streaming format.
        self.exporter = ObservedFunction(
            self,
            "CatalogExport",
            handler="partner_api.export.main",
            code=app_code("partner_api"),
            description="Streams the whole active catalogue to a partner as NDJSON, page by page",
            # A streamed answer may run past the REST API's 29 s; a full export of a large catalogue gets 5 minutes.
            timeout=cdk.Duration.minutes(5),
            environment={"CATALOG_TABLE_NAME": self.catalog.table_name},
        )
        self.catalog.grant(self.exporter, "dynamodb:Scan")
        key.grant_decrypt(self.exporter)
        self.api.add_route("GET /catalog/export", self.exporter, authorization_scopes=catalog_scope, stream=True)
        cdk.CfnOutput(self, "ExamplePartnerApiKeyId", value=self.api.api_keys["ExamplePartner"].key_id)
        cdk.CfnOutput(self, "UserPoolId", value=pool.user_pool_id)
