"""The Lambda REQUEST authorizer: JWT (RS256 via a real loopback JWKS server, HS256 via Secrets Manager)
and hashed API keys in DynamoDB, for HTTP API (simple responses) and REST API (IAM policy) events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from api_events import (
    FakeLambdaContext,
    captured_logs,
    http_authorizer_event,
    http_event,
    rest_authorizer_event,
)
from auth_fakes import JwksServer, RsaKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from lambda_manifest.runtime import aws as runtime_aws
from lambda_manifest.runtime.authorizer import handler
from lambda_manifest.runtime.authorizer.apikeys import partition_key
from lambda_manifest.runtime.authorizer.config import AWS_CLIENT, AuthConfig
from lambda_manifest.runtime.authorizer.core import Authorizer, fingerprint
from lambda_manifest.runtime.authorizer.jwt import (
    ParsedToken,
    RsaPublicKey,
    TokenError,
    b64url_encode,
    parse,
    public_jwk,
    sign_hs256,
    sign_rs256,
    verify_rs256,
)
from lambda_manifest.runtime.authorizer.keys import JwksCache, hs256_keys

ISSUER = "https://idp.example.com/"
AUDIENCE = "items-api"
HS_SECRET = "s3cr3t-" + "x" * 41  # 48 bytes, above the 32-byte HS256 minimum
API_KEY = "lmk_live_4f9c2a7e1b3d5f6a8c0e2b4d6f8a0c1e"
REVOKED_KEY = "lmk_live_revoked_0000000000000000000000"
EXPIRED_KEY = "lmk_live_expired_0000000000000000000000"
HS256_HEADER = b64url_encode(b'{"alg":"HS256"}')


# --- Keys and the JWKS server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> dict[str, RsaKey]:
    return {name: RsaKey(name) for name in ("k1", "k2", "attacker")}


@pytest.fixture(scope="module")
def jwks_server(keys: dict[str, RsaKey]) -> Iterator[JwksServer]:
    with JwksServer() as server:
        server.document = {"keys": [keys["k1"].jwk()]}
        yield server


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, str]]:
    """Secrets Manager secret and API-key table in moto, shared by the module."""
    with mock_aws():
        runtime_aws.reset_clients()
        secret_arn = boto3.client("secretsmanager").create_secret(Name="lm/hs256", SecretString=HS_SECRET)[
            "ARN"
        ]
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName="api-keys",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        items = [
            {
                "pk": {"S": partition_key(API_KEY)},
                "tenant": {"S": "acme"},
                "scopes": {"SS": ["orders:write", "catalog:read"]},
                "revoked": {"BOOL": False},
            },
            {"pk": {"S": partition_key(REVOKED_KEY)}, "tenant": {"S": "acme"}, "revoked": {"BOOL": True}},
            {"pk": {"S": partition_key(EXPIRED_KEY)}, "tenant": {"S": "acme"}, "expires_at": {"N": "1000"}},
        ]
        for item in items:
            ddb.put_item(TableName="api-keys", Item=item)
        yield {"secret_arn": secret_arn, "table": "api-keys"}
        runtime_aws.reset_clients()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str], jwks_server: JwksServer) -> Iterator[None]:
    """Everything enabled: RS256, HS256 and API keys."""
    monkeypatch.setenv("LM_AUTH_JWKS_URL", jwks_server.url)
    monkeypatch.setenv("LM_AUTH_HS256_SECRET_ARN", aws["secret_arn"])
    monkeypatch.setenv("LM_AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("LM_AUTH_AUDIENCE", f"other-api, {AUDIENCE}")
    monkeypatch.setenv("LM_AUTH_API_KEY_TABLE", aws["table"])
    monkeypatch.delenv("LM_AUTH_LEEWAY_SECONDS", raising=False)
    handler.reset()
    yield
    handler.reset()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "user-123",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "tenant": "acme",
        "scope": "items:read items:write",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return handler.main(event, FakeLambdaContext())


def allowed(response: dict[str, Any]) -> bool:
    if "isAuthorized" in response:
        return bool(response["isAuthorized"])
    return bool(response["policyDocument"]["Statement"][0]["Effect"] == "Allow")


def http_bearer(token: str) -> dict[str, Any]:
    return http_authorizer_event({"Authorization": f"Bearer {token}"})


def decide(token: str) -> str:
    """The deny reason (or "allow") for a bearer token, through the real handler."""
    decision = handler.authorizer().decide(http_bearer(token))
    return "allow" if decision.allow else decision.reason


# --- Allow -----------------------------------------------------------------------------------------------


def test_valid_hs256_token_is_allowed_with_simple_response(env: None) -> None:
    response = invoke(http_bearer(sign_hs256(claims(), HS_SECRET)))
    assert response == {
        "isAuthorized": True,
        "context": {
            "sub": "user-123",
            "tenant": "acme",
            "scopes": "items:read items:write",
            "auth_type": "jwt",
        },
    }


def test_valid_rs256_token_is_allowed(env: None, keys: dict[str, RsaKey]) -> None:
    response = invoke(http_bearer(keys["k1"].sign(claims())))
    assert response["isAuthorized"] is True
    assert response["context"]["sub"] == "user-123"


def test_rest_event_gets_a_policy_widened_to_the_stage(env: None, keys: dict[str, RsaKey]) -> None:
    event = rest_authorizer_event({"Authorization": f"Bearer {keys['k1'].sign(claims())}"})
    response = invoke(event)
    assert response["principalId"] == "user-123"
    assert response["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/*",
            }
        ],
    }
    assert response["context"]["tenant"] == "acme"
    assert all(isinstance(v, str) for v in response["context"].values())


def test_rest_token_authorizer_event_is_supported(env: None) -> None:
    event = {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {sign_hs256(claims(), HS_SECRET)}",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/catalog",
    }
    assert allowed(invoke(event))


def test_audience_list_with_one_allowed_value_is_accepted(env: None) -> None:
    assert decide(sign_hs256(claims(aud=["someone-else", AUDIENCE]), HS_SECRET)) == "allow"


def test_leeway_tolerates_small_clock_skew(env: None) -> None:
    now = int(time.time())
    assert decide(sign_hs256(claims(exp=now - 10), HS_SECRET)) == "allow"
    assert decide(sign_hs256(claims(nbf=now + 10), HS_SECRET)) == "allow"


# --- Deny ------------------------------------------------------------------------------------------------


def test_expired_token_is_denied(env: None) -> None:
    assert decide(sign_hs256(claims(exp=int(time.time()) - 31), HS_SECRET)) == "token expired"


def test_missing_exp_is_denied(env: None) -> None:
    token = sign_hs256({k: v for k, v in claims().items() if k != "exp"}, HS_SECRET)
    assert decide(token) == "missing or invalid exp"


def test_not_yet_valid_token_is_denied(env: None) -> None:
    assert decide(sign_hs256(claims(nbf=int(time.time()) + 120), HS_SECRET)) == "token not yet valid"


def test_token_issued_in_the_future_is_denied(env: None) -> None:
    assert decide(sign_hs256(claims(iat=int(time.time()) + 120), HS_SECRET)) == "token issued in the future"


def test_wrong_issuer_is_denied(env: None, keys: dict[str, RsaKey]) -> None:
    assert decide(keys["k1"].sign(claims(iss="https://evil.example.com/"))) == "issuer mismatch"


def test_wrong_audience_is_denied(env: None, keys: dict[str, RsaKey]) -> None:
    assert decide(keys["k1"].sign(claims(aud="billing-api"))) == "audience mismatch"
    assert decide(keys["k1"].sign(claims(aud=None))) == "audience mismatch"


def test_missing_sub_is_denied(env: None) -> None:
    assert decide(sign_hs256(claims(sub=None), HS_SECRET)) == "missing sub"


def test_rs256_signed_by_another_key_with_a_known_kid_is_denied(env: None, keys: dict[str, RsaKey]) -> None:
    forged = sign_rs256(claims(), n=keys["attacker"].n, d=keys["attacker"].d, kid="k1")
    assert decide(forged) == "bad signature"


def test_hs256_signed_with_another_secret_is_denied(env: None) -> None:
    assert decide(sign_hs256(claims(), "y" * 48)) == "bad signature"


def test_tampered_payload_is_denied(env: None, keys: dict[str, RsaKey]) -> None:
    header, _, signature = keys["k1"].sign(claims()).split(".")
    payload = b64url_encode(json.dumps(claims(sub="admin")).encode())
    assert decide(f"{header}.{payload}.{signature}") == "bad signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_denied(env: None, alg: str) -> None:
    header = b64url_encode(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url_encode(json.dumps(claims()).encode())
    assert decide(f"{header}.{payload}.") == "alg none rejected"


def test_alg_confusion_hs256_with_rsa_public_key_is_denied(
    monkeypatch: pytest.MonkeyPatch, env: None, keys: dict[str, RsaKey]
) -> None:
    # Only RS256 is configured; the attacker HMACs with the public key, hoping it is used as a secret.
    monkeypatch.delenv("LM_AUTH_HS256_SECRET_ARN")
    handler.reset()
    public_material = json.dumps(keys["k1"].jwk(), sort_keys=True)
    token = sign_hs256(claims(), public_material, headers={"kid": "k1"})
    assert decide(token) == "alg not allowed"
    assert decide(keys["k1"].sign(claims())) == "allow"


@pytest.mark.parametrize("alg", ["RS512", "ES256", "HS512", "PS256"])
def test_unconfigured_algorithms_are_denied(env: None, alg: str) -> None:
    token = sign_hs256(claims(), HS_SECRET, headers={"alg": alg})
    assert decide(token) == "alg not allowed"


@pytest.mark.parametrize(
    ("header_value", "reason"),
    [
        ("Bearer", "malformed authorization header"),
        ("Bearer ", "malformed authorization header"),
        ("Basic dXNlcjpwYXNz", "malformed authorization header"),
        ("Bearer a b", "malformed authorization header"),
        ("Bearer abc.def", "malformed token: expected three segments"),
        ("Bearer a.b.c.d", "malformed token: expected three segments"),
        ("Bearer !!!.???.***", "malformed token: bad base64url"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9=.e30.c2ln", "malformed token: bad base64url"),
        (f"Bearer {b64url_encode(b'not json')}.e30.c2ln", "malformed token: header is not JSON"),
        (f"Bearer {b64url_encode(b'[1]')}.e30.c2ln", "malformed token: header is not a JSON object"),
        (f"Bearer {b64url_encode(b'{}')}.e30.c2ln", "malformed token: missing alg"),
        (
            f"Bearer {HS256_HEADER}.{b64url_encode(b'1')}.c2ln",
            "malformed token: payload is not a JSON object",
        ),
        (f"Bearer {'a' * 9000}.b.c", "malformed token: too long"),
    ],
)
def test_malformed_authorization_header_is_denied(env: None, header_value: str, reason: str) -> None:
    decision = handler.authorizer().decide(http_authorizer_event({"Authorization": header_value}))
    assert (decision.allow, decision.reason) == (False, reason)


def test_crit_header_is_denied(env: None) -> None:
    token = sign_hs256(claims(), HS_SECRET, headers={"crit": ["exp"]})
    assert decide(token) == "malformed token: unsupported critical header"


def test_rs256_without_kid_is_denied(env: None, keys: dict[str, RsaKey]) -> None:
    token = sign_rs256(claims(), n=keys["k1"].n, d=keys["k1"].d)
    assert decide(token) == "malformed token: missing kid"


def test_missing_credentials_are_denied_for_both_flavours(env: None) -> None:
    assert invoke(http_authorizer_event({})) == {"isAuthorized": False, "context": {}}
    response = invoke(rest_authorizer_event({}))
    assert response["principalId"] == "anonymous"
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert response["context"] == {}


def test_misconfiguration_denies_everything(monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    monkeypatch.delenv("LM_AUTH_AUDIENCE")
    handler.reset()
    decision = handler.authorizer().decide(http_bearer(sign_hs256(claims(), HS_SECRET)))
    assert not decision.allow
    assert "LM_AUTH_AUDIENCE is required" in decision.reason


@pytest.mark.parametrize(
    ("env_vars", "problem"),
    [
        ({}, "no credential type is enabled"),
        (
            {
                "LM_AUTH_JWKS_URL": "http://idp.example.com/jwks",
                "LM_AUTH_ISSUER": "i",
                "LM_AUTH_AUDIENCE": "a",
            },
            "https://",
        ),
        (
            {"LM_AUTH_JWKS_URL": "file:///etc/passwd", "LM_AUTH_ISSUER": "i", "LM_AUTH_AUDIENCE": "a"},
            "https://",
        ),
        ({"LM_AUTH_API_KEY_TABLE": "t", "LM_AUTH_LEEWAY_SECONDS": "abc"}, "must be an integer"),
        ({"LM_AUTH_API_KEY_TABLE": "t", "LM_AUTH_LEEWAY_SECONDS": "3600"}, "must be 0-300"),
        ({"LM_AUTH_HS256_SECRET_ARN": "arn", "LM_AUTH_AUDIENCE": "a"}, "LM_AUTH_ISSUER is required"),
    ],
)
def test_config_problems_are_reported(env_vars: dict[str, str], problem: str) -> None:
    assert any(problem in p for p in AuthConfig.from_env(env_vars).problems())


def test_config_parses_audiences_and_defaults() -> None:
    config = AuthConfig.from_env(
        {"LM_AUTH_API_KEY_TABLE": "t", "LM_AUTH_AUDIENCE": " a, b ,,c ", "LM_AUTH_LEEWAY_SECONDS": "5"}
    )
    assert config.audiences == ("a", "b", "c")
    assert config.leeway_seconds == 5
    assert config.algorithms == frozenset()
    assert config.problems() == []
    defaults = AuthConfig.from_env({"LM_AUTH_API_KEY_TABLE": "t"})
    assert (defaults.leeway_seconds, defaults.cache_ttl_seconds, defaults.tenant_claim) == (30, 300, "tenant")


# --- JWKS caching and rotation ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rs_only_authorizer(url: str, clock: FakeClock) -> Authorizer:
    config = AuthConfig(jwks_url=url, issuer=ISSUER, audiences=(AUDIENCE,))
    return Authorizer(config, jwks=JwksCache(url, ttl_seconds=300, min_refetch_seconds=10, clock=clock))


def test_unknown_kid_triggers_one_refetch_after_rotation(
    jwks_server: JwksServer, keys: dict[str, RsaKey]
) -> None:
    clock = FakeClock()
    authorizer = rs_only_authorizer(jwks_server.url, clock)
    jwks_server.document = {"keys": [keys["k1"].jwk()]}
    assert authorizer.decide(http_bearer(keys["k1"].sign(claims()))).allow
    assert authorizer.jwks is not None and authorizer.jwks.fetch_count == 1

    # The IdP rotates in k2 while our cached copy is still fresh.
    jwks_server.document = {"keys": [keys["k1"].jwk(), keys["k2"].jwk()]}
    clock.now += 60
    before = jwks_server.requests
    assert authorizer.decide(http_bearer(keys["k2"].sign(claims()))).allow
    assert authorizer.jwks.fetch_count == 2
    assert jwks_server.requests == before + 1

    # Cached now: no more fetches for either key.
    assert authorizer.decide(http_bearer(keys["k2"].sign(claims()))).allow
    assert authorizer.decide(http_bearer(keys["k1"].sign(claims()))).allow
    assert authorizer.jwks.fetch_count == 2


def test_unknown_kid_refetches_are_rate_limited(jwks_server: JwksServer, keys: dict[str, RsaKey]) -> None:
    clock = FakeClock()
    authorizer = rs_only_authorizer(jwks_server.url, clock)
    jwks_server.document = {"keys": [keys["k1"].jwk()]}
    assert authorizer.decide(http_bearer(keys["k1"].sign(claims()))).allow
    clock.now += 60
    stranger = sign_rs256(claims(), n=keys["attacker"].n, d=keys["attacker"].d, kid="nobody")
    assert authorizer.decide(http_bearer(stranger)).reason == "unknown kid"
    assert authorizer.jwks is not None and authorizer.jwks.fetch_count == 2  # exactly one refetch
    for _ in range(5):
        assert authorizer.decide(http_bearer(stranger)).reason == "unknown kid"
    assert authorizer.jwks.fetch_count == 2  # within min_refetch_seconds: no amplification


def test_jwks_is_refetched_after_ttl(jwks_server: JwksServer, keys: dict[str, RsaKey]) -> None:
    clock = FakeClock()
    authorizer = rs_only_authorizer(jwks_server.url, clock)
    jwks_server.document = {"keys": [keys["k1"].jwk()]}
    assert authorizer.decide(http_bearer(keys["k1"].sign(claims()))).allow
    clock.now += 301
    assert authorizer.decide(http_bearer(keys["k1"].sign(claims()))).allow
    assert authorizer.jwks is not None and authorizer.jwks.fetch_count == 2


def test_stale_keys_survive_a_short_idp_outage_but_not_a_long_one(keys: dict[str, RsaKey]) -> None:
    clock = FakeClock()
    state = {"up": True}

    def fetcher(url: str) -> dict[str, Any]:
        if not state["up"]:
            raise OSError("connection refused")
        return {"keys": [keys["k1"].jwk()]}

    cache = JwksCache("https://idp", ttl_seconds=300, max_stale_seconds=3600, clock=clock, fetcher=fetcher)
    assert cache.key("k1") is not None
    state["up"] = False
    clock.now += 400
    assert cache.key("k1") is not None
    assert cache.last_error == "OSError"
    clock.now += 3600
    with pytest.raises(TokenError, match="JWKS unavailable"):
        cache.key("k1")


def test_unreachable_jwks_denies(keys: dict[str, RsaKey]) -> None:
    url = "http://127.0.0.1:9/jwks.json"  # the discard port: nothing listens, the connection is refused
    config = AuthConfig(jwks_url=url, issuer=ISSUER, audiences=(AUDIENCE,))
    authorizer = Authorizer(config)
    assert authorizer.decide(http_bearer(keys["k1"].sign(claims()))).reason == "JWKS unavailable"
    assert authorizer.jwks is not None and authorizer.jwks.last_error is not None


def test_jwks_ignores_unusable_keys(keys: dict[str, RsaKey]) -> None:
    weak = public_jwk(3233, 17, "weak")  # a toy 12-bit modulus
    document = {
        "keys": [
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {**keys["k2"].jwk(), "use": "enc"},
            weak,
            "not-a-dict",
            keys["k1"].jwk(),
        ]
    }
    cache = JwksCache("https://idp", fetcher=lambda url: document)
    assert cache.key("k1") is not None
    assert cache.key("ec") is None and cache.key("weak") is None and cache.key("k2") is None


# --- HS256 secret ----------------------------------------------------------------------------------------


def test_hs256_secret_is_cached_per_container(aws: dict[str, str]) -> None:
    clock = FakeClock()
    cache = hs256_keys(ttl_seconds=300, clock=clock)
    calls: list[str] = []
    events = runtime_aws.client("secretsmanager", **AWS_CLIENT).meta.events

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(params["SecretId"])

    events.register("before-parameter-build.secrets-manager.GetSecretValue", count)
    try:
        assert cache.get(aws["secret_arn"]) == HS_SECRET.encode()
        assert cache.get(aws["secret_arn"]) == HS_SECRET.encode()
        assert calls == [aws["secret_arn"]]
        clock.now += 299
        cache.get(aws["secret_arn"])
        assert len(calls) == 1
        clock.now += 1
        cache.get(aws["secret_arn"])
        assert len(calls) == 2
    finally:
        events.unregister("before-parameter-build.secrets-manager.GetSecretValue", count)


def test_short_hs256_secret_is_refused(aws: dict[str, str]) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="lm/short", SecretString="too-short")["ARN"]
    config = AuthConfig(hs256_secret_arn=arn, issuer=ISSUER, audiences=(AUDIENCE,))
    decision = Authorizer(config).decide(http_bearer(sign_hs256(claims(), "too-short")))
    assert decision.reason == "HS256 secret shorter than 32 bytes"


# --- API keys --------------------------------------------------------------------------------------------


def test_valid_api_key_is_allowed(env: None) -> None:
    response = invoke(http_authorizer_event({"x-api-key": API_KEY}))
    assert response["isAuthorized"] is True
    assert response["context"] == {
        "sub": f"apikey:{fingerprint(API_KEY)}",
        "tenant": "acme",
        "scopes": "catalog:read orders:write",
        "auth_type": "api_key",
    }


def test_valid_api_key_on_rest_api(env: None) -> None:
    response = invoke(rest_authorizer_event({"X-Api-Key": API_KEY}))
    assert allowed(response)
    assert response["principalId"].startswith("apikey:")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("lmk_live_unknown_00000000000000000000000", "unknown api key"),
        (REVOKED_KEY, "api key revoked"),
        (EXPIRED_KEY, "api key expired"),
        ("short", "malformed api key"),
        ("has spaces in it but is long enough", "malformed api key"),
    ],
)
def test_bad_api_keys_are_denied(env: None, key: str, reason: str) -> None:
    decision = handler.authorizer().decide(http_authorizer_event({"x-api-key": key}))
    assert (decision.allow, decision.reason, decision.credential) == (False, reason, "api_key")


def test_api_keys_disabled_denies(monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    monkeypatch.delenv("LM_AUTH_API_KEY_TABLE")
    handler.reset()
    assert (
        handler.authorizer().decide(http_authorizer_event({"x-api-key": API_KEY})).reason
        == "api keys are not enabled"
    )


def test_unexpected_error_denies_and_redacts_the_credential() -> None:
    def exploding(table: str, pk: str) -> Any:
        raise RuntimeError(f"boom while looking up {API_KEY}")

    logged: list[dict[str, Any]] = []
    authorizer = Authorizer(
        AuthConfig(api_key_table="t"),
        get_item=exploding,
        log=lambda level, message, **fields: logged.append({"level": level, "message": message, **fields}),
    )
    decision = authorizer.decide(http_authorizer_event({"x-api-key": API_KEY}))
    assert (decision.allow, decision.reason) == (False, "internal error")
    assert logged and logged[0]["error_type"] == "RuntimeError"
    assert API_KEY not in json.dumps(logged)
    assert "<redacted>" in logged[0]["traceback"]


# --- Logs never contain credentials ----------------------------------------------------------------------


def test_logs_never_contain_tokens_or_keys(
    env: None, keys: dict[str, RsaKey], capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    tokens = [
        keys["k1"].sign(claims()),
        keys["k1"].sign(claims(exp=now - 3600)),
        keys["k1"].sign(claims(iss="https://evil/")),
        sign_hs256(claims(), HS_SECRET),
        sign_hs256(claims(), "wrong" * 10),
        sign_rs256(claims(), n=keys["attacker"].n, d=keys["attacker"].d, kid="k1"),
    ]
    api_keys = [API_KEY, REVOKED_KEY, "lmk_live_unknown_00000000000000000000000"]
    with captured_logs(handler.logger) as logs:
        for token in tokens:
            invoke(http_bearer(token))
            invoke(rest_authorizer_event({"Authorization": f"Bearer {token}"}))
        for key in api_keys:
            invoke(http_authorizer_event({"x-api-key": key}))
    output = logs.getvalue() + capsys.readouterr().out
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert len(lines) == 2 * len(tokens) + len(api_keys)
    for secret in [*tokens, *api_keys]:
        assert secret not in output
        # Not even a recognisable piece: the signature segment alone would be enough to replay-correlate.
        assert secret.split(".")[-1][:20] not in output
    assert {line["decision"] for line in lines} == {"allow", "deny"}
    assert all(line["request_id"].startswith("authz-req") and line["function_request_id"] for line in lines)
    assert fingerprint(f"Bearer {tokens[0]}") in output


# --- RSA primitives --------------------------------------------------------------------------------------


def test_stdlib_rs256_interoperates_with_cryptography(keys: dict[str, RsaKey]) -> None:
    key = keys["k1"]
    ours = parse(key.sign({"sub": "x", "exp": 1}))
    key.private.public_key().verify(ours.signature, ours.signing_input, padding.PKCS1v15(), hashes.SHA256())

    theirs_signature = key.private.sign(ours.signing_input, padding.PKCS1v15(), hashes.SHA256())
    theirs = ParsedToken(ours.header, ours.claims, ours.signing_input, theirs_signature)
    public = RsaPublicKey.from_jwk(key.jwk())
    assert verify_rs256(theirs, public)
    assert not verify_rs256(ParsedToken(ours.header, ours.claims, b"other", theirs_signature), public)
    assert not verify_rs256(
        ParsedToken(ours.header, ours.claims, ours.signing_input, theirs_signature[:-1]), public
    )
    too_big = (public.n + 1).to_bytes(public.size_bytes, "big")
    assert not verify_rs256(ParsedToken(ours.header, ours.claims, ours.signing_input, too_big), public)


def test_pss_signature_is_not_accepted_as_pkcs1(keys: dict[str, RsaKey]) -> None:
    key = keys["k1"]
    parsed = parse(key.sign({"sub": "x", "exp": 1}))
    pss = key.private.sign(
        parsed.signing_input,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    assert not verify_rs256(
        ParsedToken(parsed.header, parsed.claims, parsed.signing_input, pss), RsaPublicKey.from_jwk(key.jwk())
    )


# --- Property: any event, any header -> a well-formed deny, never an exception ----------------------------


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    authorization=st.one_of(
        st.text(max_size=300),
        st.builds(lambda s: f"Bearer {s}", st.text(alphabet="abcXYZ019-_.=", max_size=300)),
        st.builds(lambda a, b, c: f"Bearer {a}.{b}.{c}", *[st.text(alphabet="eyJabc019-_", max_size=60)] * 3),
    ),
    mutation=st.one_of(st.none(), json_values),
    rest=st.booleans(),
)
def test_property_garbage_is_always_a_clean_deny(
    env: None, authorization: str, mutation: Any, rest: bool
) -> None:
    event: Any = (rest_authorizer_event if rest else http_authorizer_event)({"Authorization": authorization})
    if mutation is not None:
        event = mutation if not isinstance(mutation, dict) else {**event, **mutation}
    response = invoke(event)
    assert not allowed(response)


def test_api_proxy_event_without_credentials_is_denied(env: None) -> None:
    # Wiring mistake: a proxy event reaching the authorizer still fails closed.
    assert invoke(http_event("GET", "/items"))["isAuthorized"] is False
