"""ItemsApiStack: a CRUD API over DynamoDB behind an HTTP API with a Lambda authorizer.

``GET/POST /items`` and ``GET/PUT/DELETE /items/{id}`` all go to one function (``items_api.handler.main``).
Callers present ``Authorization: Bearer <JWT>`` signed with HS256; the shipped ``lambda_manifest.runtime.authorizer`` checks it
against a key kept in Secrets Manager, plus ``iss`` and ``aud``. Browsers may call it from one origin.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lambda_manifest import (
    Authorizer,
    Cors,
    DataTable,
    HttpServerlessApi,
    ObservedFunction,
    Pack,
    StackResources,
    acknowledge,
)
from stacks.code import app_code

# The DynamoDB calls items_api.service.ItemStore makes, and nothing else.
ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan")


class ItemsApiStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        allowed_origin: str = "https://app.example.com",
        token_issuer: str = "https://auth.example.com",
        token_audience: Sequence[str] = ("items-api",),
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        key = StackResources.of(self).key

        self.items = DataTable(
            self, "ItemsTable", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
        )
        self.table = self.items

        # The HS256 signing key shared with the token issuer: generated here, never in the template.
        self.signing_key = secretsmanager.Secret(
            self,
            "TokenSigningKey",
            description="HS256 key that signs bearer tokens for the items API (shared with the issuer)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        self.handler = ObservedFunction(
            self,
            "ItemsHandler",
            handler="items_api.handler.main",
            code=app_code("items_api"),
            description="CRUD over items for the items HTTP API",
            environment={"ITEMS_TABLE_NAME": self.table.table_name},
        )
        self.table.grant(self.handler, *ITEM_ACTIONS)
        key.grant_encrypt_decrypt(self.handler)

        self.api = HttpServerlessApi(
            self,
            "ItemsApi",
            description="Items CRUD (lambda-manifest example)",
            authorizer=Authorizer.lambda_(
                hs256_secret=self.signing_key, issuer=token_issuer, audience=list(token_audience)
            ),
            cors=Cors(allow_origins=[allowed_origin], expose_headers=["ETag", "Location"]),
        )
        for route in ("GET /items", "POST /items", "GET /items/{id}", "PUT /items/{id}", "DELETE /items/{id}"):
            self.api.add_route(route, self.handler)
        self._acknowledge()
        cdk.CfnOutput(self, "SigningKeySecret", value=self.signing_key.secret_arn)

    def _acknowledge(self) -> None:
        reason = (
            "The HS256 signing key is shared with the external token issuer; Secrets Manager cannot rotate the "
            "issuer's copy, so automatic rotation would invalidate every token in flight. Rotate it together "
            "with the issuer (the authorizer re-reads it every 5 minutes)."
        )
        acknowledge(self.signing_key, Pack.AWS_SOLUTIONS, "AwsSolutions-SMG4", reason)
        for pack in (Pack.HIPAA_SECURITY, Pack.NIST_800_53_R5):
            acknowledge(self.signing_key, pack, f"{pack.value}-SecretsManagerRotationEnabled", reason)
