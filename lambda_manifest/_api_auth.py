"""``Authorizer``: how an API authorizes its routes (JWT, Cognito, Lambda or IAM).

An ``Authorizer`` is a specification made by one of the static factories. The API binds it once, creating
what it needs (a user pool, the authorizer function, an API-key table) under the API's scope; the bound
resources are then readable on the ``Authorizer`` (``.function``, ``.user_pool``, ``.api_key_table``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lambda_manifest import _assets
from lambda_manifest import _defaults as defaults
from lambda_manifest._api_options import ApiType
from lambda_manifest._function_props import FunctionOptions, function_options
from lambda_manifest._validation import Problems, is_token, seconds
from lambda_manifest.compliance import Pack, acknowledge
from lambda_manifest.data_table import DataTable
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.runtime.authorizer import contract as auth_contract

_HEADER = re.compile(r"^[A-Za-z0-9-]+$")


class AuthorizerKind(enum.Enum):
    JWT = "JWT"
    COGNITO = "COGNITO"
    LAMBDA = "LAMBDA"
    IAM = "IAM"


class Authorizer:
    """Authorization for every route of an API (``HttpServerlessApi`` or ``RestServerlessApi``). Create one
    with a factory:

    * :meth:`jwt` - HTTP APIs: API Gateway validates JWTs from your identity provider.
    * :meth:`cognito` - a Cognito user pool (created with a secure policy, or yours).
    * :meth:`lambda_` - the shipped ``lambda_manifest.runtime.authorizer`` function: bearer JWTs (RS256 via JWKS, HS256 via a
      Secrets Manager secret) and/or API keys stored hashed in DynamoDB.
    * :meth:`iam` - SigV4-signed requests; grant callers with the API's ``grant_invoke``.

    One ``Authorizer`` belongs to one API.
    """

    def __init__(self, kind: AuthorizerKind, spec: _Jwt | _Cognito | _Lambda | None = None) -> None:
        self.kind = kind
        self._spec = spec
        self.function: ObservedFunction | None = None
        self.user_pool: aws_cognito.IUserPool | None = None
        self.user_pool_clients: list[aws_cognito.IUserPoolClient] = []
        self.api_key_table: dynamodb.ITable | None = None
        self.http_authorizer: apigwv2.IHttpRouteAuthorizer | None = None
        self.rest_authorizer: apigateway.IAuthorizer | None = None
        self._bound_to: str | None = None
        # REST authorizers must be attached to a method, so they are made with the first route that uses them.
        self._rest_factory: Callable[[], apigateway.IAuthorizer] | None = None

    # ------------------------------------------------------------------------------------------
    # Factories
    # ------------------------------------------------------------------------------------------
    @staticmethod
    def jwt(*, issuer: str, audience: Sequence[str], identity_header: str | None = None) -> Authorizer:
        """A JWT authorizer (HTTP APIs only): API Gateway checks signature, ``iss``, ``aud``, ``exp``.

        Parameters
        ----------
        issuer:
            The ``https://`` issuer URL; its ``/.well-known/openid-configuration`` must be reachable.
        audience:
            Accepted ``aud`` (or ``client_id``) values; at least one.
        identity_header:
            Default: ``Authorization``.
        """
        return Authorizer(AuthorizerKind.JWT, _Jwt(issuer=issuer, audience=list(audience),
                                                   identity_header=identity_header))

    @staticmethod
    def cognito(
        *,
        user_pool: aws_cognito.IUserPool | None = None,
        user_pool_clients: Sequence[aws_cognito.IUserPoolClient] | None = None,
        mfa: aws_cognito.Mfa | None = None,
        feature_plan: aws_cognito.FeaturePlan | None = None,
        password_min_length: int | None = None,
    ) -> Authorizer:
        """A Cognito user pool authorizer.

        Parameters
        ----------
        user_pool:
            Default: - a new pool: no self sign-up, e-mail sign-in, 12+ character passwords with every
            character class, TOTP MFA optional, Plus tier with full-function threat protection, deletion
            protection, retained on delete.
        user_pool_clients:
            HTTP APIs accept tokens of these clients. Default: - one new client (SRP sign-in, no secret).
        mfa / feature_plan / password_min_length:
            For a created pool. Default: ``Mfa.OPTIONAL`` / ``FeaturePlan.PLUS`` / ``12``.
        """
        return Authorizer(AuthorizerKind.COGNITO, _Cognito(
            user_pool=user_pool, user_pool_clients=list(user_pool_clients or []), mfa=mfa,
            feature_plan=feature_plan, password_min_length=password_min_length))

    @staticmethod
    def lambda_(
        *,
        jwks_url: str | None = None,
        hs256_secret: secretsmanager.ISecret | None = None,
        issuer: str | None = None,
        audience: Sequence[str] | None = None,
        api_key_table: dynamodb.ITable | bool = False,
        results_cache_ttl: cdk.Duration | None = None,
        identity_headers: Sequence[str] | None = None,
        leeway_seconds: int | None = None,
        tenant_claim: str | None = None,
        key_cache_ttl: cdk.Duration | None = None,
        timeout: cdk.Duration | None = None,
        function_options: FunctionOptions | None = None,
    ) -> Authorizer:
        """A Lambda REQUEST authorizer running the shipped ``lambda_manifest.runtime.authorizer.handler.main``.

        It denies by default, compares in constant time and never logs a credential.

        Parameters
        ----------
        jwks_url:
            ``https://`` JWKS endpoint: accept RS256 bearer tokens signed by its keys.
        hs256_secret:
            Secrets Manager secret holding the HMAC key (32+ bytes): accept HS256 bearer tokens. Read access
            is granted to the function; the value never enters its environment.
        issuer / audience:
            Required ``iss`` and accepted ``aud`` values; required with ``jwks_url`` or ``hs256_secret``.
        api_key_table:
            Accept ``x-api-key`` keys stored hashed in DynamoDB (``pk = "APIKEY#<sha256>"``, see
            ``lambda_manifest.runtime.authorizer.apikeys``): a table you own, or ``True`` to create one (KMS-encrypted with the
            stack key, point-in-time recovery, deletion protection). Default: ``False``.
        results_cache_ttl:
            How long API Gateway caches a decision per identity, 0-3600 s. Default: 5 minutes; ``0``
            when both bearer tokens and API keys are enabled and ``identity_headers`` is not given.
        identity_headers:
            Headers that identify the caller (the cache key; requests without them get 401 without invoking
            the function). Default: ``["Authorization"]`` for tokens, ``["x-api-key"]`` for keys only,
            none when both are enabled (caching needs one header every request carries).
        leeway_seconds:
            Clock skew for ``exp``/``nbf``/``iat``, 0-300. Default: 30.
        tenant_claim:
            JWT claim holding the tenant. Default: ``tenant``.
        key_cache_ttl:
            How long each container caches the JWKS and the HS256 secret. Default: 5 minutes.
        timeout:
            Function timeout, 1-10 s. Default: 10 s (API Gateway's authorizer limit).
        function_options:
            Extra ``ObservedFunction`` props: ``FunctionOptions(memory_size=..., reserved_concurrent_executions=...,
            code=...)``; not ``handler``, ``environment`` or ``secrets``, which the factory arguments set.
        """
        return Authorizer(AuthorizerKind.LAMBDA, _Lambda(
            jwks_url=jwks_url, hs256_secret=hs256_secret, issuer=issuer, audience=list(audience or []),
            api_key_table=api_key_table, results_cache_ttl=results_cache_ttl,
            identity_headers=None if identity_headers is None else list(identity_headers),
            leeway_seconds=leeway_seconds, tenant_claim=tenant_claim, key_cache_ttl=key_cache_ttl, timeout=timeout,
            function_options=function_options))

    @staticmethod
    def iam() -> Authorizer:
        """IAM authorization: callers sign requests with SigV4 and need ``execute-api:Invoke``
        (the API's ``grant_invoke``)."""
        return Authorizer(AuthorizerKind.IAM)

    # ------------------------------------------------------------------------------------------
    # What the API asks
    # ------------------------------------------------------------------------------------------
    @property
    def supports_scopes(self) -> bool:
        return self.kind in (AuthorizerKind.JWT, AuthorizerKind.COGNITO)

    @property
    def description(self) -> str:
        return {
            AuthorizerKind.JWT: "a JWT authorizer",
            AuthorizerKind.COGNITO: "a Cognito user pool authorizer",
            AuthorizerKind.LAMBDA: "the lambda_manifest.runtime.authorizer Lambda authorizer",
            AuthorizerKind.IAM: "IAM (SigV4) authorization",
        }[self.kind]

    def _identity_headers(self) -> list[str]:
        spec = self._spec
        if isinstance(spec, _Jwt):
            return [spec.identity_header or defaults.JWT_IDENTITY_HEADER.value]
        if not isinstance(spec, _Lambda):
            return [defaults.JWT_IDENTITY_HEADER.value]
        if spec.identity_headers is not None:
            return list(spec.identity_headers)
        if spec.tokens and spec.api_key_table:
            return []
        return [auth_contract.AUTHORIZATION_HEADER] if spec.tokens else [auth_contract.API_KEY_HEADER]

    def _cache_ttl_seconds(self) -> int:
        ttl = seconds(self._spec.results_cache_ttl) if isinstance(self._spec, _Lambda) else None
        if ttl is not None:
            return int(ttl)
        if not self._identity_headers():
            return 0
        return int(defaults.AUTHORIZER_CACHE_TTL_SECONDS.value)

    def headers_read(self) -> frozenset[str]:
        """The request headers (lower-case) this authorizer reads, so nothing else may carry a credential in them."""
        spec = self._spec
        if isinstance(spec, _Jwt):
            return frozenset({(spec.identity_header or defaults.JWT_IDENTITY_HEADER.value).lower()})
        if not isinstance(spec, _Lambda):
            return frozenset({"authorization"})  # SigV4 signature / the user pool's token
        # The shipped authorizer takes Authorization as a bearer token whenever a request carries it (and denies
        # the request unless it is a valid JWT, even with tokens off), and reads x-api-key when its API-key table
        # is on.
        headers = {"authorization", *(h.lower() for h in spec.identity_headers or [])}
        if spec.api_key_table:
            headers.add(auth_contract.API_KEY_HEADER)
        return frozenset(headers)

    def check(self, problems: Problems, api_type: ApiType) -> None:
        """Add every problem with this authorizer for an API of ``api_type``."""
        if self._bound_to is not None:
            problems.add("authorizer", "a new Authorizer for each API", f"already used by {self._bound_to}",
                         "call the Authorizer factory again for this API")
        spec = self._spec
        if isinstance(spec, _Jwt):
            if api_type is ApiType.REST:
                problems.add("authorizer", "Authorizer.cognito(), Authorizer.lambda_() or Authorizer.iam() on a "
                             "REST API", "Authorizer.jwt()",
                             "REST APIs have no JWT authorizer: use Authorizer.cognito(user_pool=...) for Cognito "
                             "tokens or Authorizer.lambda_(jwks_url=..., issuer=..., audience=...) for any IdP")
            _check_https("authorizer.issuer", spec.issuer, problems)
            if not spec.audience:
                problems.add("authorizer.audience", "at least one audience", spec.audience,
                             "pass the client ids or API identifiers your tokens carry in 'aud'")
        if isinstance(spec, _Cognito):
            if spec.user_pool is not None and any(v is not None for v in (spec.mfa, spec.feature_plan,
                                                                           spec.password_min_length)):
                problems.add("authorizer", "mfa/feature_plan/password_min_length only for a created user pool",
                             "set with user_pool", "configure your own pool directly, or drop user_pool")
            if spec.mfa is not None and spec.mfa == aws_cognito.Mfa.OFF:
                problems.add("authorizer.mfa", "Mfa.OPTIONAL or Mfa.REQUIRED", "Mfa.OFF",
                             "users must at least be able to enrol a second factor")
            if spec.password_min_length is not None:
                low, high = defaults.COGNITO_PASSWORD_RANGE
                problems.check_range("authorizer.password_min_length", spec.password_min_length, low, high,
                                     "characters", "pass 12 or more")
            if spec.user_pool_clients and api_type is ApiType.REST:
                problems.add("authorizer.user_pool_clients", "used only on HTTP APIs", "set",
                             "REST Cognito authorizers accept tokens of every client of the pool; drop it")
        if isinstance(spec, _Lambda):
            spec.check(problems, self._identity_headers())

    # ------------------------------------------------------------------------------------------
    # Binding
    # ------------------------------------------------------------------------------------------
    def bind(self, scope: Construct, api_type: ApiType) -> None:
        """Create the authorizer's resources under ``scope`` (the API construct)."""
        self._bound_to = scope.node.path
        spec = self._spec
        if isinstance(spec, _Cognito):
            self._bind_cognito(scope, api_type, spec)
        elif isinstance(spec, _Lambda):
            self._bind_lambda(scope, api_type, spec)
        elif isinstance(spec, _Jwt):
            self.http_authorizer = authorizers.HttpJwtAuthorizer(
                "JwtAuthorizer", spec.issuer, jwt_audience=spec.audience,
                identity_source=[f"$request.header.{h}" for h in self._identity_headers()],
            )
        elif api_type is ApiType.HTTP:
            self.http_authorizer = authorizers.HttpIamAuthorizer()

    def rest_authorizer_for_route(self) -> apigateway.IAuthorizer | None:
        """The REST authorizer construct, created on first use (``None`` for IAM)."""
        if self.rest_authorizer is None and self._rest_factory is not None:
            self.rest_authorizer = self._rest_factory()
        return self.rest_authorizer

    def _bind_cognito(self, scope: Construct, api_type: ApiType, spec: _Cognito) -> None:
        pool: aws_cognito.IUserPool = spec.user_pool or self._create_user_pool(scope, spec)
        self.user_pool = pool
        if api_type is ApiType.HTTP:
            clients = list(spec.user_pool_clients) or [pool.add_client(
                "ApiClient",
                auth_flows=aws_cognito.AuthFlow(user_srp=True),
                disable_o_auth=True,
                generate_secret=False,
                prevent_user_existence_errors=True,
            )]
            self.user_pool_clients = clients
            self.http_authorizer = authorizers.HttpUserPoolAuthorizer(
                "UserPoolAuthorizer", pool, user_pool_clients=clients,
                identity_source=["$request.header.Authorization"],
            )
        else:
            self._rest_factory = lambda: apigateway.CognitoUserPoolsAuthorizer(
                scope, "UserPoolAuthorizer", cognito_user_pools=[pool],
                identity_source=apigateway.IdentitySource.header("Authorization"),
            )

    def _create_user_pool(self, scope: Construct, spec: _Cognito) -> aws_cognito.UserPool:
        plan = spec.feature_plan or aws_cognito.FeaturePlan[defaults.COGNITO_FEATURE_PLAN.value]
        mfa = spec.mfa or aws_cognito.Mfa[defaults.COGNITO_MFA.value]
        pool = aws_cognito.UserPool(
            scope,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=aws_cognito.SignInAliases(email=True),
            auto_verify=aws_cognito.AutoVerifiedAttrs(email=True),
            password_policy=aws_cognito.PasswordPolicy(
                min_length=spec.password_min_length or defaults.COGNITO_PASSWORD_MIN_LENGTH.value,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                password_history_size=5,
                temp_password_validity=cdk.Duration.days(3),
            ),
            mfa=mfa,
            mfa_second_factor=aws_cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=aws_cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=plan,
            standard_threat_protection_mode=(
                aws_cognito.StandardThreatProtectionMode.FULL_FUNCTION if plan == aws_cognito.FeaturePlan.PLUS else None
            ),
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        if mfa != aws_cognito.Mfa.REQUIRED:
            why = ("TOTP MFA is offered to every user and, on the Plus tier, adaptive authentication demands it "
                   "for risky sign-ins" if plan == aws_cognito.FeaturePlan.PLUS else "TOTP MFA is offered to every user")
            acknowledge(pool, Pack.AWS_SOLUTIONS, "AwsSolutions-COG2",
                        f"{pool.node.path}: {why}; requiring it would lock out users without an authenticator. "
                        "Pass Authorizer.cognito(mfa=Mfa.REQUIRED) to require it.")
        if plan != aws_cognito.FeaturePlan.PLUS:
            acknowledge(pool, Pack.AWS_SOLUTIONS, "AwsSolutions-COG8",
                        f"{pool.node.path} was asked for FeaturePlan.{plan.name} to avoid the Plus tier's per-user "
                        "price; threat protection is off. Pass feature_plan=FeaturePlan.PLUS to enable it.")
        return pool

    def _bind_lambda(self, scope: Construct, api_type: ApiType, spec: _Lambda) -> None:
        env: dict[str, str] = {}
        if spec.jwks_url:
            env[auth_contract.ENV_JWKS_URL] = spec.jwks_url
        if spec.issuer:
            env[auth_contract.ENV_ISSUER] = spec.issuer
        if spec.audience:
            env[auth_contract.ENV_AUDIENCE] = ",".join(spec.audience)
        if spec.leeway_seconds is not None:
            env[auth_contract.ENV_LEEWAY_SECONDS] = str(spec.leeway_seconds)
        if spec.tenant_claim:
            env[auth_contract.ENV_TENANT_CLAIM] = spec.tenant_claim
        key_ttl = seconds(spec.key_cache_ttl)
        if key_ttl is not None:
            env[auth_contract.ENV_CACHE_TTL_SECONDS] = str(int(key_ttl))
        table = spec.api_key_table
        if table is True:
            table = self._create_api_key_table(scope)
        if table:
            assert not isinstance(table, bool)
            self.api_key_table = table
            env[auth_contract.ENV_API_KEY_TABLE] = table.table_name
        secret = spec.hs256_secret
        if secret is not None:
            env[auth_contract.ENV_HS256_SECRET_ARN] = secret.secret_arn
        options = (spec.function_options or FunctionOptions()).with_defaults(
            code=_assets.runtime_code("authorizer"),
            description=f"Authorizes requests to {scope.node.path} (lambda_manifest.runtime.authorizer)",
            timeout=spec.timeout or cdk.Duration.seconds(defaults.AUTHORIZER_TIMEOUT_SECONDS.value),
        )
        function = ObservedFunction(scope, "Authorizer", **{**options.given(), "handler": auth_contract.HANDLER,
                                                            "environment": env})
        self.function = function
        if secret is not None:
            function.grant_read_secret(secret, actions=auth_contract.SECRET_ACTIONS)
        if self.api_key_table is not None:
            # The function looks keys up by hash and never writes: GetItem only, plus decrypt for a CMK table.
            self.api_key_table.grant(function, *auth_contract.API_KEY_TABLE_ACTIONS)
            if self.api_key_table.encryption_key is not None:
                self.api_key_table.encryption_key.grant_decrypt(function)
        ttl = cdk.Duration.seconds(self._cache_ttl_seconds())
        headers = self._identity_headers()
        if api_type is ApiType.HTTP:
            self.http_authorizer = authorizers.HttpLambdaAuthorizer(
                "LambdaAuthorizer", function.invocable,
                response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
                results_cache_ttl=ttl,
                identity_source=[f"$request.header.{h}" for h in headers],
            )
        else:
            self._rest_factory = lambda: apigateway.RequestAuthorizer(
                scope, "LambdaAuthorizer", handler=function.invocable, results_cache_ttl=ttl,
                identity_sources=[apigateway.IdentitySource.header(h) for h in headers],
            )

    def _create_api_key_table(self, scope: Construct) -> dynamodb.Table:
        # Losing this table would revoke every API key at once, so it is backed up like any other data.
        table = DataTable(
            scope, "ApiKeyTable",
            partition_key=dynamodb.Attribute(name=auth_contract.API_KEY_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
        )
        return table


@dataclass(frozen=True, kw_only=True)
class _Jwt:
    issuer: str
    audience: list[str]
    identity_header: str | None


@dataclass(frozen=True, kw_only=True)
class _Cognito:
    user_pool: aws_cognito.IUserPool | None
    user_pool_clients: list[aws_cognito.IUserPoolClient]
    mfa: aws_cognito.Mfa | None
    feature_plan: aws_cognito.FeaturePlan | None
    password_min_length: int | None


@dataclass(frozen=True, kw_only=True)
class _Lambda:
    jwks_url: str | None
    hs256_secret: secretsmanager.ISecret | None
    issuer: str | None
    audience: list[str]
    api_key_table: dynamodb.ITable | bool
    results_cache_ttl: cdk.Duration | None
    identity_headers: list[str] | None
    leeway_seconds: int | None
    tenant_claim: str | None
    key_cache_ttl: cdk.Duration | None
    timeout: cdk.Duration | None
    function_options: FunctionOptions | None

    @property
    def tokens(self) -> bool:
        return bool(self.jwks_url or self.hs256_secret)

    def check(self, problems: Problems, identity_headers: list[str]) -> None:
        if not self.tokens and not self.api_key_table:
            problems.add("authorizer", "Authorizer.lambda_ with jwks_url, hs256_secret and/or api_key_table",
                         "no credential type", "enable bearer tokens, API keys, or both")
        if self.jwks_url is not None:
            _check_https("authorizer.jwks_url", self.jwks_url, problems)
        if self.tokens:
            if not self.issuer:
                problems.add("authorizer.issuer", "set when bearer tokens are enabled", self.issuer,
                             "pass the 'iss' your tokens carry; without it a token from any issuer sharing the "
                             "key would pass")
            if not self.audience:
                problems.add("authorizer.audience", "at least one audience when bearer tokens are enabled",
                             self.audience, "pass the 'aud' values of tokens minted for this API")
        elif self.issuer or self.audience:
            problems.add("authorizer.issuer/audience", "used only with jwks_url or hs256_secret", "set",
                         "enable bearer tokens or drop issuer/audience")
        for header in self.identity_headers or []:
            if not _HEADER.match(header):
                problems.add("authorizer.identity_headers", "header names", header, "e.g. 'Authorization'")
        low, high = defaults.AUTHORIZER_CACHE_TTL_RANGE_SECONDS
        ttl = seconds(self.results_cache_ttl)
        problems.check_range("authorizer.results_cache_ttl", ttl, low, high, "seconds",
                             "pass e.g. results_cache_ttl=Duration.minutes(5), or Duration.seconds(0) to disable")
        if ttl and self.identity_headers is not None and not self.identity_headers:
            problems.add("authorizer.results_cache_ttl", "0 when identity_headers is empty", ttl,
                         "caching is keyed by the identity headers: name one, or pass results_cache_ttl=0")
        if ttl and self.identity_headers is None and not identity_headers:
            problems.add("authorizer.results_cache_ttl", "0 when both bearer tokens and API keys are enabled "
                         "without identity_headers", ttl,
                         "pass identity_headers=['Authorization'] (API-key callers then need it too) or drop "
                         "results_cache_ttl")
        low, high = defaults.AUTHORIZER_LEEWAY_RANGE_SECONDS
        problems.check_range("authorizer.leeway_seconds", self.leeway_seconds, low, high, "seconds", "pass e.g. 30")
        low, high = defaults.AUTHORIZER_TIMEOUT_RANGE_SECONDS
        problems.check_range("authorizer.timeout", seconds(self.timeout), low, high, "seconds",
                             "API Gateway waits at most 10 s for an authorizer")
        options = function_options(problems, "authorizer.function_options", self.function_options)
        if options is not None:
            clash = sorted(name for name in ("handler", "environment", "secrets")
                           if getattr(options, name) is not None)
            if clash:
                problems.add("authorizer.function_options", "free of handler, environment and secrets", clash,
                             "the authorizer's handler, environment and secrets are set from the factory arguments")


def _check_https(prop: str, url: str | None, problems: Problems) -> None:
    if url is None or is_token(url):
        if url is None:
            problems.add(prop, "an https:// URL", url, "pass the URL")
        return
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        problems.add(prop, "an https:// URL", url, "keys and issuers are fetched over TLS only")
