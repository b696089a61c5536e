"""The configuration contract (``LM_GATEWAY_CONFIG`` / ``LM_GATEWAY_CONFIG_FILE``) and the handler's import cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gateway_fakes import FakeContext, GatewayEnv, http_event

from lambda_manifest.runtime.gateway import runtime
from lambda_manifest.runtime.gateway.config import ConfigError, load_config
from lambda_manifest.runtime.gateway.handler import main

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"

# What a construct would typically generate: three providers, four aliases, prices, tenants, two prompts.
TYPICAL = {
    "providers": {
        "openai": {
            "type": "openai",
            "base_url": "https://api.openai.com/v1",
            "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lm-gateway/openai-AbCdEf",
        },
        "azure": {
            "type": "openai",
            "base_url": "https://acme-prod.openai.azure.com/openai/deployments/{model}",
            "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lm-gateway/azure-AbCdEf",
            "auth_header": "api-key",
            "auth_scheme": "",
            "query": {"api-version": "2024-10-21"},
        },
        "anthropic": {
            "type": "anthropic",
            "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lm-gateway/anthropic-AbCdEf",
        },
        "bedrock": {"type": "bedrock", "region": "eu-west-1"},
    },
    "models": {
        "fast": {
            "targets": [
                {"provider": "openai", "model": "gpt-4o-mini", "weight": 3},
                {"provider": "azure", "model": "gpt-4o-mini", "weight": 1},
                {"provider": "bedrock", "model": "anthropic.claude-3-haiku-20240307-v1:0"},
            ],
            "context_window": 128000,
        },
        "smart": {
            "targets": [
                {"provider": "anthropic", "model": "claude-sonnet-4-20250514", "timeout_s": 60},
                {"provider": "openai", "model": "gpt-4o"},
            ],
            "context_window": 200000,
        },
        "summarizer": {"targets": [{"provider": "openai", "model": "gpt-4o-mini"}]},
    },
    "prices": {
        "gpt-4o-mini": {"input": 0.15, "output": 0.6},
        "gpt-4o": {"input": 2.5, "output": 10},
        "claude-sonnet-4-20250514": {"input": 3, "output": 15},
        "anthropic.claude-3-haiku-20240307-v1:0": {"input": 0.25, "output": 1.25},
    },
    "tenants": {"acme": {"rpm": 600, "tpd": 5000000, "budget_usd": 500}, "globex": {"rpm": 60}},
    "prompts": {
        "summarize": {
            "versions": {
                "1": {"model": "fast", "system": "Summarize.", "user": "{text}"},
                "2": {
                    "model": "fast",
                    "system": "Summarize in {words} words.",
                    "user": "{text}",
                    "params": {"temperature": 0},
                    "schema": {
                        "type": "object",
                        "required": ["text"],
                        "properties": {
                            "text": {"type": "string", "maxLength": 20000},
                            "words": {"type": "integer"},
                        },
                    },
                },
            }
        }
    },
    "routing": {"retries": 1, "breaker_threshold": 5, "breaker_cooldown_s": 30},
    "cache": {"ttl_s": 3600},
    "context": {"ttl_s": 86400, "summarize_with": "summarizer"},
    "audit": {"log_bodies": False},
}


def test_typical_config_fits_in_an_env_var() -> None:
    text = json.dumps(TYPICAL, separators=(",", ":"))
    assert len(text.encode()) < 3500, len(text)
    cfg = load_config(text)
    assert list(cfg.models["fast"].targets[0].__dict__) == ["provider", "model", "weight", "timeout_s"]
    assert cfg.providers["anthropic"].base_url == "https://api.anthropic.com"
    assert cfg.providers["anthropic"].auth_header == "x-api-key"
    assert cfg.providers["azure"].auth_header == "api-key" and cfg.providers["azure"].auth_scheme == ""
    assert cfg.prompts["summarize"].latest == 2
    assert cfg.tenants["acme"].tpd == 5000000
    assert str(cfg.price_for(cfg.models["smart"].targets[0]).output) == "15"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(extra=1), r"\$: unknown field\(s\) extra"),
        (
            lambda c: c["providers"]["openai"].update(timeout=3),
            r"providers.openai: unknown field\(s\) timeout",
        ),
        (lambda c: c["providers"]["openai"].update(type="cohere"), r"providers.openai.type: must be one of"),
        (
            lambda c: c["providers"]["openai"].pop("base_url"),
            r"providers.openai.base_url: expected a non-empty string",
        ),
        (
            lambda c: c["providers"]["anthropic"].pop("secret_arn"),
            r"providers.anthropic.secret_arn: required",
        ),
        (
            lambda c: c["providers"]["bedrock"].update(secret_arn="x"),
            r"providers.bedrock.secret_arn: not allowed",
        ),
        (lambda c: c["providers"]["openai"].update(timeout_s=0), r"providers.openai.timeout_s: must be > 0"),
        (
            lambda c: c["models"]["fast"]["targets"][1].update(provider="nope"),
            r"models.fast.targets\[1\].provider: unknown provider 'nope'",
        ),
        (lambda c: c["models"]["fast"].update(targets=[]), r"models.fast.targets: expected a non-empty list"),
        (lambda c: c["prices"].update({"x": {"input": -1, "output": 1}}), r"prices.x.input: must be >= 0"),
        (lambda c: c["tenants"]["acme"].update(rpm=0), r"tenants.acme.rpm: must be >= 1"),
        (
            lambda c: c["context"].update(summarize_with="nope"),
            r"context.summarize_with: unknown model alias",
        ),
        (
            lambda c: c["prompts"]["summarize"].update(latest=7),
            r"prompts.summarize.latest: version 7 is not defined",
        ),
        (lambda c: c.update(version=2), r"version: unsupported config version 2"),
        (lambda c: c.update(auth={"key_cache_ttl_s": -1}), r"auth.key_cache_ttl_s: must be >= 0"),
        (lambda c: c.update(auth={"key_cache_ttl_s": 301}), r"auth.key_cache_ttl_s: at most 300 s, got 301"),
        (lambda c: c["models"].update({"bad name": c["models"]["fast"]}), r"models.bad name: invalid name"),
    ],
)
def test_validation_errors_name_the_path(mutate: Any, message: str) -> None:
    doc = json.loads(json.dumps(TYPICAL))
    mutate(doc)
    with pytest.raises(ConfigError, match=message):
        load_config(doc)


def test_load_from_env_and_file(tmp_path: Path) -> None:
    text = json.dumps(TYPICAL)
    assert load_config(env={"LM_GATEWAY_CONFIG": text}).models.keys() == {"fast", "smart", "summarizer"}
    (tmp_path / "gateway.json").write_text(text)
    cfg = load_config(env={"LM_GATEWAY_CONFIG_FILE": "gateway.json", "LAMBDA_TASK_ROOT": str(tmp_path)})
    assert "smart" in cfg.models
    with pytest.raises(ConfigError, match="no configuration"):
        load_config(env={})
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(env={"LM_GATEWAY_CONFIG": "{"})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(env={"LM_GATEWAY_CONFIG_FILE": str(tmp_path / "missing.json")})


def test_handler_reads_its_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with GatewayEnv() as env:
        key = env.create_key()
        monkeypatch.setenv("LM_GATEWAY_CONFIG", json.dumps(env.config))
        monkeypatch.setenv("LM_GATEWAY_TABLE", "lm-gateway-test")
        runtime.reset()
        resp = main(http_event("GET", "/v1/models", key=key), FakeContext())
        assert resp["statusCode"] == 200, resp
        monkeypatch.delenv("LM_GATEWAY_TABLE")
        runtime.reset()
        resp = main(http_event("GET", "/v1/models", key=key), FakeContext())
        assert resp["statusCode"] == 500 and "LM_GATEWAY_TABLE is not set" in resp["body"]


def test_handler_import_loads_no_heavy_module() -> None:
    """boto3, http.client, ssl and friends are imported on first use, not at cold start. How long the import
    takes is measured in bench/, never asserted here."""
    code = (
        "import sys; import lambda_manifest.runtime.gateway.handler; import json; "
        "print(json.dumps(sorted(m for m in ('boto3', 'botocore', 'http.client', 'ssl', 'urllib.request', "
        "'email', 'typing', 'asyncio') if m in sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(LAMBDA_SRC)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
