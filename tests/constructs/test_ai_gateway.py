"""AiGatewayFunction: what it builds, the exact grants, the configuration contract with the runtime, and one
``test_fails_*`` per validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from lambda_manifest import (
    AiGatewayFunction,
    ApiType,
    Authorizer,
    CacheOptions,
    ContextOptions,
    FunctionOptions,
    HttpApiOptions,
    HttpServerlessApi,
    ModelAlias,
    Price,
    Prompt,
    PromptTemplate,
    PropsError,
    Provider,
    RestApiOptions,
    RestServerlessApi,
    RoutingOptions,
    Target,
    TenantQuota,
    Throttle,
    UsagePlan,
    Waf,
)
from lambda_manifest.ai_gateway import KEY_ADMIN_ACTIONS
from lambda_manifest.runtime.gateway.config import load_config
from lambda_manifest.runtime.gateway.contract import CATCH_ALL_ROUTE, ROUTES
from tests.support import nag_findings, new_stack

ALL_ROUTES = (*ROUTES, CATCH_ALL_ROUTE)

OPENAI_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:gw/openai-AbCdEf"
ANTHROPIC_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:gw/anthropic-GhIjKl"
OTHER_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:unrelated-MnOpQr"


def secret(stack: cdk.Stack, id: str, arn: str) -> secretsmanager.ISecret:
    return secretsmanager.Secret.from_secret_complete_arn(stack, id, arn)


def props(stack: cdk.Stack, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "providers": {
            "openai": Provider.openai_compatible(base_url="https://api.openai.com/v1",
                                                 secret=secret(stack, "OpenAi", OPENAI_ARN),
                                                 timeout=cdk.Duration.seconds(8)),
            "anthropic": Provider.anthropic(secret=secret(stack, "Anthropic", ANTHROPIC_ARN),
                                            timeout=cdk.Duration.seconds(8)),
            "bedrock": Provider.bedrock(timeout=cdk.Duration.seconds(8)),
        },
        "models": {
            "fast": ModelAlias(targets=[Target(provider="openai", model="gpt-4o-mini", weight=3),
                                        Target(provider="anthropic", model="claude-haiku", weight=1),
                                        Target(provider="bedrock", model="amazon.nova-lite-v1:0")],
                               context_window=16000),
            "smart": ModelAlias(targets=[Target(provider="bedrock", model="us.anthropic.claude-sonnet-v1:0")]),
        },
        "prompts": {"summarize": PromptTemplate(model="fast", system="Be brief.", user="Summarize: {text}",
                                                temperature=0, variables_schema={
                                                    "type": "object", "required": ["text"],
                                                    "properties": {"text": {"type": "string", "maxLength": 100}}})},
        "prices": {"gpt-4o-mini": Price(input=0.15, output=0.6), "anthropic/claude-haiku": Price(input=1, output=5),
                   "amazon.nova-lite-v1:0": Price(input=0.06, output=0.24),
                   "us.anthropic.claude-sonnet-v1:0": Price(input=3, output=15)},
        "quotas": {"acme": TenantQuota(rpm=60, tpd=100_000, budget_usd=25)},
    }
    base.update(overrides)
    return base


def make(stack: cdk.Stack, id: str = "Gw", **overrides: Any) -> AiGatewayFunction:
    return AiGatewayFunction(stack, id, **props(stack, **overrides))


@pytest.fixture(scope="module")
def built() -> tuple[AiGatewayFunction, Template]:
    stack = new_stack()
    secret(stack, "Unrelated", OTHER_ARN)
    gateway = make(stack)
    return gateway, Template.from_stack(stack)


def only(template: Template, type_: str) -> dict[str, Any]:
    found = template.find_resources(type_)
    assert len(found) == 1, f"expected one {type_}, found {list(found)}"
    return next(iter(found.values()))


def gateway_function(template: Template) -> dict[str, Any]:
    for resource in template.find_resources("AWS::Lambda::Function").values():
        if resource["Properties"]["Handler"] == "lambda_manifest.runtime.gateway.handler.main":
            return resource
    raise AssertionError("no gateway function")


def policy_statements(template: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::ManagedPolicy").values():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def expect_error(match: str, **overrides: Any) -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match=match):
        make(stack, **overrides)


# ---------------------------------------------------------------------------------------------------
# The function and its configuration
# ---------------------------------------------------------------------------------------------------
def test_function_runs_the_gateway_without_powertools(built: tuple[AiGatewayFunction, Template]) -> None:
    _, template = built
    fn = gateway_function(template)["Properties"]
    assert fn["Timeout"] == 25
    assert fn["MemorySize"] == 512
    assert "Layers" not in fn
    env = fn["Environment"]["Variables"]
    assert set(env) >= {"LM_GATEWAY_CONFIG", "LM_GATEWAY_TABLE"}
    assert env["LM_GATEWAY_TABLE"] == {"Ref": next(iter(template.find_resources("AWS::DynamoDB::Table")))}


def test_config_round_trips_through_the_runtime_loader(built: tuple[AiGatewayFunction, Template]) -> None:
    gateway, template = built
    rendered = gateway_function(template)["Properties"]["Environment"]["Variables"]["LM_GATEWAY_CONFIG"]
    assert isinstance(rendered, str), "literal secret ARNs render to a plain JSON string"
    assert json.loads(rendered) == gateway.config
    config = load_config(env={"LM_GATEWAY_CONFIG": rendered})
    assert config.providers["openai"].secret_arn == OPENAI_ARN
    assert config.providers["anthropic"].secret_arn == ANTHROPIC_ARN
    assert config.providers["openai"].timeout_s == 8
    assert config.providers["bedrock"].type == "bedrock" and config.providers["bedrock"].secret_arn is None
    fast = config.models["fast"]
    assert [(t.provider, t.model, t.weight) for t in fast.targets] == [
        ("openai", "gpt-4o-mini", 3), ("anthropic", "claude-haiku", 1), ("bedrock", "amazon.nova-lite-v1:0", None)]
    assert fast.context_window == 16000
    assert str(config.price_for(fast.targets[1]).input) == "1"  # type: ignore[union-attr]
    assert config.tenants["acme"].rpm == 60 and str(config.tenants["acme"].budget_usd) == "25"
    version = config.prompts["summarize"].versions[1]
    assert version.model == "fast" and version.params == {"temperature": 0} and version.schema is not None
    assert config.audit.metrics_namespace == gateway.metrics_namespace == "LmGateway/TestStack/Gw"
    assert gateway.config_delivery == "env"


def test_options_render_only_what_was_set() -> None:
    stack = new_stack()
    gateway = make(
        stack, context=ContextOptions(ttl=cdk.Duration.days(1), summarize_with="fast"),
        cache=CacheOptions(enabled=False), routing=RoutingOptions(retries=0, backoff_base=cdk.Duration.millis(50)),
        max_body_bytes=65536, secrets_cache_ttl=cdk.Duration.minutes(1), usage_retention=cdk.Duration.days(90),
        prompts={"summarize": Prompt(versions={
            1: PromptTemplate(model="fast", user="v1 {text}"), 2: PromptTemplate(model="smart", user="v2 {text}")},
            latest=1)},
    )
    doc = gateway.config
    assert doc["context"] == {"ttl_s": 86400, "summarize_with": "fast"}
    assert doc["cache"] == {"enabled": False}
    assert doc["routing"] == {"retries": 0, "backoff_base_ms": 50}
    assert doc["limits"] == {"max_body_bytes": 65536}
    assert doc["secrets_ttl_s"] == 60 and doc["usage_ttl_days"] == 90
    config = load_config(json.dumps(doc))
    assert config.prompts["summarize"].latest == 1 and set(config.prompts["summarize"].versions) == {1, 2}
    assert config.cache.enabled is False and config.context.summarize_with == "fast"


def test_key_cache_ttl_defaults_to_the_runtimes_and_renders_when_changed() -> None:
    default = make(new_stack()).config
    assert "auth" not in default
    assert load_config(default).auth.key_cache_ttl_s == 10
    off = make(new_stack(), key_cache_ttl=cdk.Duration.seconds(0))
    assert off.config["auth"] == {"key_cache_ttl_s": 0} and load_config(off.config).auth.key_cache_ttl_s == 0
    longer = make(new_stack(), key_cache_ttl=cdk.Duration.minutes(1), key_header="x-lm-key")
    assert longer.config["auth"] == {"key_header": "x-lm-key", "key_cache_ttl_s": 60}


def test_fails_key_cache_ttl_out_of_range() -> None:
    expect_error(r"key_cache_ttl must be a Duration from 0 to 5 minutes", key_cache_ttl=cdk.Duration.minutes(6))
    expect_error(r"key_cache_ttl must be a Duration from 0 to 5 minutes", key_cache_ttl=10)


def test_track_cost_false_renders_no_prices() -> None:
    stack = new_stack()
    gateway = make(stack, prices=None, track_cost=False, quotas=None)
    assert "prices" not in gateway.config
    assert load_config(gateway.config).prices == {}


def test_large_configuration_ships_as_a_file_the_runtime_reads(tmp_path: Path) -> None:
    stack = new_stack()
    long_prompt = "Follow the house style. " * 200
    gateway = make(stack, prompts={"long": PromptTemplate(model="fast", system=long_prompt, user="{text}")})
    assert gateway.config_delivery == "file"
    assert gateway.config_file is not None and gateway.config_file.name == "lm_gateway_config.json"
    assert (gateway.config_file.parent / "lambda_manifest" / "runtime" / "gateway" / "handler.py").is_file()
    env = gateway_function(Template.from_stack(stack))["Properties"]["Environment"]["Variables"]
    assert "LM_GATEWAY_CONFIG" not in env and env["LM_GATEWAY_CONFIG_FILE"] == "lm_gateway_config.json"
    config = load_config(env={"LM_GATEWAY_CONFIG_FILE": "lm_gateway_config.json",
                              "LAMBDA_TASK_ROOT": str(gateway.config_file.parent)})
    assert config.prompts["long"].versions[1].system == long_prompt


def test_a_large_configuration_is_staged_once_per_content() -> None:
    # Each synth used to leave a new temporary folder behind; the same document now maps to one folder.
    def file_of(prompt: str) -> Path:
        gateway = make(new_stack(), prompts={"long": PromptTemplate(model="fast", system=prompt, user="{text}")})
        assert gateway.config_file is not None
        return gateway.config_file

    first, again = file_of("Follow the house style. " * 200), file_of("Follow the house style. " * 200)
    other = file_of("Follow the other style. " * 200)
    assert first == again and first.parent != other.parent
    assert "the other style" in other.read_text() and "the other style" not in first.read_text()


def test_fails_large_configuration_with_deploy_time_values() -> None:
    stack = new_stack()
    created = secretsmanager.Secret(stack, "Created")
    with pytest.raises(PropsError, match="free of deploy-time values"):
        make(stack, providers={"openai": Provider.openai_compatible(base_url="https://api.openai.com/v1",
                                                                    secret=created)},
             models={"fast": ModelAlias(targets=[Target(provider="openai", model="m")])}, prices=None,
             track_cost=False, quotas=None,
             prompts={"long": PromptTemplate(model="fast", system="x" * 4000, user="{text}")})


# ---------------------------------------------------------------------------------------------------
# State and permissions
# ---------------------------------------------------------------------------------------------------
def test_table_is_the_runtime_single_table(built: tuple[AiGatewayFunction, Template]) -> None:
    _, template = built
    table = only(template, "AWS::DynamoDB::Table")
    p = table["Properties"]
    assert p["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["SSESpecification"]["SSEEnabled"] is True and p["SSESpecification"]["SSEType"] == "KMS"
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["DeletionProtectionEnabled"] is True and table["DeletionPolicy"] == "Retain"
    assert template.find_resources("AWS::Backup::BackupSelection")


def test_secrets_read_only_for_the_provider_secrets(built: tuple[AiGatewayFunction, Template]) -> None:
    _, template = built
    granted = [s["Resource"] for s in policy_statements(template)
               if any(a.startswith("secretsmanager:") for a in actions_of(s))]
    assert sorted(granted) == sorted([OPENAI_ARN, ANTHROPIC_ARN])
    for statement in policy_statements(template):
        if any(a.startswith("secretsmanager:") for a in actions_of(statement)):
            assert sorted(actions_of(statement)) == ["secretsmanager:GetSecretValue"]  # never DescribeSecret: not called


def test_bedrock_invoke_only_on_the_configured_models(built: tuple[AiGatewayFunction, Template]) -> None:
    gateway, template = built
    bedrock = [s for s in policy_statements(template) if "bedrock:InvokeModel" in actions_of(s)]
    assert len(bedrock) == 1 and actions_of(bedrock[0]) == ["bedrock:InvokeModel",
                                                           "bedrock:InvokeModelWithResponseStream"]
    rendered = json.dumps(bedrock[0]["Resource"])
    assert "foundation-model/amazon.nova-lite-v1:0" in rendered
    assert "inference-profile/us.anthropic.claude-sonnet-v1:0" in rendered
    assert ":bedrock:*::foundation-model/anthropic.claude-sonnet-v1:0" in rendered
    assert len(bedrock[0]["Resource"]) == 3 == len(gateway.bedrock_model_arns())
    assert not any(a == "bedrock:*" or a == "*" for s in policy_statements(template) for a in actions_of(s))


def test_grant_manage_keys_gives_the_keys_command_what_it_needs() -> None:
    stack = new_stack()
    gateway = make(stack)
    from aws_cdk import aws_iam as iam

    admin = iam.Role(stack, "Admin", assumed_by=iam.AccountRootPrincipal())
    gateway.grant_manage_keys(admin)
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    actions = {a for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
               for a in actions_of(s)}
    assert set(KEY_ADMIN_ACTIONS) <= actions and "kms:Decrypt" in actions


def test_add_client_wires_url_and_key_secret() -> None:
    stack = new_stack()
    gateway = make(stack)
    from lambda_manifest import ObservedFunction
    from tests.support import INLINE

    client = ObservedFunction(stack, "Client", handler="index.main", code=INLINE)
    key_secret = secretsmanager.Secret(stack, "ClientKey", encryption_key=gateway.table_key)
    gateway.add_client(client, key_secret)
    template = Template.from_stack(stack)
    fn = next(r for r in template.find_resources("AWS::Lambda::Function").values()
              if r["Properties"]["Handler"] == "index.main")
    env = fn["Properties"]["Environment"]["Variables"]
    assert "GATEWAY_URL" in env and env["GATEWAY_KEY_SECRET_ARN"] == {"Ref": next(iter(
        template.find_resources("AWS::SecretsManager::Secret")))}
    # No dependency cycle: the key policy never names the client's role.
    key = only(template, "AWS::KMS::Key")
    assert "ClientServiceRole" not in json.dumps(key["Properties"]["KeyPolicy"])


# ---------------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------------
def test_routes_are_public_on_a_created_http_api(built: tuple[AiGatewayFunction, Template]) -> None:
    gateway, template = built
    only(template, "AWS::ApiGatewayV2::Api")
    routes = template.find_resources("AWS::ApiGatewayV2::Route")
    assert sorted(r["Properties"]["RouteKey"] for r in routes.values()) == sorted(f"{m} {p}" for m, p in ALL_ROUTES)
    assert {r["Properties"]["AuthorizationType"] for r in routes.values()} == {"NONE"}
    assert all(route.public_reason is not None and route.public_reason.startswith(
        "The gateway authenticates every request itself") for route in gateway.routes)
    assert gateway.url.endswith("v1")


def test_authorizer_protects_the_routes() -> None:
    stack = new_stack()
    gateway = make(stack, authorizer=Authorizer.jwt(issuer="https://idp.example.com/", audience=["gw"],
                                                    identity_header="X-Id-Token"))
    routes = Template.from_stack(stack).find_resources("AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["AuthorizationType"] for r in routes.values()} == {"JWT"}
    # Authorization is free: the virtual key stays there, and only there.
    assert gateway.key_header == "authorization" and gateway.config["auth"] == {"key_header": "authorization"}


def test_without_an_authorizer_the_runtime_reads_authorization_else_x_api_key(
        built: tuple[AiGatewayFunction, Template]) -> None:
    gateway, _ = built
    assert gateway.key_header is None and "auth" not in gateway.config
    assert load_config(gateway.config).auth.key_header is None


@pytest.mark.parametrize("authorizer", [
    Authorizer.jwt(issuer="https://idp.example.com/", audience=["gw"]),
    Authorizer.cognito(),
    Authorizer.lambda_(jwks_url="https://idp.example.com/jwks", issuer="https://idp.example.com/", audience=["gw"]),
], ids=["jwt", "cognito", "lambda-tokens"])
def test_an_authorizer_reading_authorization_moves_the_key_to_x_api_key(authorizer: Authorizer) -> None:
    stack = new_stack()
    gateway = make(stack, authorizer=authorizer)
    assert gateway.key_header == "x-api-key"
    assert load_config(gateway.config).auth.key_header == "x-api-key"


def test_iam_authorization_keeps_the_key_in_x_api_key() -> None:
    stack = new_stack()
    api = HttpServerlessApi(stack, "Shared", authorizer=Authorizer.iam())
    gateway = make(stack, api=api, use_api_authorizer=True)
    routes = Template.from_stack(stack).find_resources("AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["AuthorizationType"] for r in routes.values()} == {"AWS_IAM"}
    assert gateway.config["auth"] == {"key_header": "x-api-key"}


def test_explicit_key_header_is_rendered_lower_case() -> None:
    gateway = make(new_stack(), key_header="X-Lm-Key")
    assert gateway.config["auth"] == {"key_header": "x-lm-key"}


def test_routes_join_an_existing_api_under_a_prefix() -> None:
    stack = new_stack()
    api = HttpServerlessApi(stack, "Shared", authorizer=Authorizer.jwt(issuer="https://idp.example.com/", audience=["a"]))
    gateway = make(stack, api=api, path_prefix="/ai")
    template = Template.from_stack(stack)
    only(template, "AWS::ApiGatewayV2::Api")
    keys = sorted(r["Properties"]["RouteKey"] for r in template.find_resources("AWS::ApiGatewayV2::Route").values())
    assert keys == sorted(f"{m} /ai{p}" for m, p in ALL_ROUTES)
    assert gateway.api is api and gateway.url.endswith("ai/v1")


def test_use_api_authorizer_keeps_the_api_authorizer() -> None:
    stack = new_stack()
    api = HttpServerlessApi(stack, "Shared", authorizer=Authorizer.lambda_(api_key_table=True))
    # lambda_manifest.runtime.authorizer reads x-api-key, and denies any request carrying Authorization unless it holds a valid JWT.
    gateway = make(stack, api=api, use_api_authorizer=True, key_header="x-lm-key")
    routes = Template.from_stack(stack).find_resources("AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["AuthorizationType"] for r in routes.values()} == {"CUSTOM"}
    assert gateway.config["auth"] == {"key_header": "x-lm-key"}


# ---------------------------------------------------------------------------------------------------
# Alarms, dashboard, outputs
# ---------------------------------------------------------------------------------------------------
def test_alarms_from_the_runtime_metrics(built: tuple[AiGatewayFunction, Template]) -> None:
    gateway, template = built
    assert set(gateway.alarms) == {"ProviderErrorRate", "FallbackRate", "QuotaRejections", "LatencyP99"}
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    text = json.dumps(alarms)
    for metric in ("Served", "UpstreamFailures", "Fallbacks", "QuotaRejections", "LatencyMs"):
        assert f'"MetricName": "{metric}"' in text
    assert '"Namespace": "LmGateway/TestStack/Gw"' in text
    resources = template.to_json()["Resources"]
    quota = resources[stack_id(gateway.alarms["QuotaRejections"])]["Properties"]
    assert quota["Threshold"] == 10
    assert quota["MetricName"] == "QuotaRejections" and "Dimensions" not in quota  # gateway-wide
    for name, metrics in (("ProviderErrorRate", {"served": "Served", "failed": "UpstreamFailures"}),
                          ("FallbackRate", {"served": "Served", "fallbacks": "Fallbacks"})):
        queries = resources[stack_id(gateway.alarms[name])]["Properties"]["Metrics"]
        stats = {q["Id"]: q["MetricStat"]["Metric"] for q in queries if "MetricStat" in q}
        assert {i: m["MetricName"] for i, m in stats.items()} == metrics
        assert all("Dimensions" not in m for m in stats.values())  # one metric each, whatever the providers
    latency = resources[stack_id(gateway.alarms["LatencyP99"])]["Properties"]
    assert latency["Threshold"] == 10_000
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())
    assert not template.find_resources("AWS::Logs::MetricFilter")  # the runtime emits the failure metrics


def stack_id(construct: Any) -> str:
    return str(cdk.Stack.of(construct).get_logical_id(construct.node.default_child))


def test_dashboard_shows_tokens_and_cost_by_tenant_and_model(built: tuple[AiGatewayFunction, Template]) -> None:
    _, template = built
    body = json.dumps(only(template, "AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
    for dims, metric in (("Tenant", "CostUSD"), ("Model", "CostUSD"), ("Tenant", "PromptTokens"),
                         ("Model", "CompletionTokens")):
        assert f"{dims}}} MetricName=" in body.replace('\\\\\\"', '"').replace('\\"', '"') and metric in body


def test_outputs_url_and_key_command(built: tuple[AiGatewayFunction, Template]) -> None:
    _, template = built
    outputs = template.to_json()["Outputs"]
    command = next(v for k, v in outputs.items() if k.startswith("GwKeyCommand"))
    assert "python -m lambda_manifest.keys create --table " in json.dumps(command["Value"])
    assert any(k.startswith("GwUrl") for k in outputs)


def test_cached_token_prices_render_and_are_checked() -> None:
    stack = new_stack()
    prices = {"gpt-4o-mini": Price(input=0.15, output=0.6, cached_input=0.075),
              "anthropic/claude-haiku": Price(input=1, output=5, cached_input=0.1, cache_write=1.25),
              "amazon.nova-lite-v1:0": Price(input=0.06, output=0.24),
              "us.anthropic.claude-sonnet-v1:0": Price(input=3, output=15)}
    gateway = make(stack, prices=prices)
    assert gateway.config["prices"]["gpt-4o-mini"] == {"input": 0.15, "output": 0.6, "cached_input": 0.075}
    assert gateway.config["prices"]["anthropic/claude-haiku"]["cache_write"] == 1.25
    parsed = load_config(gateway.config)
    assert str(parsed.prices["anthropic/claude-haiku"].cached_input) == "0.1"
    expect_error(r"cached_input=.*>= 0", prices={**prices, "gpt-4o-mini": Price(input=1, output=1, cached_input=-1)})


def test_every_other_v1_path_reaches_the_gateway_for_its_404(built: tuple[AiGatewayFunction, Template]) -> None:
    _, template = built
    keys = [r["Properties"]["RouteKey"] for r in template.find_resources("AWS::ApiGatewayV2::Route").values()]
    assert "ANY /v1/{proxy+}" in keys and "POST /v1/responses" in keys and "POST /v1/messages/count_tokens" in keys


def test_metric_helper_rejects_unknown_dimension_sets(built: tuple[AiGatewayFunction, Template]) -> None:
    gateway, _ = built
    with pytest.raises(ValueError, match="dimension sets"):
        gateway.metric("Requests", provider="openai", model="fast")
    with pytest.raises(ValueError, match="only by dimension"):
        gateway.metric("CostUSD")


def test_metric_helpers_name_the_runtimes_metrics(built: tuple[AiGatewayFunction, Template]) -> None:
    gateway, _ = built
    assert gateway.metric_provider_failures(provider="openai").dimensions == {"Provider": "openai"}
    assert not gateway.metric_provider_failures().dimensions
    assert gateway.metric_served_requests().metric_name == "Served"
    assert gateway.metric_upstream_failures().metric_name == "UpstreamFailures"


# ---------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------
def test_fails_alias_with_unknown_provider() -> None:
    expect_error(r"target azure/gpt must be a known provider",
                 models={"fast": ModelAlias(targets=[Target(provider="azure", model="gpt")])}, prices=None,
                 track_cost=False, prompts=None, quotas=None)


def test_fails_prompt_with_unknown_alias() -> None:
    expect_error(r"prompts\['summarize'\] version 1 model must be a known model alias",
                 prompts={"summarize": PromptTemplate(model="nope", user="{text}")})


def test_fails_prices_missing_for_a_target() -> None:
    expect_error(r"prices \(for bedrock/amazon.nova-lite-v1:0\) must be a Price.*track_cost=False",
                 prices={"gpt-4o-mini": Price(0.1, 0.2), "anthropic/claude-haiku": Price(1, 5),
                         "us.anthropic.claude-sonnet-v1:0": Price(3, 15)})


def test_fails_price_key_matching_no_target() -> None:
    expect_error(r"prices must be keyed by a target.*'gpt-4o'",
                 prices={**props(new_stack())["prices"], "gpt-4o": Price(2.5, 10)})


def test_fails_prices_with_track_cost_false() -> None:
    expect_error(r"prices must be unset when track_cost=False", track_cost=False, quotas=None)


def test_fails_budget_without_cost_tracking() -> None:
    expect_error(r"budget_usd must be used with track_cost=True", track_cost=False, prices=None)


def test_fails_timeout_beyond_http_integration_timeout() -> None:
    expect_error(r"timeout must be at most 30 s, API Gateway's HTTP integration timeout, got 31",
                 timeout=cdk.Duration.seconds(31))


def test_api_options_choose_the_kind_and_props_of_the_created_api() -> None:
    stack = new_stack()
    gateway = make(stack, api_options=RestApiOptions(waf=Waf.disabled("internal test API, no WAF needed"),
                                                     throttle=Throttle(50, 100)))
    assert isinstance(gateway.api, RestServerlessApi)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    stage = only(template, "AWS::ApiGateway::Stage")["Properties"]
    assert stage["MethodSettings"][0]["ThrottlingRateLimit"] == 50
    assert only(template, "AWS::ApiGateway::RestApi")["Properties"]["Description"].startswith(
        "OpenAI-compatible LLM gateway")
    stack = new_stack()
    gateway = make(stack, api_options=HttpApiOptions(description="the team's gateway"))
    assert isinstance(gateway.api, HttpServerlessApi)
    template = Template.from_stack(stack)
    assert only(template, "AWS::ApiGatewayV2::Api")["Properties"]["Description"] == "the team's gateway"


def test_fails_timeout_beyond_rest_integration_timeout() -> None:
    stack = new_stack()
    from lambda_manifest import Waf

    api = RestServerlessApi(stack, "Rest", waf=Waf.disabled("internal test API, no WAF needed"))
    with pytest.raises(PropsError, match=r"timeout must be at most 29 s, API Gateway's REST integration timeout"):
        make(stack, api=api, timeout=cdk.Duration.seconds(30))


def test_fails_first_target_timeout_leaving_no_time_for_the_fallback() -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match=r"target openai/gpt-4o-mini timeout must be shorter than the function"):
        make(stack, timeout=cdk.Duration.seconds(8))


def test_no_timeout_is_needed_with_a_fallback() -> None:
    stack = new_stack()
    providers = {"openai": Provider.openai_compatible(base_url="https://api.openai.com/v1",
                                                      secret=secret(stack, "OpenAiKey", OPENAI_ARN)),
                 "bedrock": Provider.bedrock()}
    gateway = make(stack, providers=providers, prompts=None, prices=None, track_cost=False, quotas=None,
                   models={"fast": ModelAlias(targets=[Target(provider="openai", model="gpt-4o-mini"),
                                                       Target(provider="bedrock", model="amazon.nova-lite-v1:0")])})
    assert all("timeout_s" not in p for p in gateway.config["providers"].values())
    assert load_config(gateway.config).providers["openai"].timeout_s is None  # a share of the time left


def test_explicit_timeout_must_leave_the_fallback_its_minimum() -> None:
    def models(timeout: float) -> dict[str, ModelAlias]:
        return {"fast": ModelAlias(targets=[
            Target(provider="openai", model="gpt-4o-mini", timeout=cdk.Duration.millis(int(timeout * 1000))),
            Target(provider="bedrock", model="amazon.nova-lite-v1:0")]),
            "smart": ModelAlias(targets=[Target(provider="bedrock", model="us.anthropic.claude-sonnet-v1:0",
                                                timeout=cdk.Duration.seconds(60))])}  # last target: capped

    # 10 s function - 250 ms deadline margin - 100 ms for the fallback = 9.65 s.
    rest: dict[str, Any] = {"timeout": cdk.Duration.seconds(10), "prices": None, "track_cost": False, "quotas": None}
    make(new_stack(), models=models(9.65), **rest)
    expect_error(r"target openai/gpt-4o-mini timeout must be shorter than the function timeout \(10 s\) when a "
                 r"fallback follows: at most 9.65 s.*got '9.7 s'", models=models(9.7), **rest)


def test_fails_key_header_an_authorizer_reads() -> None:
    expect_error(r"key_header must be a header the API layer does not use itself \(authorization\), got "
                 r"'Authorization'", key_header="Authorization",
                 authorizer=Authorizer.jwt(issuer="https://idp.example.com/", audience=["gw"]))


def test_fails_without_key_header_when_authorization_and_x_api_key_are_taken() -> None:
    stack = new_stack()
    api = HttpServerlessApi(stack, "Shared", authorizer=Authorizer.lambda_(api_key_table=True))
    with pytest.raises(PropsError, match=r"key_header must be set when the API layer uses both Authorization and "
                                         r"x-api-key[\s\S]*key_header='x-lm-key'"):
        make(stack, api=api, use_api_authorizer=True)


def test_fails_x_api_key_on_a_rest_api_with_usage_plans() -> None:
    def rest_api(stack: cdk.Stack) -> RestServerlessApi:
        return RestServerlessApi(stack, "Rest", authorizer=Authorizer.cognito(),
                                 usage_plans=[UsagePlan(name="Gold", quota_limit=1000)],
                                 waf=Waf.disabled("internal test API, no WAF needed"))

    stack = new_stack()
    with pytest.raises(PropsError, match=r"key_header must be set when the API layer uses both"):
        make(stack, api=rest_api(stack), use_api_authorizer=True)
    stack = new_stack()
    with pytest.raises(PropsError, match=r"key_header must be a header the API layer does not use itself"):
        make(stack, api=rest_api(stack), use_api_authorizer=True, key_header="x-api-key")
    stack = new_stack()
    assert make(stack, api=rest_api(stack), use_api_authorizer=True, key_header="x-lm-key").key_header == "x-lm-key"


def test_fails_invalid_key_header() -> None:
    expect_error(r"key_header must be a header name of letters, digits and -.*got 'x api key'", key_header="x api key")
    expect_error(r"key_header must be a header name.*got 'content-type'", key_header="content-type")


def test_fails_authorizer_together_with_api() -> None:
    stack = new_stack()
    api = HttpServerlessApi(stack, "Shared", authorizer=Authorizer.iam())
    with pytest.raises(PropsError, match=r"authorizer/api_options must be used only when the construct creates"):
        make(stack, api=api, authorizer=Authorizer.lambda_(api_key_table=True))


def test_fails_use_api_authorizer_without_api() -> None:
    expect_error(r"use_api_authorizer must be used with api=", use_api_authorizer=True)


def test_fails_without_providers_or_models() -> None:
    expect_error(r"providers must be at least one provider[\s\S]*models must be at least one model alias",
                 providers={}, models={}, prompts=None, prices=None, track_cost=False, quotas=None)


def test_fails_plain_http_provider_and_secret_header() -> None:
    expect_error(r"base_url must be an https:// URL[\s\S]*headers must be non-secret headers",
                 providers={**props(new_stack())["providers"], "openai": Provider.openai_compatible(
                     base_url="http://models.example.com/v1", headers={"Authorization": "Bearer sk-live"})})


def test_fails_anthropic_without_secret() -> None:
    expect_error(r"providers\['anthropic'\].secret must be a Secrets Manager secret",
                 providers={**props(new_stack())["providers"], "anthropic": Provider.anthropic(
                     secret=None)})  # type: ignore[arg-type]


def test_fails_what_only_the_runtime_checks() -> None:
    expect_error(r"configuration must be accepted by the gateway runtime.*unsupported keyword\(s\) oneOf",
                 prompts={"summarize": PromptTemplate(model="fast", user="{text}",
                                                      variables_schema={"oneOf": [{"type": "string"}]})})


def test_fails_unknown_summarizer_and_bad_limits() -> None:
    expect_error(r"context.summarize_with must be a known model alias[\s\S]*max_body_bytes must be a whole number",
                 context=ContextOptions(summarize_with="nope"), max_body_bytes=10)


def test_rate_alarms_take_any_number_of_providers_up_to_the_latency_alarm_limit() -> None:
    def many(n: int) -> dict[str, Any]:
        return {"providers": {f"p{i}": Provider.bedrock() for i in range(n)},
                "models": {"m": ModelAlias(targets=[Target(provider=f"p{i}", model="amazon.nova-lite-v1:0")
                                                    for i in range(n)])},
                "prompts": None, "prices": None, "track_cost": False, "quotas": None}

    gateway = make(new_stack(), **many(10))  # was 5 while the fallback alarm summed two metrics per provider
    assert set(gateway.alarms) == {"ProviderErrorRate", "FallbackRate", "QuotaRejections", "LatencyP99"}
    expect_error(r"providers must be at most 10 \(the latency alarm takes the p99 of each provider", **many(11))


def test_fails_bad_prefix_names_and_function_options() -> None:
    expect_error(r"path_prefix must be[\s\S]*function_options.handler must be not set here",
                 path_prefix="ai/", function_options=FunctionOptions(handler="x.y"))
    expect_error(r"function_options must be a FunctionOptions\(...\), got 'a dict'; write "
                 r"FunctionOptions\(memory_size=...\)", function_options={"memory_size": 1024})
    expect_error(r"api_options must be HttpApiOptions\(...\) or RestApiOptions\(...\), got 'dict'",
                 api_options={"throttle": None})


def test_fails_bad_alarm_settings() -> None:
    expect_error(r"provider_error_rate_alarm_percent must be a percentage[\s\S]*quota_rejections_alarm_threshold",
                 provider_error_rate_alarm_percent=0, quota_rejections_alarm_threshold=0)


def test_alarms_can_be_switched_off() -> None:
    stack = new_stack()
    gateway = make(stack, fallback_rate_alarm_percent=None, provider_error_rate_alarm_percent=None,
                   quota_rejections_alarm_threshold=None)
    assert set(gateway.alarms) == {"LatencyP99"}


# ---------------------------------------------------------------------------------------------------
# Compliance
# ---------------------------------------------------------------------------------------------------
def test_no_unacknowledged_findings(tmp_path: Path) -> None:
    assert nag_findings(lambda stack: make(stack), tmp_path) == []


def test_no_unacknowledged_findings_on_a_shared_api_without_backup(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        api = HttpServerlessApi(stack, "Shared", authorizer=Authorizer.jwt(issuer="https://idp.example.com/",
                                                                       audience=["a"]))
        make(stack, api=api, backup=False)

    assert nag_findings(build, tmp_path) == []


# ---------------------------------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def streaming() -> tuple[AiGatewayFunction, Template]:
    stack = new_stack()
    gateway = make(stack, streaming=True)
    return gateway, Template.from_stack(stack)


def test_streaming_creates_a_rest_api_whose_routes_stream(streaming: tuple[AiGatewayFunction, Template]) -> None:
    gateway, template = streaming
    assert gateway.api.api_type is ApiType.REST
    methods = [m["Properties"] for m in template.find_resources("AWS::ApiGateway::Method").values()
               if m["Properties"]["Integration"].get("Type") == "AWS_PROXY"]
    assert len(methods) == len(ALL_ROUTES)
    for method in methods:
        integration = method["Integration"]
        assert integration["ResponseTransferMode"] == "STREAM"
        assert integration["TimeoutInMillis"] == 300_000  # the function's timeout: API Gateway waits as long
        assert integration["Uri"]["Fn::Join"][1][-1] == "/response-streaming-invocations"


def test_streaming_runs_the_stream_runtime_from_the_gateways_own_code(
    streaming: tuple[AiGatewayFunction, Template],
) -> None:
    gateway, template = streaming
    fn = gateway_function(template)["Properties"]
    assert fn["Timeout"] == 300
    variables = fn["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/var/task/lambda_manifest/runtime/stream/wrapper"
    assert "Layers" not in fn or not any("Stream" in json.dumps(layer) for layer in fn["Layers"])
    assert "LM_GATEWAY_CONFIG" in variables
    assert gateway.config["streaming"] == {"enabled": True, "keepalive_s": 10}
    assert load_config(json.loads(json.dumps(gateway.config))).streaming.enabled


def test_the_gateways_asset_carries_the_stream_runtime_and_an_executable_wrapper() -> None:
    from lambda_manifest import _assets

    folder = _assets.stage_runtime("gateway")
    wrapper = folder / "lambda_manifest" / "runtime" / "stream" / "wrapper"
    assert wrapper.is_file() and wrapper.stat().st_mode & 0o111 == 0o111
    assert (folder / "lambda_manifest" / "runtime" / "stream" / "loop.py").is_file()


def test_fails_streaming_on_an_http_api() -> None:
    expect_error(r"streaming must be used with a REST API \(api_options= is HTTP\)[\s\S]*HTTP APIs "
                 r"cannot stream responses", streaming=True, api_options=HttpApiOptions())
    stack = new_stack()
    api = HttpServerlessApi(stack, "Http", authorizer=Authorizer.jwt(issuer="https://idp.example.com/", audience=["a"]))
    with pytest.raises(PropsError, match=r"streaming must be used with a REST API \(api= is HTTP\)"):
        make(stack, api=api, use_api_authorizer=True, streaming=True)


def test_fails_streaming_past_fifteen_minutes() -> None:
    expect_error(r"timeout must be at most 900 s", streaming=True, timeout=cdk.Duration.minutes(16))


def test_no_unacknowledged_findings_when_streaming(tmp_path: Path) -> None:
    assert nag_findings(lambda stack: make(stack, streaming=True), tmp_path) == []
